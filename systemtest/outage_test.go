package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// MariaDB unreachable for some seconds while transfers run, then NATS: the
// API answers 503 unavailable (never 500) while the database is away and
// keeps answering while the broker is (the outbox holds the events: same-
// shard transfers complete, cross-shard ones wait pending); afterwards
// the relay, the saga consumers and the ledger catch up, every saga ends
// and nothing is lost or doubled (bank.check).
func TestOutagesOfMariaDBAndNATS(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("outage test")
	}
	const outage = 10 * time.Second // what the issue asks: 10 s without each
	s := NewBehindProxy(t, binDir)
	env := []string{"WALLET_ACCOUNT_TRANSFER_WAIT=300ms", "WALLET_ACCOUNT_SAGA_REDRIVE_AFTER=2s"}
	s.StartAll(env...)
	b := newBank(t, s, 24)

	b.run(20, 10, func() {
		time.Sleep(200 * time.Millisecond)
		s.DB.Cut()
		// The shards are gone: an answer now is a 503 problem.
		code, body := s.Do("GET", s.URL("account-service")+"/v1/accounts/"+b.accounts[0].id, nil)
		if code != http.StatusServiceUnavailable || body["code"] != "unavailable" {
			t.Errorf("GET account while MariaDB is down: %d %v, want 503 unavailable", code, body)
		}
		time.Sleep(outage)
		s.DB.Restore()
	})
	if b.errors[http.StatusInternalServerError] > 0 || b.errors[http.StatusServiceUnavailable] == 0 {
		t.Errorf("answers while MariaDB was down: %v, want 503s and no 500", b.errors)
	}
	t.Logf("MariaDB outage: 5xx answers %v", b.errors)

	b.run(20, 10, func() {
		time.Sleep(200 * time.Millisecond)
		s.StopNATS()
		time.Sleep(outage)
		s.StartNATS()
	})
	t.Logf("after the NATS outage: 5xx answers %v, retries %d", b.errors, b.retries.Load())
	b.check()
	if b.errors[http.StatusInternalServerError] > 0 {
		t.Errorf("500 answers: %v", b.errors)
	}
}

// Deleting a saga consumer and the ledger's while transfers run (an
// operator's mistake): both are recreated, account-service's and
// ledger-service's /readyz list them running again with one restart each,
// and every saga ends with nothing lost or doubled.
func TestDeletedConsumersComeBack(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll("WALLET_ACCOUNT_TRANSFER_WAIT=300ms")
	b := newBank(t, s, 16)
	b.run(10, 10, func() {
		time.Sleep(200 * time.Millisecond)
		js, nc := s.jetStream()
		defer nc.Close()
		for _, name := range []string{"saga", "ledger"} {
			if err := js.DeleteConsumer(context.Background(), stream.PartitionName(0), name); err != nil {
				t.Errorf("delete %s on %s: %v", name, stream.PartitionName(0), err)
			}
		}
	})
	for svc, name := range map[string]string{"account-service": "saga", "ledger-service": "ledger"} {
		testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
			code, body := s.Do("GET", s.URL(svc)+"/readyz", nil)
			// By stream, then durable: {"WALLET_0": {"saga": {...}}}.
			consumers, _ := body["consumers"].(map[string]any)
			onStream, _ := consumers[stream.PartitionName(0)].(map[string]any)
			c, _ := onStream[name].(map[string]any)
			if code != http.StatusOK || c["state"] != "running" || c["restarts"] != float64(1) {
				return fmt.Errorf("%s /readyz: %d %v", svc, code, body)
			}
			return nil
		})
	}
	b.check()
}
