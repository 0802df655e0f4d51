package account

import (
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
)

// OpKind tells the operations a shard's batch can hold apart.
type OpKind int

// Operation kinds. Transfer is a same-shard transfer or, when the
// destination lives elsewhere, the saga's debit step; Credit and Settle are
// the saga's steps 2 and 3, taken for an event.
const (
	OpTransfer OpKind = iota + 1
	OpMove
	OpCredit
	OpSettle
)

// Op is one operation for a shard's batch.
type Op struct {
	Kind OpKind
	// Shard is the shard that runs the operation: its key account's (the
	// source of a transfer, the destination of a credit). The writer sets
	// it when it queues the operation.
	Shard    int
	Transfer TransferRequest // OpTransfer
	Movement MovementRequest // OpMove
	Event    SagaEvent       // OpCredit, OpSettle
	// Reject, on an OpCredit, rejects the credit with this reason instead
	// of deciding it: set when the database refused the credit's data, so
	// the source is refunded rather than the step retried forever.
	Reject problem.Code
}

// Result is the outcome of one Op: the transfer or movement as it stands
// after it (for a settle, the transfer it ended). Err is a rejection of this operation
// alone (a *problem.Error, or ErrUnknownTransfer / ErrMisrouted for saga
// events); the batch's other operations are not affected by it.
type Result struct {
	Transfer Transfer
	Movement Movement
	// Ended is set on a settle whose transfer's saga is over (completed or
	// failed): requests waiting for it can be answered.
	Ended bool
	Err   error
}

// OnDataRefused is the operation to run instead of op when the database
// refused op's data, which no retry changes. A credit not decided yet
// becomes its rejection with invalid_data, so the source is refunded (a
// rejection writes no balance) rather than the step retried and redriven
// forever. Nothing else has one (false).
func (op Op) OnDataRefused() (Op, bool) {
	if op.Kind != OpCredit || op.Reject != "" {
		return op, false
	}
	op.Reject = problem.InvalidData
	return op, true
}

// Batch decides a run of operations on one shard, in arrival order, against
// the state loaded for them under their locks. Each operation sees the
// effects of the ones before it: a hot account's debits and credits apply in
// order against its running balance, and a transaction_id used twice in one
// batch replays the first outcome. Decide changes only the Batch; the
// adapter then saves Changes in the same transaction that loaded the state.
type Batch struct {
	Shard  int
	Shards int // how many shards there are, to check where accounts live
	Now    time.Time

	// Loaded state, keyed by id. Absent means "not on this shard".
	Accounts  map[string]*Account
	Transfers map[Key]*Transfer // as recorded by this shard as source
	Movements map[string]*Movement
	Credits   map[Key]*Credit // this shard's record of saga step 2
	Seen      map[string]bool // saga event ids already applied

	Changes Changes
}

// Changes is what a batch writes.
type Changes struct {
	Accounts   []string    // ids of accounts whose balance changed, first change first
	Transfers  []*Transfer // new transfers, as they are at the end of the batch
	Settled    []*Transfer // recorded transfers whose saga ended in this batch
	Steps      []StepRecord
	Movements  []Movement
	Credits    []Credit
	Inbox      []string // saga event ids applied
	Events     []events.Event
	changedSet map[string]bool
}

// StepRecord is a saga step of one transfer, as stored.
type StepRecord struct {
	Key
	Step
}

// NewBatch returns an empty batch for shard at now.
func NewBatch(shard, shards int, now time.Time) *Batch {
	return &Batch{Shard: shard, Shards: shards, Now: now,
		Accounts: map[string]*Account{}, Transfers: map[Key]*Transfer{}, Movements: map[string]*Movement{},
		Credits: map[Key]*Credit{}, Seen: map[string]bool{}}
}

// Decide applies ops in order and returns one Result each.
func (b *Batch) Decide(ops []Op) []Result {
	out := make([]Result, len(ops))
	for i, op := range ops {
		switch op.Kind {
		case OpTransfer:
			out[i].Transfer, out[i].Err = b.transfer(op.Transfer)
		case OpMove:
			out[i].Movement, out[i].Err = b.move(op.Movement)
		case OpCredit:
			out[i].Err = b.credit(op.Event, op.Reject)
		case OpSettle:
			out[i].Transfer, out[i].Err = b.settle(op.Event)
			st := out[i].Transfer.Status
			out[i].Ended = out[i].Err == nil && out[i].Transfer.TransactionID != "" && (st == Completed || st == Failed)
		}
	}
	return out
}

// account returns a loaded account or account_not_found.
func (b *Batch) account(id string) (*Account, error) {
	if a, ok := b.Accounts[id]; ok {
		return a, nil
	}
	return nil, problem.New(problem.AccountNotFound, "account %s does not exist", id)
}

// add changes a loaded account's balance by delta and bumps its version.
func (b *Batch) add(a *Account, delta decimal.Decimal) {
	a.Balance = a.Balance.Add(delta)
	a.Version++
	a.UpdatedAt = b.Now
	if b.Changes.changedSet == nil {
		b.Changes.changedSet = map[string]bool{}
	}
	if !b.Changes.changedSet[a.ID] {
		b.Changes.changedSet[a.ID] = true
		b.Changes.Accounts = append(b.Changes.Accounts, a.ID)
	}
}

func (b *Batch) step(k Key, name string) {
	b.Changes.Steps = append(b.Changes.Steps, StepRecord{Key: k, Step: Step{Name: name, Shard: b.Shard, At: b.Now}})
}

func (b *Batch) emit(e events.Event) { b.Changes.Events = append(b.Changes.Events, e) }

// replay answers a request whose key is already recorded: with
// idempotency_conflict when the request differs, with the stored refusal
// when it was refused, else with nil (the stored outcome stands).
// Deposits, withdrawals and transfers all go through here.
func replay(storedHash, hash, txID string, refusal *Refusal) error {
	if storedHash != hash {
		return problem.New(problem.IdempotencyConflict, "transaction_id %s was already used with a different request", txID)
	}
	if refusal != nil {
		return refusal.Err()
	}
	return nil
}
