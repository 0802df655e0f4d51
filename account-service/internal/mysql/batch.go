package mysql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
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

// Apply runs ops on server srv as one transaction: for each shard in turn,
// in ascending order, it locks and loads what that shard's operations
// touch, lets account.Batch decide them in order, and saves the changes with
// set-based statements in the shard's schema. A rejection of one operation
// is in its Result and does not affect the others; an error means nothing
// was saved.
func (s *Store) Apply(ctx context.Context, srv int, ops []account.Op) ([]account.Result, error) {
	if srv < 0 || srv >= len(s.servers) {
		return nil, fmt.Errorf("%w: there is no server %d", account.ErrMisrouted, srv)
	}
	groups := groupByShard(ops)
	for _, g := range groups {
		if g.shard < 0 || g.shard >= len(s.schemas) {
			return nil, fmt.Errorf("%w: there is no shard %d", account.ErrMisrouted, g.shard)
		}
	}
	out := make([]account.Result, len(ops))
	var err error
	for attempt := 1; attempt <= duplicateAttempts; attempt++ {
		err = database.InTx(ctx, s.servers[srv].DB, func(tx *sqlx.Tx) error {
			// One round trip reads every shard's rows, one writes them
			// (reads, deferred): with many shards on a server, statement
			// by statement would cost round trips per shard.
			var r reads
			metas := make([]meta, len(groups))
			batches := make([]*account.Batch, len(groups))
			for i, g := range groups {
				if s.Server(g.shard) != srv {
					continue // routed by a placement that changed since: see below
				}
				r.use(s.schemas[g.shard])
				addFence(&r, &metas[i])
				batches[i] = account.NewBatch(g.shard, len(s.schemas), s.now())
				if err := addLoad(&r, batches[i], keysOf(g.ops, g.shard, len(s.schemas))); err != nil {
					return fmt.Errorf("shard %d: %w", g.shard, err)
				}
			}
			if err := r.run(ctx, tx); err != nil {
				return fmt.Errorf("load: %w", err)
			}
			var writes deferred
			for i, g := range groups {
				var err error = ErrMoving
				if batches[i] != nil {
					err = s.check(metas[i], srv, g.shard)
				}
				if err != nil {
					if !errors.Is(err, ErrMoving) {
						return err
					}
					// Nothing is written for this shard: its operations
					// are answered "retry", the others go on.
					for _, j := range g.at {
						out[j] = account.Result{Err: err}
					}
					continue
				}
				for j, res := range batches[i].Decide(g.ops) {
					out[g.at[j]] = res
				}
				writes.use(s.schemas[g.shard])
				if err := s.save(ctx, &writes, batches[i]); err != nil {
					return fmt.Errorf("shard %d: %w", g.shard, err)
				}
			}
			if err := writes.flush(ctx, tx); err != nil {
				return fmt.Errorf("save: %w", err)
			}
			return nil
		})
		if !database.IsDuplicate(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("server %s: apply %d operations: %w", s.servers[srv].Name, len(ops), err)
	}
	return out, nil
}

// shardOps are one shard's operations of a batch, in order, and their
// places in it.
type shardOps struct {
	shard int
	ops   []account.Op
	at    []int
}

// groupByShard splits ops by Op.Shard, in ascending shard order: the lock
// order across shards, as lockAccounts' is within one.
func groupByShard(ops []account.Op) []shardOps {
	var groups []shardOps
	for i, op := range ops {
		j, found := slices.BinarySearchFunc(groups, op.Shard, func(g shardOps, sh int) int { return g.shard - sh })
		if !found {
			groups = slices.Insert(groups, j, shardOps{shard: op.Shard})
		}
		groups[j].ops = append(groups[j].ops, op)
		groups[j].at = append(groups[j].at, i)
	}
	return groups
}

// quoteName quotes a schema or table name for SQL.
func quoteName(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

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

// save writes what a batch decided: balances, new and ended transfers,
// steps, movements, credits, the inbox and the outbox, one statement each.
func (s *Store) save(ctx context.Context, tx sqlx.ExecerContext, b *account.Batch) error {
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
