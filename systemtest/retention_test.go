package systemtest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// retentionEnv gives every table a short retention.
var retentionEnv = []string{
	"WALLET_RELAY_OUTBOX_RETENTION=200ms",
	"WALLET_ACCOUNT_INBOX_RETENTION=400ms",
	"WALLET_LEDGER_INBOX_RETENTION=200ms",
}

// Under continuous transfers with retentions of 200-400ms, the outbox and
// inbox tables stay a small fraction of what went through them and empty
// once the load stops, while every event reaches the stream once, every
// saga step and ledger entry is applied once and the ledger agrees with the
// shards.
func TestTablesStayBoundedUnderLoad(t *testing.T) {
	s := New(t, binDir)
	for _, b := range Binaries {
		s.Start(b, retentionEnv...)
	}
	b := newBank(t, s, 16)

	var mu sync.Mutex
	peak := map[string]int{}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			sizes := s.tableSizes()
			mu.Lock()
			for k, v := range sizes {
				peak[k] = max(peak[k], v)
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	b.run(8, 150, nil)
	close(stop)
	<-sampled
	took := time.Since(start)
	b.check()

	// Every row was published once, and only published rows were deleted.
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if _, unpublished := s.outboxRows(); unpublished != 0 {
			return fmt.Errorf("%d rows unpublished", unpublished)
		}
		return nil
	})
	total, _ := s.outboxRows()
	published := s.metric("outbox-relay", "wallet_outbox_published_total")
	deleted := s.metric("outbox-relay", "wallet_outbox_deleted_total")
	msgs := s.streamMsgs()
	if published != float64(msgs) || deleted+float64(total) != published {
		t.Fatalf("stream %d, published %v, deleted %v, kept %d: every row must be published once and only published rows deleted",
			msgs, published, deleted, total)
	}
	s.wantUniqueEventIDs(msgs)

	// Once the load stops, every table empties.
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		for k, v := range s.tableSizes() {
			if v != 0 {
				return fmt.Errorf("%s still holds %d rows", k, v)
			}
		}
		return nil
	})
	sagaDeleted := s.metric("account-service", "wallet_inbox_deleted_total")
	ledgerDeleted := s.metric("ledger-service", "wallet_inbox_deleted_total")
	t.Logf("%d events in %v; peak rows at once: %v; deleted: outbox %v, saga inbox %v, ledger inbox %v",
		msgs, took.Round(100*time.Millisecond), peak, deleted, sagaDeleted, ledgerDeleted)
	for k, v := range peak {
		if v > int(msgs)/2 {
			t.Errorf("%s held %d rows at once of %d events: not pruned under load", k, v, msgs)
		}
	}
	if deleted == 0 || sagaDeleted == 0 || ledgerDeleted == 0 {
		t.Errorf("nothing deleted: outbox %v, saga inbox %v, ledger inbox %v", deleted, sagaDeleted, ledgerDeleted)
	}
}

// tableSizes counts the outbox and saga inbox rows over the shards and the
// ledger's inbox rows.
func (s *System) tableSizes() map[string]int {
	s.t.Helper()
	out := map[string]int{}
	for _, db := range s.Shards {
		var o, i int
		if err := db.Get(&o, "SELECT COUNT(*) FROM outbox"); err != nil {
			s.t.Error(err)
		}
		if err := db.Get(&i, "SELECT COUNT(*) FROM inbox"); err != nil {
			s.t.Error(err)
		}
		out["outbox"] += o
		out["saga inbox"] += i
	}
	var l int
	if err := s.Ledger.Get(&l, "SELECT COUNT(*) FROM inbox"); err != nil {
		s.t.Error(err)
	}
	out["ledger inbox"] = l
	return out
}

// metric sums every series of a counter on a service's /metrics.
func (s *System) metric(service, name string) float64 {
	s.t.Helper()
	res, err := http.Get(s.URL(service) + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			s.t.Fatalf("%s: %q: %v", service, line, err)
		}
		sum += v
	}
	return sum
}

// wantUniqueEventIDs checks that the stream's n messages carry n different
// event ids.
func (s *System) wantUniqueEventIDs(n uint64) {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	st, err := js.Stream(context.Background(), stream.Name)
	if err != nil {
		s.t.Fatal(err)
	}
	seen := map[string]bool{}
	for seq := uint64(1); seq <= n; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			s.t.Fatal(err)
		}
		id := m.Header.Get("Nats-Msg-Id")
		if seen[id] {
			s.t.Fatalf("event %s is in the stream twice", id)
		}
		seen[id] = true
	}
}
