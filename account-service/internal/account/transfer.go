package account

import (
	"time"

	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
)

// TransferStatus is where a transfer stands.
type TransferStatus string

// Transfer statuses. A same-shard transfer is completed at once; a
// cross-shard one is pending until its saga ends. A refused one moved no
// money: the source shard said no before any debit.
const (
	Pending   TransferStatus = "pending"
	Completed TransferStatus = "completed"
	Failed    TransferStatus = "failed"
	Refused   TransferStatus = "refused"
)

// TransferRequest is the body of POST /v1/wallet/balance_transfer, parsed.
type TransferRequest struct {
	TransactionID string
	From, To      string
	Amount        money.Amount
}

// Validate checks what can be checked without the accounts.
func (r TransferRequest) Validate() error {
	if err := ValidTransactionID(r.TransactionID); err != nil {
		return err
	}
	if !ValidID(r.From) || !ValidID(r.To) {
		return problem.New(problem.InvalidRequest, "from_account and to_account must match ^[A-Za-z0-9_-]{1,64}$")
	}
	if r.From == r.To {
		return problem.New(problem.SameAccount, "from_account and to_account are both %s", r.From)
	}
	return nil
}

// Hash fingerprints the request for idempotency.
func (r TransferRequest) Hash() string {
	return hashOf(struct{ T, F, To, Amt, C string }{r.TransactionID, r.From, r.To, r.Amount.String(), r.Amount.Currency()})
}

// Key identifies a transfer. Transaction ids are scoped to the source
// account, as payment APIs scope idempotency keys: the same UUID sent from
// two source accounts is two transfers, on one shard or on two, so every
// record of a transfer (its row, its steps, the destination's credit) is
// keyed by both.
type Key struct {
	TransactionID string
	From          string
}

// Key returns the request's transfer key.
func (r TransferRequest) Key() Key { return Key{TransactionID: r.TransactionID, From: r.From} }

// Step is one saga step as recorded on a shard.
type Step struct {
	Name  string
	Shard int
	At    time.Time
}

// Transfer is a transfer as its source shard records it.
type Transfer struct {
	TransactionID string
	Hash          string // the request's fingerprint, for idempotency
	From, To      string
	Amount        money.Amount
	FromShard     int
	ToShard       int
	Status        TransferStatus
	Reason        problem.Code // set when failed or refused
	// Refusal is the answer of a refused transfer, replayed as it was first
	// given (the available balance then, for insufficient_funds).
	Refusal   *Refusal
	Steps     []Step
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Key returns the transfer's key.
func (t Transfer) Key() Key { return Key{TransactionID: t.TransactionID, From: t.From} }

// SameShardSteps returns the steps of a same-shard transfer, which records
// none of its own: it completed when it was created.
func SameShardSteps(t Transfer) []Step {
	if t.FromShard != t.ToShard || t.Status != Completed {
		return nil
	}
	return []Step{{Name: StepCompleted, Shard: t.FromShard, At: t.CreatedAt}}
}
