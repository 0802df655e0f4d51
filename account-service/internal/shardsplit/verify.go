package shardsplit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
)

// counts are what a schema, or an old shard and the schemas split from it,
// hold: the split checks that the old shard's counts before equal its
// family's after.
type counts struct {
	// Rows by what is counted (see countQueries).
	Rows map[string]int64 `json:"rows"`
	// Balances is the sum of the accounts' balances by currency.
	Balances map[string]decimal.Decimal `json:"balances"`
}

// countQueries count what nothing but the split changes while the services
// are stopped or frozen out (refused transfers and movements, the outbox,
// the inbox are pruned by jobs that do not check the freeze; they are
// compared for the report only). converted are the completed transfers
// whose two accounts were on one shard and are on two now, rows the old
// count never holds: the split records a credit and a step for each.
var countQueries = map[string]string{
	"accounts":             "SELECT COUNT(*) FROM {s}.accounts",
	"movements":            "SELECT COUNT(*) FROM {s}.movements WHERE balance_after IS NOT NULL",
	"transfers":            "SELECT COUNT(*) FROM {s}.transfers WHERE status <> '" + string(account.Refused) + "'",
	"credits":              "SELECT COUNT(*) FROM {s}.credits",
	"transfer_steps":       "SELECT COUNT(*) FROM {s}.transfer_steps",
	"refused movements":    "SELECT COUNT(*) FROM {s}.movements WHERE balance_after IS NULL",
	"refused transfers":    "SELECT COUNT(*) FROM {s}.transfers WHERE status = '" + string(account.Refused) + "'",
	"outbox":               "SELECT COUNT(*) FROM {s}.outbox",
	"outbox not published": "SELECT COUNT(*) FROM {s}.outbox WHERE published_at IS NULL",
	"inbox":                "SELECT COUNT(*) FROM {s}.inbox",
	"dead_letters":         "SELECT COUNT(*) FROM {s}.dead_letters",
	"converted":            "SELECT COUNT(*) FROM {s}.transfers t WHERE " + converted(-1),
}

// strict are the counts that must match: the rest are reported. A
// converted transfer gets a credit, and a step unless a release before
// 91d9a6a wrote it: transfer_steps grows by at most converted, and
// verify checks each converted transfer's step instead.
var strict = []string{"accounts", "movements", "transfers", "credits", "transfer_steps"}

// count counts shard sh's schema.
func (s *Splitter) count(ctx context.Context, p Plan, sh int) (counts, error) {
	db := s.Pools[p.Owner[sh]]
	c := counts{Rows: map[string]int64{}, Balances: map[string]decimal.Decimal{}}
	for name, q := range countQueries {
		q = strings.ReplaceAll(strings.ReplaceAll(q, "{s}", quote(s.Layout.Schemas[sh])), "{from}", strconv.Itoa(p.From))
		var n int64
		if err := db.GetContext(ctx, &n, q); err != nil {
			return c, fmt.Errorf("shard %d: count %s: %w", sh, name, err)
		}
		c.Rows[name] = n
	}
	var sums []struct {
		Currency string          `db:"currency"`
		Sum      decimal.Decimal `db:"total"`
	}
	if err := db.SelectContext(ctx, &sums, "SELECT currency, SUM(balance) AS total FROM "+s.table(sh, "accounts")+" GROUP BY currency"); err != nil {
		return c, fmt.Errorf("shard %d: sum balances: %w", sh, err)
	}
	for _, r := range sums {
		c.Balances[r.Currency] = r.Sum
	}
	return c, nil
}

func (c *counts) add(o counts) {
	for k, v := range o.Rows {
		c.Rows[k] += v
	}
	for k, v := range o.Balances {
		c.Balances[k] = c.Balances[k].Add(v)
	}
}

// recordBefore records old shard i's counts once, before any of its rows
// moves; a run again keeps the first record.
func (s *Splitter) recordBefore(ctx context.Context, p Plan, i int) error {
	if done, err := s.stepDone(ctx, p, i, "before"); err != nil || done {
		return err
	}
	c, err := s.count(ctx, p, i)
	if err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = s.Pools[p.Owner[i]].ExecContext(ctx, "INSERT IGNORE INTO "+s.table(i, stateTable)+" (step, value) VALUES ('before', ?)", string(b))
	return err
}

// verify checks old shard i's family after the moves: no row of a moved
// table left in the old schema that belongs to a new one, every account
// mapped, the same accounts, balances, movements, transfers as before, and
// one credit and one step more for each transfer the split made cross-shard.
func (s *Splitter) verify(ctx context.Context, p Plan, i int) error {
	db := s.Pools[p.Owner[i]]
	src := quote(s.Layout.Schemas[i])
	for _, name := range movedTables {
		sp, ok := specs[name]
		if !ok {
			continue // the outbox is routed in Go, row by row
		}
		var n int64
		q := "SELECT COUNT(*) FROM " + src + "." + quote(name) + " t " + strings.ReplaceAll(sp.joins, "{src}", src) +
			" WHERE " + sp.shard + " <> ? AND MOD(" + sp.shard + ", ?) = ?"
		if err := db.GetContext(ctx, &n, q, i, p.From, i); err != nil {
			return fmt.Errorf("shard %d: check %s: %w", i, name, err)
		}
		if n > 0 {
			return fmt.Errorf("shard %d: %d rows of %s belong to another shard and were not moved", i, n, name)
		}
	}
	var unmapped int64
	if err := db.GetContext(ctx, &unmapped, "SELECT COUNT(*) FROM "+src+".accounts t LEFT JOIN "+src+"."+mapTable+
		" m ON m.account_id = t.account_id WHERE m.account_id IS NULL"); err != nil {
		return fmt.Errorf("shard %d: check the map: %w", i, err)
	}
	if unmapped > 0 {
		return fmt.Errorf("shard %d: %d accounts have no new shard in %s", i, unmapped, mapTable)
	}
	var raw string
	if err := db.GetContext(ctx, &raw, "SELECT value FROM "+s.table(i, stateTable)+" WHERE step = 'before'"); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("shard %d: the counts before the split were not recorded", i)
		}
		return err
	}
	var before counts
	if err := json.Unmarshal([]byte(raw), &before); err != nil {
		return fmt.Errorf("shard %d: recorded counts: %w", i, err)
	}
	after := counts{Rows: map[string]int64{}, Balances: map[string]decimal.Decimal{}}
	for j := i; j < p.To; j += p.From {
		c, err := s.count(ctx, p, j)
		if err != nil {
			return err
		}
		after.add(c)
		var stepless int64
		if err := s.Pools[p.Owner[j]].GetContext(ctx, &stepless, "SELECT COUNT(*) FROM "+s.table(j, "transfers")+" t WHERE "+converted(p.From)+
			" AND NOT EXISTS (SELECT 1 FROM "+s.table(j, "transfer_steps")+" s WHERE s.transaction_id = t.transaction_id"+
			" AND s.from_account = t.from_account AND s.step = '"+account.StepCompleted+"')"); err != nil {
			return fmt.Errorf("shard %d: check the steps of converted transfers: %w", j, err)
		}
		if stepless > 0 {
			return fmt.Errorf("shard %d: %d same-shard transfers between two shards now have no completed step", j, stepless)
		}
	}
	converted := after.Rows["converted"]
	var wrong, changed []string
	for _, name := range strict {
		want := before.Rows[name]
		if name == "credits" {
			want += converted
		}
		got := after.Rows[name]
		if name == "transfer_steps" && got >= want && got <= want+converted {
			continue
		}
		if got != want {
			wrong = append(wrong, fmt.Sprintf("%s: %d, want %d", name, got, want))
		}
	}
	currencies := map[string]bool{}
	for cur := range before.Balances {
		currencies[cur] = true
	}
	for cur := range after.Balances {
		currencies[cur] = true
	}
	for _, cur := range slices.Sorted(maps.Keys(currencies)) {
		if b, a := before.Balances[cur], after.Balances[cur]; !a.Equal(b) {
			wrong = append(wrong, fmt.Sprintf("balances in %s: %s, want %s", cur, a.StringFixed(4), b.StringFixed(4)))
		}
	}
	for name := range countQueries {
		if slices.Contains(strict, name) || name == "converted" {
			continue
		}
		if before.Rows[name] != after.Rows[name] {
			changed = append(changed, fmt.Sprintf("%s %d -> %d", name, before.Rows[name], after.Rows[name]))
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		return fmt.Errorf("shard %d and its new shards do not hold what it held: %s (the placement is unchanged and the shards stay frozen)",
			i, strings.Join(wrong, "; "))
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		s.printf("shard %d: changed during the split by a job that was still running (pruned or published): %s", i, strings.Join(changed, ", "))
	}
	return nil
}

// converted is the condition on transfers t of a same-shard transfer that
// the split made one between two shards: completed, its shard numbers
// (rewritten) two, split from one old shard. from -1 leaves {from} for
// count to fill.
func converted(from int) string {
	f := "{from}"
	if from > 0 {
		f = strconv.Itoa(from)
	}
	return "t.status = '" + string(account.Completed) + "' AND t.from_shard <> t.to_shard AND MOD(t.from_shard, " + f + ") = MOD(t.to_shard, " + f + ")"
}
