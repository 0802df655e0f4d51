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
	r := w.Try(ctx, shard.Of(req.From, len(w.servers)), account.Op{Kind: account.OpTransfer, Transfer: req})
	return r.Transfer, r.Err
}

// Move deposits into or withdraws from one account, idempotently by
// transaction_id, as Transfer does.
func (w *Writer) Move(ctx context.Context, req account.MovementRequest) (account.Movement, error) {
	r := w.Try(ctx, shard.Of(req.AccountID, len(w.servers)), account.Op{Kind: account.OpMove, Movement: req})
	return r.Movement, r.Err
}
