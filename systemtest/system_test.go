package systemtest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/testenv"
)

// HTTP → MySQL (balances and outbox in one transaction) → relay → JetStream →
// ledger consumer: the ledger ends up agreeing with the shards.
func TestTransferEndToEnd(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll()
	alice, bob := idOn(2), idOn(2)
	s.mustOpen(alice, "USD")
	s.mustOpen(bob, "USD")
	s.mustMove("deposits", alice, "100.00", "USD")
	code, body := s.Do("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", map[string]string{
		"from_account": alice, "to_account": bob, "amount": "40.50", "currency": "USD", "transaction_id": uuid.NewString()})
	if code != http.StatusOK || body["status"] != "success" {
		t.Fatalf("transfer: %d %v", code, body)
	}
	s.mustMove("withdrawals", bob, "0.50", "USD")
	if s.balance(alice) != "59.50" || s.balance(bob) != "40.00" {
		t.Fatalf("balances %s / %s", s.balance(alice), s.balance(bob))
	}
	s.waitLedgerAgrees(alice, bob)
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if total, unpublished := s.outboxRows(); unpublished != 0 || uint64(total) != s.streamMsgs() {
			return fmt.Errorf("outbox %d rows, %d unpublished, stream %d", total, unpublished, s.streamMsgs())
		}
		return nil
	})
}

// The relay is SIGKILLed after JetStream acknowledged a batch and before the
// rows were marked published. Its successor publishes the batch again; the
// stream must drop every copy and the ledger must apply each event once.
func TestRelayKilledBeforeMarkingDeliversOnce(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.Start("account-service")
	s.Start("ledger-service")
	ids := []string{idOn(0), idOn(0), idOn(1)}
	for _, id := range ids {
		s.mustOpen(id, "KRW")
		s.mustMove("deposits", id, "5000", "KRW")
	}
	s.mustMove("withdrawals", ids[2], "1200", "KRW")
	code, body := s.Do("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", map[string]string{
		"from_account": ids[0], "to_account": ids[1], "amount": "700", "currency": "KRW", "transaction_id": uuid.NewString()})
	if code != http.StatusOK {
		t.Fatalf("transfer: %d %v", code, body)
	}
	total, _ := s.outboxRows()

	s.Start("outbox-relay", "WALLET_TEST_STALL_AFTER_PUBLISH=true")
	testenv.Eventually(t, 60*time.Second, 20*time.Millisecond, func() error {
		if got := s.streamMsgs(); got != uint64(total) {
			return fmt.Errorf("stream holds %d of %d events", got, total)
		}
		return nil
	})
	if _, unpublished := s.outboxRows(); unpublished != total {
		t.Fatalf("the stalled relay marked rows: %d of %d unpublished", unpublished, total)
	}
	s.Kill("outbox-relay")

	s.Start("outbox-relay")
	testenv.Eventually(t, 60*time.Second, 20*time.Millisecond, func() error {
		if _, unpublished := s.outboxRows(); unpublished != 0 {
			return fmt.Errorf("%d rows unpublished", unpublished)
		}
		return nil
	})
	if got := s.streamMsgs(); got != uint64(total) {
		t.Fatalf("stream holds %d messages for %d events: a re-publish got through", got, total)
	}
	s.waitLedgerAgrees(ids...)
	var applied int
	if err := s.Ledger.Get(&applied, "SELECT COUNT(*) FROM inbox WHERE consumer = 'ledger'"); err != nil {
		t.Fatal(err)
	}
	if applied != total {
		t.Fatalf("ledger processed %d events, want %d", applied, total)
	}
}
