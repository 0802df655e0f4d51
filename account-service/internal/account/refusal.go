package account

import (
	"errors"
	"fmt"

	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shard"
)

// A shard's refusal is an outcome like a success: it is saved under the
// request's key in the transaction that decided it, so a retry replays it and
// a late copy of the request moves no money after the client was told none
// moved (ADR 0024).

// Refusal is a shard's decision not to move money for a request: its domain
// code, the sentence saying why and the figures it was decided on (available
// and requested for insufficient_funds, limit for balance_limit_exceeded).
// Stored as these, not as a rendered answer; the HTTP edge renders it.
type Refusal struct {
	Code   problem.Code
	Detail string
	Params map[string]string
}

// Err is the refusal as the domain's coded error, the same as when it was
// decided.
func (r Refusal) Err() *problem.Error {
	e := &problem.Error{Code: r.Code, Detail: r.Detail}
	for k, v := range r.Params {
		e = e.With(k, v)
	}
	return e
}

// refusalOf is the decision err records, or false when err is no domain
// problem (a misrouted request, a bug), which is never recorded.
func refusalOf(err error) (*Refusal, bool) {
	var pe *problem.Error
	if !errors.As(err, &pe) {
		return nil, false
	}
	r := &Refusal{Code: pe.Code, Detail: pe.Detail}
	for k, v := range pe.Extra {
		if r.Params == nil {
			r.Params = map[string]string{}
		}
		r.Params[k] = fmt.Sprint(v)
	}
	return r, true
}

// refuseTransfer records err, the decision on a new transfer, as its
// refusal. Only domain problems are decisions: anything else (a misrouted
// request, a bug) is returned unrecorded.
func (b *Batch) refuseTransfer(req TransferRequest, hash string, err error) error {
	r, ok := refusalOf(err)
	if !ok {
		return err
	}
	t := &Transfer{TransactionID: req.TransactionID, Hash: hash, From: req.From, To: req.To, Amount: req.Amount,
		FromShard: b.Shard, ToShard: shard.Of(req.To, b.Shards), Status: Refused, Reason: r.Code, Refusal: r,
		CreatedAt: b.Now, UpdatedAt: b.Now}
	b.Transfers[t.Key()] = t
	b.Changes.Transfers = append(b.Changes.Transfers, t)
	return err
}

// refuseMovement records err, the decision on a new deposit or withdrawal,
// as its refusal, as refuseTransfer does.
func (b *Batch) refuseMovement(req MovementRequest, hash string, err error) error {
	r, ok := refusalOf(err)
	if !ok {
		return err
	}
	m := &Movement{TransactionID: req.TransactionID, Hash: hash, Kind: req.Kind, AccountID: req.AccountID,
		Amount: req.Amount, Refusal: r, CreatedAt: b.Now}
	b.Movements[m.TransactionID] = m
	b.Changes.Movements = append(b.Changes.Movements, *m)
	return err
}
