package systemtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/testenv"
)

// reconcileReport is the part of `ledger-service reconcile --json` the
// tests read.
type reconcileReport struct {
	RunID  int64            `json:"run_id"`
	Counts map[string]int64 `json:"counts"`
	Checks []struct {
		Name    string `json:"name"`
		Checked int64  `json:"checked"`
	} `json:"checks"`
	Currencies []struct {
		Currency string `json:"currency"`
		Wallets  string `json:"wallets"`
	} `json:"currencies"`
}

// reconcile runs the batch job with flags and returns its exit status and
// report (empty when it could not run).
func (s *System) reconcile(env []string, flags ...string) (int, reconcileReport, string) {
	s.t.Helper()
	code, out, errOut := s.Command(env, "ledger-service", append([]string{"reconcile", "--json"}, flags...)...)
	var rep reconcileReport
	if out != "" {
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			s.t.Fatalf("reconcile printed no JSON report (%v):\n%s\nstderr:\n%s", err, out, errOut)
		}
	}
	return code, rep, errOut
}

// kinds lists the kinds of finding a report counts, sorted.
func (r reconcileReport) kinds() []string { return slices.Sorted(maps.Keys(r.Counts)) }

// The reconciliation job passes a clean system, also while transfers keep
// running, then reports each class of discrepancy injected behind the
// system's back with exit 1 (each run recorded with its findings), passes
// again once it is undone, and exits 2 when a database is unreachable.
func TestReconcile(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll()
	b := newBank(t, s, 16)
	// While transfers run on every shard, a run sees a consistent picture:
	// what differs in passing is checked again once the ledger caught up.
	var during struct {
		code int
		rep  reconcileReport
		log  string
	}
	b.run(4, 40, func() {
		time.Sleep(300 * time.Millisecond)
		during.code, during.rep, during.log = s.reconcile(nil, "--settle-timeout", "30s")
	})
	b.check()
	if during.code != 0 || during.rep.kinds() != nil && !slices.Equal(during.rep.kinds(), []string{"unverified"}) {
		t.Fatalf("reconcile under load: exit %d, findings %v\n%s", during.code, during.rep.Counts, during.log)
	}

	// Two deposits from accounts on two shards under one key: each shard
	// accepts it (keys are per source account), finance sees one id for two
	// operations, reported as a warning that fails nothing.
	reused := uuid.NewString()
	for _, acc := range []string{b.accounts[0].id, b.accounts[2].id} {
		if code, body := s.Do("POST", s.URL("account-service")+"/v1/accounts/"+acc+"/deposits",
			map[string]string{"amount": "1.00", "currency": b.accounts[0].currency, "transaction_id": reused}); code != 200 {
			t.Fatalf("deposit: %d %v", code, body)
		}
	}
	var cross string // a completed cross-shard transfer
	for _, db := range s.Shards {
		_ = db.Get(&cross, "SELECT transaction_id FROM transfers WHERE status = 'completed' AND from_shard <> to_shard LIMIT 1")
		if cross != "" {
			break
		}
	}
	if cross == "" {
		t.Fatal("the load made no cross-shard transfer")
	}
	s.waitPublishedAndApplied(20 * time.Second)
	// From here on no relay publishes and no redrive undoes an injection
	// before the job sees it; account-service keeps answering reconcile's
	// reads (its read side), with redrives put off past the injected age.
	s.Stop("outbox-relay")
	s.Stop("account-service")
	s.Start("account-service", "WALLET_ACCOUNT_SAGA_REDRIVE_AFTER=24h")

	code, rep, log := s.reconcile(nil)
	if code != 0 || !slices.Equal(rep.kinds(), []string{"transaction_id_reused"}) || rep.Counts["transaction_id_reused"] != 1 {
		t.Fatalf("a reused transaction id (a warning): exit %d, findings %v\n%s", code, rep.Counts, log)
	}
	if _, err := s.Ledger.Exec("UPDATE journal_transactions SET transaction_id = CONCAT(transaction_id, '-b') WHERE transaction_id = ? AND origin_account = ?",
		reused, b.accounts[2].id); err != nil {
		t.Fatal(err)
	}
	code, rep, log = s.reconcile(nil)
	if code != 0 || len(rep.Counts) != 0 {
		t.Fatalf("clean system: exit %d, findings %v\n%s", code, rep.Counts, log)
	}
	for _, c := range rep.Checks {
		if c.Checked == 0 && !strings.Contains(c.Name, "dead letter") && !strings.Contains(c.Name, "pending") && !strings.Contains(c.Name, "unpublished") {
			t.Errorf("check %q checked nothing", c.Name)
		}
	}

	// Each class of discrepancy, injected behind the system's back, is
	// reported (and only it), then undone.
	acc := b.accounts[2].id // on shard 2
	accShard := s.Shards[2]
	var posting struct {
		ID, JournalID        int64
		Account, Currency    string
		Amount, BalanceAfter string
		Occurs               time.Time
	}
	if err := s.Ledger.QueryRow(`SELECT e.id, e.journal_id, e.account_id, e.currency, e.amount, e.balance_after, e.occurred_at
		FROM journal_entries e JOIN journal_transactions j ON j.id = e.journal_id
		WHERE j.event_type = 'account.deposited' AND e.account_id = ? ORDER BY e.id LIMIT 1`, acc).Scan(
		&posting.ID, &posting.JournalID, &posting.Account, &posting.Currency, &posting.Amount, &posting.BalanceAfter, &posting.Occurs); err != nil {
		t.Fatal(err)
	}
	var crossShard int
	for i, db := range s.Shards {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM transfers WHERE transaction_id = ?", cross); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			crossShard = i
		}
	}
	var lastOutbox int64
	if err := s.Shards[0].Get(&lastOutbox, "SELECT MAX(id) FROM outbox"); err != nil {
		t.Fatal(err)
	}
	stranger := idOn(3)
	type stmt struct {
		db   *sqlx.DB
		q    string
		args []any
	}
	cases := []struct {
		name         string
		inject, undo []stmt
		want         []string
	}{
		{name: "shard balance changed",
			inject: []stmt{{accShard, "UPDATE accounts SET balance = balance + 7 WHERE account_id = ?", []any{acc}}},
			undo:   []stmt{{accShard, "UPDATE accounts SET balance = balance - 7 WHERE account_id = ?", []any{acc}}},
			want:   []string{"balance_mismatch"}},
		{name: "account the ledger never heard of",
			inject: []stmt{{s.Shards[3], `INSERT INTO accounts (account_id, owner_id, currency, balance, status, version, created_at, updated_at)
				VALUES (?, 'nobody', 'USD', 5, 'active', 1, NOW(6), NOW(6))`, []any{stranger}}},
			undo: []stmt{{s.Shards[3], "DELETE FROM accounts WHERE account_id = ?", []any{stranger}}},
			// and its partition's shards hold 5 more than its ledger wallets
			want: []string{"balance_mismatch", "missing_in_ledger"}},
		{name: "journal posting deleted",
			inject: []stmt{{s.Ledger, "DELETE FROM journal_entries WHERE id = ?", []any{posting.ID}}},
			undo: []stmt{{s.Ledger, `INSERT INTO journal_entries (id, journal_id, account_id, currency, amount, balance_after, occurred_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, []any{posting.ID, posting.JournalID, posting.Account, posting.Currency, posting.Amount, posting.BalanceAfter, posting.Occurs}}},
			want: []string{"entries_mismatch", "unbalanced_journal"}},
		{name: "ledger balance changed",
			inject: []stmt{{s.Ledger, "UPDATE ledger_accounts SET balance = balance + 5 WHERE account_id = ?", []any{acc}}},
			undo:   []stmt{{s.Ledger, "UPDATE ledger_accounts SET balance = balance - 5 WHERE account_id = ?", []any{acc}}},
			// and the partition's balances no longer sum to zero
			want: []string{"balance_mismatch", "conservation", "entries_mismatch", "unbalanced_journal"}},
		{name: "saga left pending",
			inject: []stmt{{s.Shards[crossShard], "UPDATE transfers SET status = 'pending', updated_at = NOW(6) - INTERVAL 1 HOUR WHERE transaction_id = ?", []any{cross}}},
			undo:   []stmt{{s.Shards[crossShard], "UPDATE transfers SET status = 'completed', updated_at = NOW(6) WHERE transaction_id = ?", []any{cross}}},
			want:   []string{"stale_saga"}},
		{name: "outbox row left unpublished",
			inject: []stmt{{s.Shards[0], "UPDATE outbox SET published_at = NULL, occurred_at = NOW(6) - INTERVAL 1 HOUR WHERE id = ?", []any{lastOutbox}}},
			undo:   []stmt{{s.Shards[0], "UPDATE outbox SET published_at = NOW(6) WHERE id = ?", []any{lastOutbox}}},
			want:   []string{"stale_outbox"}},
		{name: "outbox row set aside",
			inject: []stmt{{s.Shards[0], "UPDATE outbox SET published_at = NULL, set_aside_at = NOW(6), attempts = 5, last_error = 'nats: maximum payload exceeded' WHERE id = ?", []any{lastOutbox}}},
			undo:   []stmt{{s.Shards[0], "UPDATE outbox SET published_at = NOW(6), set_aside_at = NULL, attempts = 0, last_error = NULL WHERE id = ?", []any{lastOutbox}}},
			want:   []string{"set_aside_outbox"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, st := range tc.inject {
				mustExec(t, st.db, st.q, st.args...)
			}
			code, rep, log := s.reconcile(nil, "--settle-timeout", "10s")
			for _, st := range tc.undo {
				mustExec(t, st.db, st.q, st.args...)
			}
			if code != 1 || !slices.Equal(rep.kinds(), tc.want) {
				t.Fatalf("exit %d, findings %v; want exit 1 and %v\n%s", code, rep.Counts, tc.want, log)
			}
			var outcome string
			var findings int
			if err := s.Ledger.QueryRow(`SELECT outcome, (SELECT COUNT(*) FROM reconcile_findings WHERE run_id = r.id)
				FROM reconcile_runs r WHERE id = ?`, rep.RunID).Scan(&outcome, &findings); err != nil {
				t.Fatal(err)
			}
			if outcome != "discrepancies" || findings == 0 {
				t.Errorf("run %d recorded as %q with %d findings", rep.RunID, outcome, findings)
			}
		})
	}

	// A message the ledger gives up on.
	s.publishRaw("wallet.0.account.deposited.0", []byte("not an event"))
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		var n int
		if err := s.Ledger.Get(&n, "SELECT COUNT(*) FROM dead_letters"); err != nil || n == 0 {
			return fmt.Errorf("no dead letter yet (%v)", err)
		}
		return nil
	})
	if code, rep, log := s.reconcile(nil); code != 1 || !slices.Equal(rep.kinds(), []string{"dead_letter"}) {
		t.Fatalf("dead letter: exit %d, findings %v\n%s", code, rep.Counts, log)
	}
	// Discarded by the operator's command, it is no longer a finding.
	var dead int64
	if err := s.Ledger.Get(&dead, "SELECT MAX(id) FROM dead_letters"); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := s.Command(nil, "ledger-service", "dead-letters", "discard", fmt.Sprintf("ledger0:%d", dead)); code != 0 {
		t.Fatalf("discard: exit %d\n%s\n%s", code, out, errOut)
	}

	// Undone, the system is clean again; the table is for people.
	code, out, errOut := s.Command(nil, "ledger-service", "reconcile")
	if code != 0 || !strings.Contains(out, "CHECK") || !strings.Contains(out, "clean: no discrepancies") || !strings.Contains(errOut, "reconcile partition 0 accounts:") {
		t.Fatalf("clean again: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// Could not run: exit 2, the reason on stderr, no report.
	for _, env := range [][]string{
		{"WALLET_LEDGER_DATABASES=wallet:wallet@tcp(127.0.0.1:1)/wallet_ledger"},
		{"WALLET_LEDGER_ACCOUNT_SERVICE_URL=http://127.0.0.1:1"},
		{"WALLET_LEDGER_RECONCILE_TOKEN=not-a-token"},
	} {
		code, out, errOut := s.Command(env, "ledger-service", "reconcile")
		if code != 2 || out != "" || !strings.Contains(errOut, "could not run") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and the reason", env, code, out, errOut)
		}
	}
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
