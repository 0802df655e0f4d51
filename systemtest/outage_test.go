package systemtest

import (
	"net/http"
	"testing"
	"time"
)

// MariaDB unreachable for some seconds while transfers run, then NATS: the
// API answers 503 unavailable (never 500) while the database is away and
// keeps answering while the broker is (the outbox holds the events: same-
// shard transfers complete, cross-shard ones wait pending); afterwards
// the relay, the saga consumers and the ledger catch up, every saga ends
// and nothing is lost or doubled (bank.check).
func TestOutagesOfMariaDBAndNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test")
	}
	const outage = 5 * time.Second
	s := NewBehindProxy(t, binDir)
	env := []string{"WALLET_ACCOUNT_TRANSFER_WAIT=300ms", "WALLET_ACCOUNT_SAGA_REDRIVE_AFTER=2s"}
	for _, b := range Binaries {
		s.Start(b, env...)
	}
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
