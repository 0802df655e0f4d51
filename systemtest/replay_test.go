package systemtest

import (
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/walletco/wallet/pkg/testenv"
)

// ledgerSnapshot is a ledger's content without surrogate ids and recording
// times: balances, journal transactions, and every account's entries in
// the order they were posted.
func ledgerSnapshot(t *testing.T, dsn string) []string {
	t.Helper()
	return testenv.Rows(t, testenv.MustOpen(t, dsn),
		"SELECT account_id, currency, balance FROM ledger_accounts ORDER BY account_id",
		"SELECT event_id, event_type, COALESCE(transaction_id, ''), COALESCE(origin_account, ''), occurred_at FROM journal_transactions ORDER BY event_id",
		`SELECT e.account_id, j.event_id, e.currency, e.amount, e.balance_after, e.occurred_at
		FROM journal_entries e JOIN journal_transactions j ON j.id = e.journal_id ORDER BY e.account_id, e.id`)
}

// After concurrent transfers on every shard — cross-shard sagas, refunds
// from frozen and mismatched destinations, client retries, a redrive period
// short enough to repeat debits, and the ledger SIGKILLed and restarted
// mid-run so that it gets events again — `ledger-service replay` rebuilds
// from the stream a ledger identical to the live one, and the
// reconciliation job finds the system clean.
func TestReplayAfterConcurrentSagas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test")
	}
	s := New(t, binDir)
	redrive := "WALLET_ACCOUNT_SAGA_REDRIVE_AFTER=300ms"
	s.StartAll(redrive)
	b := newBank(t, s, 24)
	b.run(20, 12, func() {
		time.Sleep(300 * time.Millisecond)
		s.Kill("ledger-service")
		time.Sleep(300 * time.Millisecond)
		s.Start("ledger-service", redrive)
	})
	// What the killed ledger had received comes again after the consumer's
	// AckWait (10 s).
	s.waitLedgerDrained(60 * time.Second)
	b.check()

	target := testenv.Databases(t, 1)[0] // an empty schema on the ledger's server
	cfg, err := mysql.ParseDSN(target)
	if err != nil {
		t.Fatal(err)
	}
	// Every partition (the harness runs one): partition p goes to <schema>_p.
	code, out, errOut := s.Command(nil, "ledger-service", "replay", "--schema", cfg.DBName)
	cfg.DBName += "_0"
	target = cfg.FormatDSN()
	if code != 0 || !strings.Contains(out, "replayed") || !strings.Contains(errOut, "replay WALLET_0:") {
		t.Fatalf("replay: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	live, rebuilt := ledgerSnapshot(t, s.ledgerDSN), ledgerSnapshot(t, target)
	if len(live) != len(rebuilt) {
		t.Fatalf("live ledger has %d rows, the replay %d", len(live), len(rebuilt))
	}
	for i := range live {
		if live[i] != rebuilt[i] {
			t.Fatalf("row %d differs:\n live   %s\n replay %s", i, live[i], rebuilt[i])
		}
	}
	t.Logf("%s", strings.TrimSpace(out))

	if code, rep, log := s.reconcile(nil); code != 0 || len(rep.Counts) != 0 {
		t.Fatalf("reconcile after the run: exit %d, findings %v\n%s", code, rep.Counts, log)
	}
}
