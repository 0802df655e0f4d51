package mysql

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/shard"
)

// sagaInbox is the inbox consumer name of the saga steps.
const sagaInbox = account.SagaInbox

// duplicateAttempts bounds how often Apply runs again after a unique-key
// violation. Within one process a shard has one writer, so a violation means
// another instance committed the same key (an idempotency key, a credit, a
// saga event) between our read and our insert: the next attempt reads it
// and decides with it.
const duplicateAttempts = 3

// Apply runs ops on shard sh as one transaction: it locks and loads what
// they touch, lets account.Batch decide each in order, and saves the changes
// with set-based statements. A rejection of one operation is in its Result
// and does not affect the others; an error means nothing was saved.
func (s *Store) Apply(ctx context.Context, sh int, ops []account.Op) ([]account.Result, error) {
	var out []account.Result
	var err error
	for attempt := 1; attempt <= duplicateAttempts; attempt++ {
		err = database.InTx(ctx, s.shards[sh], func(tx *sqlx.Tx) error {
			b := account.NewBatch(sh, len(s.shards), s.now())
			if err := load(ctx, tx, b, keysOf(ops, sh, len(s.shards))); err != nil {
				return err
			}
			out = b.Decide(ops)
			return s.save(ctx, tx, b)
		})
		if !database.IsDuplicate(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("shard %d: apply %d operations: %w", sh, len(ops), err)
	}
	return out, nil
}

// keys are the rows a batch reads, each id once.
type keys struct {
	accounts, transfers, movements, credits, events []string
}

func keysOf(ops []account.Op, sh, shards int) keys {
	var k keys
	local := func(id string) {
		if shard.Of(id, shards) == sh {
			k.accounts = append(k.accounts, id)
		}
	}
	for _, op := range ops {
		switch op.Kind {
		case account.OpTransfer:
			local(op.Transfer.From)
			local(op.Transfer.To)
			k.transfers = append(k.transfers, op.Transfer.TransactionID)
		case account.OpMove:
			local(op.Movement.AccountID)
			k.movements = append(k.movements, op.Movement.TransactionID)
		case account.OpCredit:
			t := op.Event.Transfer
			local(t.To)
			k.transfers = append(k.transfers, t.TransactionID)
			k.credits = append(k.credits, t.TransactionID)
			k.events = append(k.events, op.Event.ID)
		case account.OpSettle:
			t := op.Event.Transfer
			local(t.From) // for a refund
			k.transfers = append(k.transfers, t.TransactionID)
			k.events = append(k.events, op.Event.ID)
		}
	}
	for _, l := range []*[]string{&k.accounts, &k.transfers, &k.movements, &k.credits, &k.events} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	return k
}

// load locks and reads a batch's rows. Lock order: accounts first, by
// ascending account_id in one statement (lockAccounts), then transfers and
// credits by ascending transaction_id. A concurrent request with the same
// key waits on the account lock and then reads the first one's rows.
func load(ctx context.Context, tx *sqlx.Tx, b *account.Batch, k keys) error {
	accs, err := lockAccounts(ctx, tx, b.Shard, k.accounts...)
	if err != nil {
		return err
	}
	for id, a := range accs {
		b.Accounts[id] = &a
	}
	if err := loadTransfers(ctx, tx, b, k.transfers); err != nil {
		return err
	}
	if err := loadCredits(ctx, tx, b, k.credits); err != nil {
		return err
	}
	if err := loadMovements(ctx, tx, b, k.movements); err != nil {
		return err
	}
	return loadSeen(ctx, tx, b, k.events)
}

func loadSeen(ctx context.Context, tx *sqlx.Tx, b *account.Batch, ids []string) error {
	seen, err := inbox.Seen(ctx, tx, sagaInbox, ids)
	maps.Copy(b.Seen, seen)
	return err
}

// save writes what a batch decided: balances, new and ended transfers,
// steps, movements, credits, the inbox and the outbox, one statement each.
func (s *Store) save(ctx context.Context, tx *sqlx.Tx, b *account.Batch) error {
	c := b.Changes
	steps := []func() error{
		func() error { return saveBalances(ctx, tx, b) },
		func() error { return insertTransfers(ctx, tx, c.Transfers) },
		func() error { return saveSettled(ctx, tx, c.Transfers, c.Settled, b) },
		func() error { return insertSteps(ctx, tx, c.Steps) },
		func() error { return insertMovements(ctx, tx, c.Movements) },
		func() error { return insertCredits(ctx, tx, c.Credits) },
		func() error { return insertInbox(ctx, tx, c.Inbox) },
		func() error { return s.outbox.Append(ctx, tx, c.Events...) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
