package mysql

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

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
			for _, g := range groups {
				var err error = ErrMoving // routed by a placement that changed since
				if s.Server(g.shard) == srv {
					err = s.enter(ctx, tx, srv, g.shard)
				}
				if err != nil {
					if !errors.Is(err, ErrMoving) {
						return err
					}
					// Nothing was read or written for this shard: its
					// operations are answered "retry", the others go on.
					for _, i := range g.at {
						out[i] = account.Result{Err: err}
					}
					continue
				}
				b := account.NewBatch(g.shard, len(s.schemas), s.now())
				if err := load(ctx, tx, b, keysOf(g.ops, g.shard, len(s.schemas))); err != nil {
					return fmt.Errorf("shard %d: %w", g.shard, err)
				}
				for j, res := range b.Decide(g.ops) {
					out[g.at[j]] = res
				}
				if err := s.save(ctx, tx, b); err != nil {
					return fmt.Errorf("shard %d: %w", g.shard, err)
				}
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

// enter points tx, on server srv's pool, at shard sh's schema and checks
// the copy there is the shard's current one (fence).
func (s *Store) enter(ctx context.Context, tx *sqlx.Tx, srv, sh int) error {
	if schema := s.schemas[sh]; schema != "" {
		if _, err := tx.ExecContext(ctx, "USE "+quoteName(schema)); err != nil {
			return fmt.Errorf("shard %d: use %s: %w", sh, schema, err)
		}
	}
	return s.fence(ctx, tx, srv, sh)
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
