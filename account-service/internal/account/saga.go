package account

import (
	"errors"
	"fmt"
	"time"

	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shard"
)

// The cross-shard saga (docs/design.md, "Shape"): debit on the source shard,
// credit or reject on the destination, complete or refund on the source.
// Credit and settle are idempotent by inbox row and by business key (the
// credit record; a transfer that already ended), so redeliveries change nothing.

// Saga step names, as GET /v1/wallet/transfers shows them.
const (
	StepDebited        = "debited"
	StepCredited       = "credited"
	StepCreditRejected = "credit_rejected"
	StepCompleted      = "completed"
	StepRefunded       = "refunded"
)

// Saga events that can never apply. Consumers treat them as permanent.
var (
	ErrMisrouted       = errors.New("saga event for an account that does not live on this shard")
	ErrUnknownTransfer = errors.New("saga outcome for a transfer this shard never recorded")
)

// SagaEvent is a transfer.* event a shard acts on.
type SagaEvent struct {
	ID       string
	Type     string // events.TransferDebited, TransferCredited or TransferCreditRejected
	Transfer Transfer
}

// SagaInbox is the inbox's consumer name for steps 2 and 3 on every shard.
const SagaInbox = "saga"

// maxEventID is the longest event id the inbox keeps (a UUID).
const maxEventID = 36

// SagaEventFrom reads a transfer.* event; a payload that does not hold a
// valid transfer wraps events.ErrMalformed.
func SagaEventFrom(e events.Event) (SagaEvent, error) {
	p, err := events.Decode[events.Transfer](e)
	if err != nil {
		return SagaEvent{}, err
	}
	amt, err := money.Parse(p.Amount, p.Currency)
	if err == nil && (ValidTransactionID(p.TransactionID) != nil || !ValidID(p.FromAccount) || !ValidID(p.ToAccount) || len(e.ID) > maxEventID) {
		err = fmt.Errorf("ids: transaction_id %q, from_account %q, to_account %q, event id %q", p.TransactionID, p.FromAccount, p.ToAccount, e.ID)
	}
	if err != nil {
		return SagaEvent{}, fmt.Errorf("%w: %s %s: invalid transfer payload (%v)", events.ErrMalformed, e.Type, e.ID, err)
	}
	return SagaEvent{ID: e.ID, Type: e.Type, Transfer: Transfer{TransactionID: p.TransactionID, From: p.FromAccount,
		To: p.ToAccount, Amount: amt, FromShard: p.FromShard, ToShard: p.ToShard, Reason: problem.Code(p.Reason)}}, nil
}

// OpFor maps a saga event onto the step its shard takes: transfer.debited
// to a credit on the destination's shard, transfer.credited and
// transfer.credit_rejected to a settle on the source's. It returns the
// shard that must apply it among shards, computed from the account (see
// Transfer.OnShards), never read from the event: an event sent before the
// shard count grew carries shard numbers of the old count, in its subject
// and its payload. Other event types and payloads that are not a valid
// transfer wrap events.ErrMalformed.
func OpFor(e events.Event, shards int) (op Op, sh int, err error) {
	switch e.Type {
	case events.TransferDebited:
		op.Kind = OpCredit
	case events.TransferCredited, events.TransferCreditRejected:
		op.Kind = OpSettle
	default:
		return Op{}, 0, fmt.Errorf("%w: %s is not a saga step", events.ErrMalformed, e.Type)
	}
	if op.Event, err = SagaEventFrom(e); err != nil {
		return Op{}, 0, err
	}
	op.Event.Transfer = op.Event.Transfer.OnShards(shards)
	if op.Kind == OpCredit {
		return op, op.Event.Transfer.ToShard, nil
	}
	return op, op.Event.Transfer.FromShard, nil
}

// OnShards returns t with FromShard and ToShard computed from its accounts
// for a deployment of shards. A transfer's shard numbers are those of the
// count when it was made; after the count grew (each old shard split into
// several, ADR 0036) the saga routes its steps, and the redriver its
// debits, by the accounts instead.
func (t Transfer) OnShards(shards int) Transfer {
	t.FromShard, t.ToShard = shard.Of(t.From, shards), shard.Of(t.To, shards)
	return t
}

// Credit is the destination shard's record of step 2 for one transaction id.
type Credit struct {
	TransactionID string
	RequestHash   string
	From, To      string
	Amount        money.Amount
	FromShard     int
	Status        string          // StepCredited or StepCreditRejected
	Reason        problem.Code    // set when rejected
	Balance       *events.Balance // the destination right after the credit
	CreatedAt     time.Time
}

// requestOf is the request a transfer was made with, for its hash.
func requestOf(t Transfer) TransferRequest {
	return TransferRequest{TransactionID: t.TransactionID, From: t.From, To: t.To, Amount: t.Amount}
}

// RedriveDue reports whether a pending transfer's debit should be sent
// again: each redrive doubles the wait, up to 64 times after, so an outage
// does not flood the stream.
func RedriveDue(t Transfer, redrives int, after time.Duration, now time.Time) bool {
	return t.Status == Pending && !now.Before(t.UpdatedAt.Add(after<<min(redrives, 6)))
}
