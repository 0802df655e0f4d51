package account

import (
	"errors"
	"time"

	"github.com/walletco/wallet/pkg/problem"
)

// RefusalKind tells the two kinds of request a shard refuses apart; their
// keys are separate namespaces, as their tables are.
type RefusalKind string

// The kinds of refused request, as stored.
const (
	RefusedTransfer RefusalKind = "transfer"
	RefusedMovement RefusalKind = "movement"
)

// RefusalKey is the key a refusal is stored under: a transfer's
// (transaction_id, from_account), or a movement's transaction_id with From
// empty (movements are keyed by transaction_id alone).
type RefusalKey struct {
	Kind RefusalKind
	Key
}

// Refusal is a transfer or movement this shard refused when it decided it:
// insufficient funds, an unknown, frozen or closed account, a currency
// mismatch, the balance limit. It is saved under the request's key in the
// transaction that decided it, so a retry replays the same answer, and a
// late copy of the request (an attempt that sat in another instance's batch
// while the client retried here and was told no) cannot move money after
// the client was told it did not.
type Refusal struct {
	RefusalKey
	Hash string
	Err  *problem.Error
	At   time.Time
}

// replay answers a request whose key was refused: the stored refusal when
// the request is the same, idempotency_conflict otherwise.
func (r *Refusal) replay(hash string) error {
	if err := replay(r.Hash, hash, r.TransactionID); err != nil {
		return err
	}
	return r.Err
}

// refuse records err, the decision on a new request, as its refusal. Only
// domain problems are decisions; anything else (a bug, a misrouted request)
// is returned unrecorded.
func (b *Batch) refuse(k RefusalKey, hash string, err error) error {
	var pe *problem.Error
	if !errors.As(err, &pe) {
		return err
	}
	r := &Refusal{RefusalKey: k, Hash: hash, Err: pe, At: b.Now}
	b.Refusals[k] = r
	b.Changes.Refusals = append(b.Changes.Refusals, *r)
	return err
}
