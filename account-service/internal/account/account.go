// Package account is account-service's domain: accounts, deposits,
// withdrawals and transfers, the requests that change them and the rules
// those requests must pass. Storage and HTTP live in the mysql and httpapi
// packages.
package account

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
)

// Status is an account's lifecycle state.
type Status string

// Account statuses. Frozen accounts neither send nor receive; closed ones are
// final.
const (
	Active Status = "active"
	Frozen Status = "frozen"
	Closed Status = "closed"
)

// Account is a wallet account as its shard stores it.
type Account struct {
	ID        string
	OwnerID   string
	Currency  string
	Balance   decimal.Decimal
	Status    Status
	Version   int64 // increases by one with each balance change
	Shard     int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CanMoveMoney returns the problem that stops money leaving or entering a,
// or nil.
func (a Account) CanMoveMoney() error {
	switch a.Status {
	case Frozen:
		return problem.New(problem.AccountFrozen, "account %s is frozen", a.ID)
	case Closed:
		return problem.New(problem.AccountClosed, "account %s is closed", a.ID)
	}
	return nil
}

// CheckCurrency returns currency_mismatch unless amt is in a's currency.
func (a Account) CheckCurrency(amt money.Amount) error {
	if amt.Currency() != a.Currency {
		return problem.New(problem.CurrencyMismatch, "account %s holds %s, not %s", a.ID, a.Currency, amt.Currency())
	}
	return nil
}

// CheckFunds returns insufficient_funds unless a can pay amt.
func (a Account) CheckFunds(amt money.Amount) error {
	if a.Balance.LessThan(amt.Decimal()) {
		return problem.New(problem.InsufficientFunds, "account %s cannot pay %s %s", a.ID, amt, a.Currency).
			With("available", money.Format(a.Balance, a.Currency)).
			With("requested", amt.String())
	}
	return nil
}

// CheckLimit returns balance_limit_exceeded if receiving amt would take a's
// balance above money.MaxBalance. The ceiling keeps every balance safely
// inside the shards' DECIMAL(24,4) column: a credit that overflowed it would
// fail its whole batch at the database instead of being refused alone.
// The problem names the ceiling, not a's balance: for a transfer, a is
// someone else's account.
func (a Account) CheckLimit(amt money.Amount) error {
	limit := money.MaxBalance(a.Currency)
	if a.Balance.Add(amt.Decimal()).GreaterThan(limit) {
		return problem.New(problem.BalanceLimitExceeded, "account %s cannot receive %s %s: a balance may not exceed %s",
			a.ID, amt, a.Currency, money.Format(limit, a.Currency)).
			With("limit", money.Format(limit, a.Currency))
	}
	return nil
}

// CanSend returns the first rule that stops a paying amt: its status, its
// currency, its funds.
func (a Account) CanSend(amt money.Amount) error {
	if err := a.CanMoveMoney(); err != nil {
		return err
	}
	if err := a.CheckCurrency(amt); err != nil {
		return err
	}
	return a.CheckFunds(amt)
}

// CanReceive returns the first rule that stops a receiving amt: its status,
// its currency, the balance ceiling.
func (a Account) CanReceive(amt money.Amount) error {
	if err := a.CanMoveMoney(); err != nil {
		return err
	}
	if err := a.CheckCurrency(amt); err != nil {
		return err
	}
	return a.CheckLimit(amt)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id may name an account.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// OpenRequest asks for a new account.
type OpenRequest struct {
	AccountID string // optional: a UUID is assigned when empty
	OwnerID   string
	Currency  string
}

// Validate checks the request and fills in a missing account id.
func (r *OpenRequest) Validate() error {
	if r.AccountID == "" {
		r.AccountID = uuid.NewString()
	}
	if !ValidID(r.AccountID) {
		return problem.New(problem.InvalidRequest, "account_id must match ^[A-Za-z0-9_-]{1,64}$")
	}
	if !ValidID(r.OwnerID) {
		return problem.New(problem.InvalidRequest, "owner_id is required and must match ^[A-Za-z0-9_-]{1,64}$")
	}
	if !money.ValidCurrency(r.Currency) {
		return problem.New(problem.InvalidRequest, "currency %q is not an ISO 4217 code", r.Currency)
	}
	return nil
}

// ParseAmount turns the API's amount and currency strings into an Amount,
// mapping every failure to invalid_amount (or invalid_request for the
// currency).
func ParseAmount(amount, currency string) (money.Amount, error) {
	if !money.ValidCurrency(currency) {
		return money.Amount{}, problem.New(problem.InvalidRequest, "currency %q is not an ISO 4217 code", currency)
	}
	if amount == "" {
		return money.Amount{}, problem.New(problem.InvalidAmount, "amount is required")
	}
	a, err := money.Parse(amount, currency)
	if err != nil {
		return money.Amount{}, problem.New(problem.InvalidAmount, "amount %q: %v", amount, err)
	}
	return a, nil
}

// ValidTransactionID checks an idempotency key: a UUID in canonical form.
func ValidTransactionID(id string) error {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return problem.New(problem.InvalidRequest, "transaction_id must be a lower-case UUID, got %q", id)
	}
	return nil
}

// hashOf is the idempotency fingerprint: sha256 of the canonical JSON of v.
func hashOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of strings are hashed
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ChangeStatus decides a status change: setting the current status again
// changes nothing (changed false), closed is final (account_closed), and
// closing needs a zero balance and no outgoing transfer in flight
// (pendingOut), since a refund may still come back (account_not_empty).
func (a Account) ChangeStatus(to Status, pendingOut int, now time.Time) (_ Account, changed bool, _ error) {
	if a.Status == to {
		return a, false, nil
	}
	if a.Status == Closed {
		return a, false, problem.New(problem.AccountClosed, "account %s is closed", a.ID)
	}
	if to == Closed {
		if !a.Balance.IsZero() {
			return a, false, problem.New(problem.AccountNotEmpty, "account %s still holds %s %s", a.ID, money.Format(a.Balance, a.Currency), a.Currency)
		}
		if pendingOut > 0 {
			return a, false, problem.New(problem.AccountNotEmpty, "account %s has %d outgoing transfer(s) in flight", a.ID, pendingOut)
		}
	}
	a.Status, a.UpdatedAt = to, now
	return a, true, nil
}
