package systemtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/events"
)

// The ledger's system accounts (ledger-service/internal/ledger): @world:<cur>
// balances deposits and withdrawals, @in_flight:<cur> is a partition's
// clearing account for money between partitions.
const (
	worldPrefix    = "@world:"
	inFlightPrefix = "@in_flight:"
)

// moneyBy is an amount per currency.
type moneyBy map[string]decimal.Decimal

func (m moneyBy) add(cur string, d decimal.Decimal) { m[cur] = m[cur].Add(d) }

// checkLedgerPartitions reads every partition's ledger schema directly
// (not through ledger-service, whose reconcile is checked on its own) and
// checks, per currency:
//   - per partition, the ledger's wallets sum to the balances of the
//     accounts on the partition's shards (a wallet booked in the wrong
//     partition, or an event applied twice or lost, shows here);
//   - per partition, the journal balances by itself: its entries sum to
//     zero, and so do its accounts' balances (wallets, @world, @in_flight);
//   - in total, the partitions' @in_flight sum to the money the shards
//     have in flight (debited, neither credited nor refunded yet: their
//     pending transfers, none once quiet).
//
// It returns the figures, a line per partition and one for the total.
func (f *Fleet) checkLedgerPartitions(ctx context.Context, live []*sqlx.DB, shards map[string]shardAccount, fs *Findings) ([]string, error) {
	onShards := make([]moneyBy, Partitions)
	for p := range onShards {
		onShards[p] = moneyBy{}
	}
	for _, acc := range shards {
		onShards[events.Partition(acc.Shard, f.shards(), Partitions)].add(acc.Currency, acc.Balance)
	}
	shardsInFlight := moneyBy{}
	for sh, db := range live {
		var rows []struct {
			Currency string          `db:"currency"`
			Amount   decimal.Decimal `db:"amount"`
		}
		if err := db.SelectContext(ctx, &rows, `SELECT currency, SUM(amount) AS amount FROM transfers
			WHERE status = 'pending' AND from_shard = ? GROUP BY currency`, sh); err != nil {
			return nil, fmt.Errorf("shard %d: money in flight: %w", sh, err)
		}
		for _, r := range rows {
			shardsInFlight.add(r.Currency, r.Amount)
		}
	}
	var lines []string
	walletsTotal, shardsTotal, inFlightTotal := moneyBy{}, moneyBy{}, moneyBy{}
	for p, db := range f.Ledgers {
		wallets, inFlight, balances, entries, err := ledgerMoney(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("partition %d's ledger: %w", p, err)
		}
		var figures []string
		for _, cur := range currencies(wallets, onShards[p]) {
			figures = append(figures, fmt.Sprintf("%s wallets %s (shards %s), @in_flight %s", cur, wallets[cur], onShards[p][cur], inFlight[cur]))
		}
		lines = append(lines, fmt.Sprintf("partition %d: %s", p, strings.Join(figures, "; ")))
		for _, cur := range currencies(wallets, onShards[p]) {
			if !wallets[cur].Equal(onShards[p][cur]) {
				fs.Add(InvLedgerPartitions, "partition %d %s: the ledger's wallets sum to %s, its shards' balances to %s",
					p, cur, wallets[cur], onShards[p][cur])
			}
			walletsTotal.add(cur, wallets[cur])
			shardsTotal.add(cur, onShards[p][cur])
		}
		for _, cur := range currencies(balances, entries) {
			if !balances[cur].IsZero() || !entries[cur].IsZero() {
				fs.Add(InvLedgerPartitions, "partition %d %s: the journal does not balance: its accounts sum to %s, its entries to %s",
					p, cur, balances[cur], entries[cur])
			}
		}
		for cur, v := range inFlight {
			inFlightTotal.add(cur, v)
		}
	}
	var figures []string
	for _, cur := range currencies(walletsTotal, shardsTotal) {
		figures = append(figures, fmt.Sprintf("%s wallets %s (shards %s), @in_flight %s (shards %s)",
			cur, walletsTotal[cur], shardsTotal[cur], inFlightTotal[cur], shardsInFlight[cur]))
		if !walletsTotal[cur].Equal(shardsTotal[cur]) {
			fs.Add(InvLedgerPartitions, "total %s: the ledgers' wallets sum to %s, the shards' balances to %s", cur, walletsTotal[cur], shardsTotal[cur])
		}
	}
	for _, cur := range currencies(inFlightTotal, shardsInFlight) {
		if !inFlightTotal[cur].Equal(shardsInFlight[cur]) {
			fs.Add(InvLedgerPartitions, "total %s: the partitions' @in_flight sum to %s, the shards have %s in flight",
				cur, inFlightTotal[cur], shardsInFlight[cur])
		}
	}
	return append(lines, "total: "+strings.Join(figures, "; ")), nil
}

// ledgerMoney reads one partition's ledger in one snapshot: its wallets'
// and its @in_flight balances, the sum of all its accounts' balances and
// of its journal entries, per currency.
func ledgerMoney(ctx context.Context, db *sqlx.DB) (wallets, inFlight, balances, entries moneyBy, err error) {
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() { _ = tx.Rollback() }()
	var accounts []struct {
		ID       string          `db:"account_id"`
		Currency string          `db:"currency"`
		Balance  decimal.Decimal `db:"balance"`
	}
	if err := tx.SelectContext(ctx, &accounts, "SELECT account_id, currency, balance FROM ledger_accounts"); err != nil {
		return nil, nil, nil, nil, err
	}
	var sums []struct {
		Currency string          `db:"currency"`
		Amount   decimal.Decimal `db:"amount"`
	}
	if err := tx.SelectContext(ctx, &sums, "SELECT currency, SUM(amount) AS amount FROM journal_entries GROUP BY currency"); err != nil {
		return nil, nil, nil, nil, err
	}
	wallets, inFlight, balances, entries = moneyBy{}, moneyBy{}, moneyBy{}, moneyBy{}
	for _, a := range accounts {
		balances.add(a.Currency, a.Balance)
		switch {
		case strings.HasPrefix(a.ID, inFlightPrefix):
			inFlight.add(a.Currency, a.Balance)
		case strings.HasPrefix(a.ID, worldPrefix):
		default:
			wallets.add(a.Currency, a.Balance)
		}
	}
	for _, s := range sums {
		entries.add(s.Currency, s.Amount)
	}
	return wallets, inFlight, balances, entries, nil
}

// currencies are the currencies of some amounts, sorted.
func currencies(ms ...moneyBy) []string {
	var out []string
	for _, m := range ms {
		for cur := range m {
			if !slices.Contains(out, cur) {
				out = append(out, cur)
			}
		}
	}
	slices.Sort(out)
	return out
}

// reconcileMoney is what ledger-service reconcile --json prints
// (ledger-service/internal/reconcile, Report), the parts checked here.
type reconcileMoney struct {
	Partitions []struct {
		Partition     int             `json:"partition"`
		Currency      string          `json:"currency"`
		Wallets       decimal.Decimal `json:"wallets"`
		InFlight      decimal.Decimal `json:"in_flight"`
		ShardBalances decimal.Decimal `json:"shard_balances"`
		ShardNetSent  decimal.Decimal `json:"shard_net_sent"`
	} `json:"partitions"`
	Counts   map[string]int64 `json:"counts"`
	Findings []struct {
		Kind    string `json:"kind"`
		Where   string `json:"where"`
		Subject string `json:"subject"`
		Detail  string `json:"detail"`
	} `json:"findings"`
}

// reconcile runs ledger-service reconcile --json: it must exit 0 (InvReconcile),
// and each partition's money as it reports it must be its shards' (its
// wallets their balances, its @in_flight what they sent less what they
// received across partitions); a finding that names a partition or the
// total also breaks InvLedgerPartitions.
func (f *Fleet) reconcile(fs *Findings) error {
	code, stdout, stderr, err := f.Command("ledger-service", "reconcile", "--json")
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var rep reconcileMoney
	if jerr := json.Unmarshal([]byte(stdout), &rep); jerr != nil {
		fs.Add(InvReconcile, "exit %d, output not a report (%v):\n%s%s", code, jerr, tail(stdout, 20), tail(stderr, 10))
		return nil
	}
	if code != 0 {
		fs.Add(InvReconcile, "exit %d, findings %v%s", code, rep.Counts, "\n"+tail(stderr, 5))
	}
	seen := map[int]bool{}
	for _, pm := range rep.Partitions {
		seen[pm.Partition] = true
		if !pm.Wallets.Equal(pm.ShardBalances) || !pm.InFlight.Equal(pm.ShardNetSent) {
			fs.Add(InvLedgerPartitions, "reconcile: partition %d %s: wallets %s, shards' balances %s; @in_flight %s, shards' net sent %s",
				pm.Partition, pm.Currency, pm.Wallets, pm.ShardBalances, pm.InFlight, pm.ShardNetSent)
		}
	}
	for p := range Partitions {
		if !seen[p] {
			fs.Add(InvLedgerPartitions, "reconcile reported no money of partition %d", p)
		}
	}
	for _, fd := range rep.Findings {
		inv := InvReconcile
		if strings.HasPrefix(fd.Where, "partition") || fd.Where == "total" {
			inv = InvLedgerPartitions
		}
		fs.Add(inv, "reconcile: %s in %s: %s: %s", fd.Kind, fd.Where, fd.Subject, fd.Detail)
	}
	return nil
}
