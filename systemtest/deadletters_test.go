package systemtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/testenv"
)

// A deposit the ledger cannot post (it holds the account in another
// currency) becomes a dead letter; "ledger-service dead-letters" lists and
// shows it, and once the cause is fixed replays it: applied exactly once, in
// its turn in the stream, and a second replay is refused.
func TestDeadLetterReplayedOnceAfterFix(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll()
	acc := idOn(1)
	s.mustOpen(acc, "USD")
	s.waitLedgerAgrees(acc)
	// The cause: the ledger holds the account in EUR.
	if res, err := s.Ledger.Exec("UPDATE ledger_accounts SET currency = 'EUR' WHERE account_id = ?", acc); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("the ledger does not know %s", acc)
	}
	s.mustMove("deposits", acc, "10.00", "USD")

	var id int64
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if err := s.Ledger.Get(&id, "SELECT COALESCE(MAX(id), 0) FROM dead_letters WHERE consumer = 'ledger'"); err != nil || id == 0 {
			return fmt.Errorf("no dead letter yet (%v)", err)
		}
		return nil
	})
	ref := fmt.Sprintf("ledger0:%d", id) // partition 0: the harness runs one
	code, out, errOut := s.Command(nil, "ledger-service", "dead-letters", "list")
	if code != 0 || !strings.Contains(out, ref) || !strings.Contains(out, "wallet.0.account.deposited.1") ||
		!strings.Contains(out, "open") || !strings.Contains(out, "holds EUR") {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = s.Command(nil, "ledger-service", "dead-letters", "show", ref)
	if code != 0 || !strings.Contains(out, "ce-type: wallet.account.deposited.v1") || !strings.Contains(out, `"amount":"10.00"`) {
		t.Fatalf("show: exit %d\n%s\n%s", code, out, errOut)
	}

	// Fixed: the ledger holds it in USD again. Replayed, the deposit is
	// applied once.
	mustExec(t, s.Ledger, "UPDATE ledger_accounts SET currency = 'USD' WHERE account_id = ?", acc)
	if code, out, errOut := s.Command(nil, "ledger-service", "dead-letters", "replay", ref); code != 0 || !strings.Contains(out, "replayed "+ref) {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	s.waitLedgerAgrees(acc)
	if code, out, errOut := s.Command(nil, "ledger-service", "dead-letters", "replay", ref); code != 1 || !strings.Contains(errOut, "already handled") {
		t.Fatalf("second replay: exit %d, want 1 (handled)\n%s\n%s", code, out, errOut)
	}
	// Later events go on in their turn, and the replay was applied once.
	s.mustMove("deposits", acc, "1.00", "USD")
	s.waitLedgerAgrees(acc)
	var entries int
	if err := s.Ledger.Get(&entries, "SELECT COUNT(*) FROM journal_entries WHERE account_id = ?", acc); err != nil || entries != 2 {
		t.Fatalf("%d journal entries on %s (err %v), want 2: the deposit once, then the next one", entries, acc, err)
	}
	if code, body := s.Do("GET", s.URL("ledger-service")+"/v1/ledger/accounts/"+acc+"/balance", nil); code != http.StatusOK || body["balance"] != "11.00" {
		t.Fatalf("ledger balance: %d %v, want 11.00", code, body)
	}

	code, out, _ = s.Command(nil, "ledger-service", "dead-letters", "list")
	if code != 0 || strings.Contains(out, ref) {
		t.Fatalf("a replayed dead letter is still listed as open:\n%s", out)
	}
	code, out, _ = s.Command(nil, "ledger-service", "dead-letters", "list", "--all")
	if code != 0 || !strings.Contains(out, ref) || !strings.Contains(out, "replayed") {
		t.Fatalf("list --all: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"dead-letters", "show", "ledger0:999999"}, 1},
		{[]string{"dead-letters", "discard", "shard9:1"}, 1},
		{[]string{"dead-letters", "discard", ref}, 1},
		{[]string{"dead-letters", "replay", "12"}, 2},
		{[]string{"dead-letters", "frobnicate"}, 2},
		{[]string{"dead-letters"}, 2},
	} {
		if code, out, errOut := s.Command(nil, "ledger-service", tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s\n%s", tc.args, code, tc.code, out, errOut)
		}
	}
}
