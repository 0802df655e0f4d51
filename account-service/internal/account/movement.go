package account

import (
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/money"
)

// Kind tells deposits from withdrawals.
type Kind string

// Movement kinds.
const (
	Deposit    Kind = "deposit"
	Withdrawal Kind = "withdrawal"
)

// MovementRequest asks to deposit into or withdraw from one account.
type MovementRequest struct {
	Kind          Kind
	AccountID     string
	TransactionID string
	Amount        money.Amount
}

// Hash fingerprints the request for idempotency.
func (r MovementRequest) Hash() string {
	return hashOf(struct{ K, A, T, Amt, C string }{string(r.Kind), r.AccountID, r.TransactionID, r.Amount.String(), r.Amount.Currency()})
}

// Movement is a committed deposit or withdrawal, or a refused one: then
// Refusal is its answer and no balance changed (BalanceAfter and Version
// are zero).
type Movement struct {
	TransactionID string
	Hash          string // the request's fingerprint, for idempotency
	Kind          Kind
	AccountID     string
	Amount        money.Amount
	BalanceAfter  decimal.Decimal
	Version       int64
	Refusal       *Refusal
	CreatedAt     time.Time
}
