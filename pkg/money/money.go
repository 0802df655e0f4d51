// Package money holds amounts as exact decimals tied to an ISO 4217 currency.
//
// An Amount can only be built through Parse or New, which reject more decimals
// than the currency's minor unit allows: money is never rounded silently.
package money

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// MaxDigits is the number of integer digits an amount may have: one
// operation moves less than 10^15, far below any balance column's limit.
const MaxDigits = 15

// MaxBalanceDigits is the number of integer digits a deposit or transfer
// may leave a wallet balance with: it stays below 10^18 (see MaxBalance).
// The shards store balances as DECIMAL(24,4), which holds up to
// 99999999999999999999.9999 (below 10^20), so the ceiling leaves 99 * 10^18
// of headroom for the one credit that is never refused: a saga's refund of
// money that left the account (it may land on a balance that deposits
// refilled meanwhile).
const MaxBalanceDigits = 18

// balanceBound is 10^MaxBalanceDigits, the first value a balance may not
// reach.
var balanceBound = decimal.New(1, MaxBalanceDigits)

// MaxBalance returns the largest balance a wallet account in currency may
// hold: 10^18 less one minor unit, 999999999999999999.99 in USD and
// 999999999999999999 in KRW. Deposits and transfers that would take a
// balance above it are refused before anything changes. An unknown
// currency (which no account holds) gets the ceiling at the columns' four
// decimals.
func MaxBalance(currency string) decimal.Decimal {
	exp, ok := exponents[currency]
	if !ok {
		exp = 4
	}
	return balanceBound.Sub(decimal.New(1, -exp))
}

// Errors returned by Parse and New. Callers map them to the invalid_amount and
// invalid_request codes.
var (
	ErrNotANumber       = errors.New("amount is not a decimal number")
	ErrNotPositive      = errors.New("amount must be greater than zero")
	ErrTooPrecise       = errors.New("amount has more decimals than the currency allows")
	ErrTooLarge         = errors.New("amount is too large")
	ErrUnknownCurrency  = errors.New("unknown currency")
	ErrCurrencyMismatch = errors.New("currencies differ")
)

// exponents maps ISO 4217 codes to their minor-unit exponent. The list covers
// the active codes; adding one is safe, changing one is a data migration.
var exponents = map[string]int32{
	"AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
	"BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2,
	"BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLF": 4, "CLP": 0,
	"CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
	"EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2,
	"GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2,
	"INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2,
	"KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2,
	"LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2,
	"MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
	"NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0,
	"QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2,
	"SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SYP": 2, "SZL": 2, "THB": 2,
	"TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0,
	"USD": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0,
	"XCD": 2, "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}

// Exponent returns the minor-unit exponent of an ISO 4217 currency code.
func Exponent(currency string) (int32, error) {
	e, ok := exponents[currency]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownCurrency, currency)
	}
	return e, nil
}

// ValidCurrency reports whether code is a known ISO 4217 currency.
func ValidCurrency(code string) bool {
	_, ok := exponents[code]
	return ok
}

// Amount is a positive quantity of one currency.
type Amount struct {
	value    decimal.Decimal
	currency string
}

// Parse reads a decimal string such as "12.50" as a positive amount of currency.
// Exponent notation, signs other than a leading minus (rejected as not
// positive), blanks and excess decimals are errors.
func Parse(s, currency string) (Amount, error) {
	exp, err := Exponent(currency)
	if err != nil {
		return Amount{}, err
	}
	if !plainDecimal(s) {
		return Amount{}, fmt.Errorf("%w: %q", ErrNotANumber, s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Amount{}, fmt.Errorf("%w: %q", ErrNotANumber, s)
	}
	return newAmount(d, currency, exp)
}

// New builds an Amount from a decimal, with the same checks as Parse.
func New(d decimal.Decimal, currency string) (Amount, error) {
	exp, err := Exponent(currency)
	if err != nil {
		return Amount{}, err
	}
	return newAmount(d, currency, exp)
}

func newAmount(d decimal.Decimal, currency string, exp int32) (Amount, error) {
	if !d.IsPositive() {
		return Amount{}, ErrNotPositive
	}
	if !d.Equal(d.Truncate(exp)) {
		return Amount{}, fmt.Errorf("%w: %s allows %d", ErrTooPrecise, currency, exp)
	}
	if d.Truncate(0).String() != "0" && len(d.Truncate(0).String()) > MaxDigits {
		return Amount{}, fmt.Errorf("%w: at most %d integer digits", ErrTooLarge, MaxDigits)
	}
	return Amount{value: d, currency: currency}, nil
}

// plainDecimal accepts "-"? digits ("." digits)?, nothing else: no exponent,
// no "+", no spaces, no leading or trailing dot.
func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") {
		return false
	}
	for _, part := range []string{intPart, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return false
			}
		}
	}
	return true
}

// Decimal returns the amount's value.
func (a Amount) Decimal() decimal.Decimal { return a.value }

// Currency returns the ISO 4217 code.
func (a Amount) Currency() string { return a.currency }

// String formats the amount with exactly the currency's number of decimals.
func (a Amount) String() string { return Format(a.value, a.currency) }

// Format prints d with the currency's number of decimals, as the API shows
// balances. Unknown currencies print as decimal's shortest form.
func Format(d decimal.Decimal, currency string) string {
	exp, err := Exponent(currency)
	if err != nil {
		return d.String()
	}
	return d.StringFixed(exp)
}
