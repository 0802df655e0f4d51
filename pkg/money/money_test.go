package money

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, cur string
		want    string
		err     error
	}{
		{"10", "USD", "10.00", nil},
		{"10.5", "USD", "10.50", nil},
		{"0.01", "USD", "0.01", nil},
		{"10.001", "USD", "", ErrTooPrecise},
		{"10.000", "USD", "10.00", nil},
		{"1000", "KRW", "1000", nil},
		{"1000.5", "KRW", "", ErrTooPrecise},
		{"1.234", "BHD", "1.234", nil},
		{"0", "USD", "", ErrNotPositive},
		{"-5", "USD", "", ErrNotPositive},
		{"0.00", "USD", "", ErrNotPositive},
		{"abc", "USD", "", ErrNotANumber},
		{"", "USD", "", ErrNotANumber},
		{"1e3", "USD", "", ErrNotANumber},
		{"+5", "USD", "", ErrNotANumber},
		{" 5", "USD", "", ErrNotANumber},
		{"5.", "USD", "", ErrNotANumber},
		{".5", "USD", "", ErrNotANumber},
		{"NaN", "USD", "", ErrNotANumber},
		{"999999999999999", "USD", "999999999999999.00", nil},
		{"1000000000000000", "USD", "", ErrTooLarge},
		{"10", "XXX", "", ErrUnknownCurrency},
		{"10", "usd", "", ErrUnknownCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.in+"_"+tt.cur, func(t *testing.T) {
			got, err := Parse(tt.in, tt.cur)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q, %q) error = %v, want %v", tt.in, tt.cur, err, tt.err)
			}
			if err == nil && got.String() != tt.want {
				t.Fatalf("Parse(%q, %q) = %s, want %s", tt.in, tt.cur, got, tt.want)
			}
		})
	}
}

func TestNewRejectsExcessPrecision(t *testing.T) {
	if _, err := New(decimal.RequireFromString("1.5"), "JPY"); !errors.Is(err, ErrTooPrecise) {
		t.Fatalf("New(1.5 JPY) error = %v, want ErrTooPrecise", err)
	}
	a, err := New(decimal.RequireFromString("1.5"), "EUR")
	if err != nil || a.Currency() != "EUR" || a.String() != "1.50" {
		t.Fatalf("New(1.5 EUR) = %v, %v", a, err)
	}
}

func TestFormat(t *testing.T) {
	if got := Format(decimal.RequireFromString("3"), "BHD"); got != "3.000" {
		t.Fatalf("Format = %s", got)
	}
	if got := Format(decimal.RequireFromString("3.1000"), "KRW"); got != "3" {
		t.Fatalf("Format = %s", got)
	}
}

func TestMaxBalance(t *testing.T) {
	tests := []struct{ currency, want string }{
		{"USD", "999999999999999999.99"},
		{"KRW", "999999999999999999"},
		{"BHD", "999999999999999999.999"},
		{"CLF", "999999999999999999.9999"},
		{"XYZ", "999999999999999999.9999"}, // unknown: the columns' four decimals
	}
	for _, tt := range tests {
		got := MaxBalance(tt.currency)
		if got.String() != tt.want {
			t.Errorf("MaxBalance(%s) = %s, want %s", tt.currency, got, tt.want)
		}
		// Exactly representable in the currency, and printed without rounding.
		if ValidCurrency(tt.currency) && Format(got, tt.currency) != tt.want {
			t.Errorf("Format(MaxBalance(%s)) = %s", tt.currency, Format(got, tt.currency))
		}
	}
	// The ceiling fits the shards' DECIMAL(24,4) with room for a maximal
	// amount on top, many times over.
	column := decimal.RequireFromString("99999999999999999999.9999")
	maxAmount := decimal.New(1, MaxDigits)
	if !MaxBalance("CLF").Add(maxAmount.Mul(decimal.NewFromInt(1000))).LessThan(column) {
		t.Error("the ceiling leaves too little headroom below DECIMAL(24,4)")
	}
}
