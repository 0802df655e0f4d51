package groupcommit

import (
	"context"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/shard"
)

// Transfer runs a transfer on its source account's shard: completed at once
// when both accounts live there, else the saga's debit, returned pending.
// A repeat of a recorded transfer returns it as stored; a different request
// with the same transaction_id fails with idempotency_conflict. A
// rejection is recorded and replayed the same way.
func (w *Writer) Transfer(ctx context.Context, req account.TransferRequest) (account.Transfer, error) {
	sh, op := w.transferOp(req)
	r := w.Try(ctx, sh, op)
	return r.Transfer, r.Err
}

// transferOp is a transfer's operation and the shard it runs on: its
// source account's.
func (w *Writer) transferOp(req account.TransferRequest) (int, account.Op) {
	return shard.Of(req.From, w.route.Shards()), account.Op{Kind: account.OpTransfer, Transfer: req}
}

// Transfers runs many transfers, each as Transfer does, offering them all
// to the writers before waiting for any (TryMany); results are in order.
// Two with one key replay the first's outcome, as two requests would.
func (w *Writer) Transfers(ctx context.Context, reqs []account.TransferRequest) []account.Result {
	shards := make([]int, len(reqs))
	ops := make([]account.Op, len(reqs))
	for i, req := range reqs {
		shards[i], ops[i] = w.transferOp(req)
	}
	return w.TryMany(ctx, shards, ops)
}

// Move deposits into or withdraws from one account, idempotently by
// transaction_id, as Transfer does.
func (w *Writer) Move(ctx context.Context, req account.MovementRequest) (account.Movement, error) {
	r := w.Try(ctx, shard.Of(req.AccountID, w.route.Shards()), account.Op{Kind: account.OpMove, Movement: req})
	return r.Movement, r.Err
}
