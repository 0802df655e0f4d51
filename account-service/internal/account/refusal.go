package account

import (
	"errors"

	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shard"
)

// A shard's refusal of a transfer or movement (insufficient funds, an
// unknown, frozen or closed account, a currency mismatch, the balance
// limit) is an outcome like a success: it is saved under the request's key,
// in the row a success would have taken (a transfer with status refused, a
// movement with its refusal), in the transaction that decided it. A retry
// replays it. And a late copy of the request (an attempt that sat in a batch
// on a stalled instance while the client retried on another and was told
// no) finds the refusal or collides with it on the key, and moves no money
// after the client was told none moved.

// refuseTransfer records err, the decision on a new transfer, as its
// refusal. Only domain problems are decisions: anything else (a misrouted
// request, a bug) is returned unrecorded.
func (b *Batch) refuseTransfer(req TransferRequest, hash string, err error) error {
	var pe *problem.Error
	if !errors.As(err, &pe) {
		return err
	}
	t := &Transfer{TransactionID: req.TransactionID, Hash: hash, From: req.From, To: req.To, Amount: req.Amount,
		FromShard: b.Shard, ToShard: shard.Of(req.To, b.Shards), Status: Refused, Reason: pe.Code, Refusal: pe,
		CreatedAt: b.Now, UpdatedAt: b.Now}
	b.Transfers[t.Key()] = t
	b.Changes.Transfers = append(b.Changes.Transfers, t)
	return err
}

// refuseMovement records err, the decision on a new deposit or withdrawal,
// as its refusal, as refuseTransfer does.
func (b *Batch) refuseMovement(req MovementRequest, hash string, err error) error {
	var pe *problem.Error
	if !errors.As(err, &pe) {
		return err
	}
	m := &Movement{TransactionID: req.TransactionID, Hash: hash, Kind: req.Kind, AccountID: req.AccountID,
		Amount: req.Amount, Refusal: pe, CreatedAt: b.Now}
	b.Movements[m.TransactionID] = m
	b.Changes.Movements = append(b.Changes.Movements, *m)
	return err
}
