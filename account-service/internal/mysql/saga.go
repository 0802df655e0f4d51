package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/stream"
)

// The cross-shard transfer saga, one local transaction per step:
//
//  1. debit   (source shard): debit the source, record the transfer pending,
//     emit transfer.debited to the destination shard;
//  2. Credit  (destination shard): credit the destination and emit
//     transfer.credited, or emit transfer.credit_rejected with a reason;
//  3. Settle  (source shard): mark the transfer completed and emit
//     transfer.completed, or refund the source, mark it failed and emit
//     transfer.failed.
//
// Steps 2 and 3 record the event in the inbox in the same transaction, so a
// redelivered event changes nothing; step 2 is also idempotent by
// transaction_id and step 3 ignores transfers that already ended.

// Saga step names as GET /v1/wallet/transfers shows them.
const (
	StepDebited        = "debited"
	StepCredited       = "credited"
	StepCreditRejected = "credit_rejected"
	StepCompleted      = "completed"
	StepRefunded       = "refunded"
)

// consumerName is the inbox name of the saga consumers.
const consumerName = "saga"

func (s *Store) debit(ctx context.Context, tx *sqlx.Tx, from, to int, req account.TransferRequest) (account.Transfer, error) {
	src, err := lockAccount(ctx, tx, from, req.From)
	if err != nil {
		return account.Transfer{}, err
	}
	if _, found, err := replayTransfer(ctx, tx, req); found || err != nil {
		return account.Transfer{}, errors.Join(errReplay, err)
	}
	if err := src.CanSend(req.Amount); err != nil {
		return account.Transfer{}, err
	}
	now := s.now()
	if src, err = addBalance(ctx, tx, src, req.Amount.Decimal().Neg(), now); err != nil {
		return account.Transfer{}, err
	}
	t := account.Transfer{TransactionID: req.TransactionID, From: req.From, To: req.To, Amount: req.Amount,
		FromShard: from, ToShard: to, Status: account.Pending, CreatedAt: now, UpdatedAt: now,
		Steps: []account.Step{{Name: StepDebited, Shard: from, At: now}}}
	if err := insertTransfer(ctx, tx, t, req.Hash()); err != nil {
		return account.Transfer{}, err
	}
	if err := insertStep(ctx, tx, t.TransactionID, t.Steps[0]); err != nil {
		return account.Transfer{}, err
	}
	data := transferPayload(t, balanceOf(src))
	return t, s.outbox.Append(ctx, tx, s.event(from, events.TransferDebited, t.TransactionID, to, data))
}

// Credit is saga step 2 on the destination shard, for a transfer.debited
// event. Errors wrapping stream.ErrPermanent mean the event can never apply.
func (s *Store) Credit(ctx context.Context, e events.Event) error {
	t, err := transferFromEvent(e)
	if err != nil {
		return err
	}
	if s.ShardOf(t.To) != t.ToShard {
		return fmt.Errorf("%w: %s is not on shard %d", stream.ErrPermanent, t.To, t.ToShard)
	}
	return database.InTx(ctx, s.shards[t.ToShard], func(tx *sqlx.Tx) error {
		if dup, err := inbox.Record(ctx, tx, consumerName, e.ID); dup || err != nil {
			return err
		}
		c, err := s.credit(ctx, tx, t)
		if err != nil {
			return err
		}
		return s.outbox.Append(ctx, tx, s.creditOutcome(t, c))
	})
}

// credit decides step 2 under the locks of the credit row and the
// destination account, applies it and returns the recorded outcome.
func (s *Store) credit(ctx context.Context, tx *sqlx.Tx, t account.Transfer) (creditRow, error) {
	hash := requestOf(t).Hash()
	c, found, err := lockCredit(ctx, tx, t.TransactionID)
	switch {
	case err != nil:
		return creditRow{}, err
	case found && c.RequestHash == hash:
		return c, nil // the same debit under a new event id: the same answer
	case found:
		// Another transfer credited under this id: reject, keep its row.
		return creditRow{Status: StepCreditRejected, Reason: problem.IdempotencyConflict}, nil
	}
	now := s.now()
	c = creditRow{TransactionID: t.TransactionID, RequestHash: hash, Status: StepCredited}
	used, err := usedAsSource(ctx, tx, t.TransactionID)
	if err != nil {
		return creditRow{}, err
	}
	reason := problem.IdempotencyConflict // this shard used the id for a transfer of its own
	if !used {
		var dst account.Account
		if dst, reason, err = s.tryCredit(ctx, tx, t, now); err != nil {
			return creditRow{}, err
		}
		if reason == "" {
			b := balanceOf(dst)
			c.Balance = &b
		}
	}
	if reason != "" {
		c.Status, c.Reason = StepCreditRejected, reason
	}
	if err := insertCredit(ctx, tx, t, c, now); err != nil {
		return creditRow{}, err
	}
	return c, insertStep(ctx, tx, t.TransactionID, account.Step{Name: c.Status, Shard: t.ToShard, At: now})
}

// tryCredit credits the destination if it can receive the money; otherwise
// it returns the reason it cannot and changes nothing.
func (s *Store) tryCredit(ctx context.Context, tx *sqlx.Tx, t account.Transfer, now time.Time) (account.Account, problem.Code, error) {
	dst, err := lockAccount(ctx, tx, t.ToShard, t.To)
	if problem.Is(err, problem.AccountNotFound) {
		return dst, problem.AccountNotFound, nil
	}
	if err != nil {
		return dst, "", err
	}
	if err := dst.CanReceive(t.Amount); err != nil {
		return dst, problem.CodeOf(err), nil
	}
	dst, err = addBalance(ctx, tx, dst, t.Amount.Decimal(), now)
	return dst, "", err
}

func (s *Store) creditOutcome(t account.Transfer, c creditRow) events.Event {
	if c.Status == StepCredited {
		var balances []events.Balance
		if c.Balance != nil {
			balances = append(balances, *c.Balance)
		}
		return s.event(t.ToShard, events.TransferCredited, t.TransactionID, t.FromShard, transferPayload(t, balances...))
	}
	t.Reason = c.Reason
	return s.event(t.ToShard, events.TransferCreditRejected, t.TransactionID, t.FromShard, transferPayload(t))
}

// Settle is saga step 3 on the source shard, for transfer.credited and
// transfer.credit_rejected. Events for a transfer that already ended change
// nothing.
func (s *Store) Settle(ctx context.Context, e events.Event) error {
	t, err := transferFromEvent(e)
	if err != nil {
		return err
	}
	if s.ShardOf(t.From) != t.FromShard {
		return fmt.Errorf("%w: %s is not on shard %d", stream.ErrPermanent, t.From, t.FromShard)
	}
	sh := t.FromShard
	return database.InTx(ctx, s.shards[sh], func(tx *sqlx.Tx) error {
		if dup, err := inbox.Record(ctx, tx, consumerName, e.ID); dup || err != nil {
			return err
		}
		var r transferRow
		err := tx.GetContext(ctx, &r, "SELECT "+transferColumns+" FROM transfers WHERE transaction_id = ? FOR UPDATE", t.TransactionID)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && r.RequestHash != requestOf(t).Hash()) {
			return fmt.Errorf("%w: %s for unknown transfer %s", stream.ErrPermanent, e.Type, t.TransactionID)
		}
		if err != nil || r.Status != string(account.Pending) {
			return err // ended already: a late or repeated outcome changes nothing
		}
		if e.Type == events.TransferCredited {
			return s.complete(ctx, tx, t)
		}
		return s.refund(ctx, tx, t)
	})
}

func (s *Store) complete(ctx context.Context, tx *sqlx.Tx, t account.Transfer) error {
	now := s.now()
	if err := setTransferStatus(ctx, tx, t.TransactionID, account.Completed, "", now); err != nil {
		return err
	}
	if err := insertStep(ctx, tx, t.TransactionID, account.Step{Name: StepCompleted, Shard: t.FromShard, At: now}); err != nil {
		return err
	}
	t.Reason = ""
	return s.outbox.Append(ctx, tx, s.event(t.FromShard, events.TransferCompleted, t.TransactionID, t.FromShard, transferPayload(t)))
}

// refund compensates a rejected credit. It credits the source whatever its
// status now: the money left it for this transfer and must come back.
func (s *Store) refund(ctx context.Context, tx *sqlx.Tx, t account.Transfer) error {
	now := s.now()
	src, err := lockAccount(ctx, tx, t.FromShard, t.From)
	if err != nil {
		return fmt.Errorf("refund %s: %w", t.TransactionID, err)
	}
	if src, err = addBalance(ctx, tx, src, t.Amount.Decimal(), now); err != nil {
		return err
	}
	if err := setTransferStatus(ctx, tx, t.TransactionID, account.Failed, t.Reason, now); err != nil {
		return err
	}
	if err := insertStep(ctx, tx, t.TransactionID, account.Step{Name: StepRefunded, Shard: t.FromShard, At: now}); err != nil {
		return err
	}
	return s.outbox.Append(ctx, tx, s.event(t.FromShard, events.TransferFailed, t.TransactionID, t.FromShard, transferPayload(t, balanceOf(src))))
}
