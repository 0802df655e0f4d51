package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/shardread"
)

// The reconciliation read side (pkg/shardread): what ledger-service
// reconcile needs to know of a shard, answered by the shard's owner so that
// no other service reads these tables.

// ReconcileSummary reads shard sh's money in one snapshot (REPEATABLE READ,
// read only), so that its sums and its (accounts, versions) mark describe
// one instant, and what is stuck on it: cross-shard transfers pending since
// before pendingBefore and unhandled dead letters.
func (s *Store) ReconcileSummary(ctx context.Context, sh int, pendingBefore time.Time) (shardread.Summary, error) {
	out := shardread.Summary{Shard: sh, Currencies: []shardread.CurrencySums{},
		StaleTransfers: shardread.StaleTransfers{Listed: []shardread.PendingEntry{}},
		DeadLetters:    shardread.DeadLetters{Listed: []shardread.DeadLetter{}}}
	tx, err := s.Shard(sh).BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return out, fmt.Errorf("shard %d: begin snapshot: %w", sh, err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	if err := tx.QueryRowxContext(ctx, "SELECT COUNT(*), COALESCE(SUM(version), 0) FROM accounts").Scan(&out.Accounts, &out.Versions); err != nil {
		return out, fmt.Errorf("shard %d: count accounts: %w", sh, err)
	}
	byCur := map[string]*shardread.CurrencySums{}
	sums := func(cur string) *shardread.CurrencySums {
		if byCur[cur] == nil {
			byCur[cur] = &shardread.CurrencySums{Currency: cur}
		}
		return byCur[cur]
	}
	// One statement per table: balances, what this shard sent across
	// shards (debited and not refunded), what is still pending, what it
	// received across shards.
	var rows []struct {
		Part     string          `db:"part"`
		Currency string          `db:"currency"`
		N        int64           `db:"n"`
		Total    decimal.Decimal `db:"total"`
	}
	if err := tx.SelectContext(ctx, &rows, `
		SELECT 'balances' AS part, currency, COUNT(*) AS n, COALESCE(SUM(balance), 0) AS total FROM accounts GROUP BY currency
		UNION ALL
		SELECT IF(status = 'pending', 'pending', 'sent'), currency, COUNT(*), COALESCE(SUM(amount), 0) FROM transfers
			WHERE from_shard <> to_shard AND status IN ('pending', 'completed') GROUP BY status, currency
		UNION ALL
		SELECT 'received', currency, COUNT(*), COALESCE(SUM(amount), 0) FROM credits WHERE status = 'credited' GROUP BY currency`); err != nil {
		return out, fmt.Errorf("shard %d: sum money: %w", sh, err)
	}
	for _, r := range rows {
		c := sums(r.Currency)
		switch r.Part {
		case "balances":
			c.Accounts, c.Balances = r.N, r.Total
		case "pending":
			c.Pending, c.PendingCount = r.Total, r.N
			c.Sent = c.Sent.Add(r.Total)
		case "sent":
			c.Sent = c.Sent.Add(r.Total)
		case "received":
			c.Received = r.Total
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(byCur)) {
		out.Currencies = append(out.Currencies, *byCur[cur])
	}

	before := pendingBefore.UTC()
	if err := tx.SelectContext(ctx, &out.StaleTransfers.Listed, `SELECT transaction_id, from_account, to_account, amount, currency,
		to_shard, redrives, updated_at FROM transfers WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at LIMIT ?`,
		before, shardread.MaxListed); err != nil {
		return out, fmt.Errorf("shard %d: read stale transfers: %w", sh, err)
	}
	out.StaleTransfers.Count = int64(len(out.StaleTransfers.Listed))
	if out.StaleTransfers.Count == shardread.MaxListed {
		if err := tx.GetContext(ctx, &out.StaleTransfers.Count, "SELECT COUNT(*) FROM transfers WHERE status = 'pending' AND updated_at < ?", before); err != nil {
			return out, fmt.Errorf("shard %d: count stale transfers: %w", sh, err)
		}
	}
	if err := tx.SelectContext(ctx, &out.DeadLetters.Listed, `SELECT id, consumer, subject, error, recorded_at FROM dead_letters
		WHERE handled_at IS NULL ORDER BY id LIMIT ?`, shardread.MaxListed); err != nil {
		return out, fmt.Errorf("shard %d: read dead letters: %w", sh, err)
	}
	out.DeadLetters.Count = int64(len(out.DeadLetters.Listed))
	if out.DeadLetters.Count == shardread.MaxListed {
		if err := tx.GetContext(ctx, &out.DeadLetters.Count, "SELECT COUNT(*) FROM dead_letters WHERE handled_at IS NULL"); err != nil {
			return out, fmt.Errorf("shard %d: count dead letters: %w", sh, err)
		}
	}
	return out, nil
}

// ReconcileAccounts reads shard sh's accounts: the ones of ids when ids is
// not empty (a lookup: those it holds), else up to limit after account id
// after, by id; next is the next page's after ("" on the last).
func (s *Store) ReconcileAccounts(ctx context.Context, sh int, after string, ids []string, limit int) (page []shardread.Account, next string, err error) {
	db := s.Shard(sh)
	page = []shardread.Account{}
	if len(ids) > 0 {
		err := database.SelectIn(ctx, db, "SELECT account_id, currency, balance, version FROM accounts WHERE account_id IN (?)", ids,
			func(a shardread.Account) error { page = append(page, a); return nil })
		if err != nil {
			return nil, "", fmt.Errorf("shard %d: read accounts: %w", sh, err)
		}
		return page, "", nil
	}
	if err := db.SelectContext(ctx, &page, `SELECT account_id, currency, balance, version FROM accounts
		WHERE account_id > ? ORDER BY account_id LIMIT ?`, after, limit+1); err != nil {
		return nil, "", fmt.Errorf("shard %d: read accounts: %w", sh, err)
	}
	if len(page) > limit {
		page = page[:limit]
		next = page[limit-1].AccountID
	}
	return page, next, nil
}

// ReconcileOutbox reads how far shard sh's outbox is published, and the rows
// stuck in it: to publish since before unpublishedBefore, or set aside.
func (s *Store) ReconcileOutbox(ctx context.Context, sh int, unpublishedBefore time.Time) (shardread.Outbox, error) {
	out := shardread.Outbox{Shard: sh, Stale: shardread.OutboxRows{Listed: []shardread.OutboxRow{}},
		SetAside: shardread.OutboxRows{Listed: []shardread.OutboxRow{}}}
	db := s.Shard(sh)
	// The unpublished rows are few and on the outbox_unpublished index; the
	// last id is the primary key's end.
	var head struct {
		LastID           int64 `db:"last_id"`
		FirstUnpublished int64 `db:"first_unpublished"`
		Unpublished      int64 `db:"unpublished"`
	}
	if err := db.GetContext(ctx, &head, `SELECT COALESCE((SELECT MAX(id) FROM outbox), 0) AS last_id,
		COALESCE((SELECT MIN(id) FROM outbox WHERE published_at IS NULL AND set_aside_at IS NULL), 0) AS first_unpublished,
		(SELECT COUNT(*) FROM outbox WHERE published_at IS NULL) AS unpublished`); err != nil {
		return out, fmt.Errorf("shard %d: read outbox: %w", sh, err)
	}
	out.LastID, out.FirstUnpublished, out.Unpublished = head.LastID, head.FirstUnpublished, head.Unpublished
	const cols = "SELECT id, event_id, event_type, occurred_at, attempts, COALESCE(last_error, '') AS last_error FROM outbox "
	before := unpublishedBefore.UTC()
	for _, part := range []struct {
		rows  *shardread.OutboxRows
		where string
		args  []any
	}{
		{&out.Stale, "WHERE published_at IS NULL AND set_aside_at IS NULL AND occurred_at < ?", []any{before}},
		{&out.SetAside, "WHERE published_at IS NULL AND set_aside_at IS NOT NULL", nil},
	} {
		if err := db.SelectContext(ctx, &part.rows.Listed, cols+part.where+" ORDER BY id LIMIT ?", append(part.args, shardread.MaxListed)...); err != nil {
			return out, fmt.Errorf("shard %d: read unpublished events: %w", sh, err)
		}
		part.rows.Count = int64(len(part.rows.Listed))
		if part.rows.Count == shardread.MaxListed {
			if err := db.GetContext(ctx, &part.rows.Count, "SELECT COUNT(*) FROM outbox "+part.where, part.args...); err != nil {
				return out, fmt.Errorf("shard %d: count unpublished events: %w", sh, err)
			}
		}
	}
	return out, nil
}
