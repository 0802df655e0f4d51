package systemtest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/testenv"
)

// A cross-shard transfer completes through the saga; a transfer to a frozen
// account on another shard fails and is refunded; shards and ledger agree.
func TestCrossShardSaga(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll()
	src, dst, frozen := idOn(0), idOn(1), idOn(3)
	s.mustOpen(src, "USD")
	s.mustOpen(dst, "USD")
	s.mustOpen(frozen, "USD")
	s.mustMove("deposits", src, "100.00", "USD")
	if code, body := s.Do("PATCH", s.URL("account-service")+"/v1/accounts/"+frozen, map[string]string{"status": "frozen"}); code != 200 {
		t.Fatalf("freeze: %d %v", code, body)
	}

	// A message nobody can decode, addressed to the destination's saga
	// consumer, must be set aside without blocking the transfer behind it.
	s.publishRaw("wallet.0.transfer.debited.1", []byte("not a cloudevent")) // partition 0: the harness runs one

	okID := uuid.NewString()
	code, body := s.Do("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", map[string]string{
		"from_account": src, "to_account": dst, "amount": "30.00", "currency": "USD", "transaction_id": okID})
	if code != http.StatusOK || body["status"] != "success" {
		t.Fatalf("cross-shard transfer: %d %v", code, body)
	}
	failID := uuid.NewString()
	code, body = s.Do("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", map[string]string{
		"from_account": src, "to_account": frozen, "amount": "10.00", "currency": "USD", "transaction_id": failID})
	if code != http.StatusUnprocessableEntity || body["code"] != "account_frozen" || body["transaction_id"] != failID ||
		body["status"] != float64(422) || body["transfer_status"] != "failed" {
		t.Fatalf("transfer to a frozen account: %d %v", code, body)
	}
	if s.balance(src) != "70.00" || s.balance(dst) != "30.00" || s.balance(frozen) != "0.00" {
		t.Fatalf("balances %s %s %s", s.balance(src), s.balance(dst), s.balance(frozen))
	}

	// Both shards' records.
	var srcStatus, dstStatus string
	if err := s.Shards[0].Get(&srcStatus, "SELECT status FROM transfers WHERE transaction_id = ?", okID); err != nil || srcStatus != "completed" {
		t.Fatalf("source record %q %v", srcStatus, err)
	}
	if err := s.Shards[1].Get(&dstStatus, "SELECT status FROM credits WHERE transaction_id = ?", okID); err != nil || dstStatus != "credited" {
		t.Fatalf("destination record %q %v", dstStatus, err)
	}
	code, body = s.Do("GET", s.URL("account-service")+"/v1/wallet/transfers/"+failID, nil)
	steps, _ := body["steps"].([]any)
	if code != 200 || body["status"] != "failed" || body["reason"] != "account_frozen" || len(steps) != 3 {
		t.Fatalf("failed transfer record: %d %v", code, body)
	}

	// Replays answer the stored outcome, after the saga ended too.
	for _, id := range []string{okID, failID} {
		to, amount := dst, "30.00"
		if id == failID {
			to, amount = frozen, "10.00"
		}
		c1, b1 := s.Do("GET", s.URL("account-service")+"/v1/wallet/transfers/"+id, nil)
		c2, b2 := s.Do("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", map[string]string{
			"from_account": src, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": id})
		if c1 != 200 || (id == okID && (c2 != 200 || b2["status"] != "success")) || (id == failID && (c2 != 422 || b2["code"] != "account_frozen")) {
			t.Fatalf("replay of %s (%v): %d %v", id, b1["status"], c2, b2)
		}
	}
	if s.balance(src) != "70.00" {
		t.Fatalf("replays moved money: source %s", s.balance(src))
	}
	var dead int
	if err := s.Shards[1].Get(&dead, "SELECT COUNT(*) FROM dead_letters WHERE consumer = 'saga@WALLET_0'"); err != nil || dead != 1 {
		t.Fatalf("dead letters on shard 1: %d (%v), want the poison message", dead, err)
	}

	s.waitLedgerAgrees(src, dst, frozen)
	// The ledger shows the debit and the refund of the failed transfer, once
	// it has applied them (its balances agreed before them too).
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		code, body := s.Do("GET", s.URL("ledger-service")+"/v1/ledger/transfers/"+failID, nil)
		if code != 200 {
			return fmt.Errorf("ledger transfer: %d %v", code, body)
		}
		seen := map[string]string{}
		for _, j := range body["journals"].([]any) {
			jm := j.(map[string]any)
			for _, e := range jm["entries"].([]any) {
				em := e.(map[string]any)
				if em["account_id"] == src {
					seen[jm["event_type"].(string)] = em["amount"].(string)
				}
			}
		}
		if seen["transfer.debited"] != "-10.00" || seen["transfer.failed"] != "10.00" {
			return fmt.Errorf("ledger entries of the source for the failed transfer: %v", seen)
		}
		return nil
	})
	s.waitInFlightZero("USD")
}

// waitInFlightZero waits until the ledger holds no money in flight.
func (s *System) waitInFlightZero(cur string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := s.Do("GET", s.URL("ledger-service")+"/v1/ledger/accounts/@in_flight:"+cur+"/balance", nil)
		if code == 200 && (body["balance"] == "0.00" || body["balance"] == "0") {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("money in flight in %s: %d %v", cur, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConcurrentTransfers(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll()
	b := newBank(t, s, 24)
	b.run(50, 12, nil)
	b.check()
}

// account-service is SIGKILLed in the middle of the run, with group-commit
// batches in flight, and restarted: every request answered 200 is durable,
// clients retry unanswered ones with the same transaction_id and they move
// money at most once, every saga still ends, and nothing is lost or
// doubled (bank.check and bank.checkAnswers).
func TestConcurrentTransfersWithAccountServiceRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test")
	}
	s := New(t, binDir)
	// A short redrive period makes the redriver repeat debits of sagas that
	// are merely slow: every consumer must absorb the repeats.
	redrive := "WALLET_ACCOUNT_SAGA_REDRIVE_AFTER=300ms"
	s.StartAll(redrive)
	b := newBank(t, s, 24)
	b.run(50, 12, func() {
		time.Sleep(300 * time.Millisecond)
		s.Kill("account-service")
		time.Sleep(500 * time.Millisecond)
		s.Start("account-service", redrive)
	})
	b.check()
	fmt.Println("requests retried after errors:", b.retries.Load())
}
