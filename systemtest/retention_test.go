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
	t.Parallel()
	s := New(t, binDir)
	s.StartAll(retentionEnv...)
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
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
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
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
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
	seen := map[string]bool{}
	for p := range s.partitions(js) {
		for _, m := range facts(s.partitionMessages(js, p)) {
			id := m.headers["Nats-Msg-Id"]
			if seen[id] {
				s.t.Fatalf("event %s is in the streams twice", id)
			}
			seen[id] = true
		}
	}
	if uint64(len(seen)) != n {
		s.t.Fatalf("the streams hold %d facts, want %d", len(seen), n)
	}
}

// After the stream's duplicate window, "outbox-relay republish" sends every
// kept row again under a new stream sequence. The ledger, whose inbox rows
// are long pruned, applies the copies in its strict sequence and skips each
// by its business key (or as a no-op: account.opened, status changes); the
// saga consumers still find their inbox rows and emit nothing again. No
// balance, journal, entry or credit changes.
func TestRepublishChangesNothing(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	env := []string{"WALLET_NATS_DUPLICATE_WINDOW=3s", "WALLET_RELAY_PUBLISH_TIMEOUT=1s", "WALLET_LEDGER_INBOX_RETENTION=200ms"}
	s.StartAll(env...)
	b := newBank(t, s, 8)
	b.run(4, 20, nil)
	b.check()
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if _, unpublished := s.outboxRows(); unpublished != 0 {
			return fmt.Errorf("%d rows unpublished", unpublished)
		}
		if n := s.tableSizes()["ledger inbox"]; n != 0 {
			return fmt.Errorf("the ledger's inbox holds %d rows", n)
		}
		return nil
	})
	before := s.ledgerFacts()
	rows, _ := s.outboxRows()
	msgs := s.streamMsgs()
	if uint64(rows) != msgs {
		t.Fatalf("outbox %d rows, stream %d messages", rows, msgs)
	}
	time.Sleep(3500 * time.Millisecond) // let the duplicate window pass: the copies are new to the stream

	code, out, errOut := s.Command(env, "outbox-relay", "republish", "--since", "10m")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("total: %d events published again, %d new to the stream", rows, rows)) {
		t.Fatalf("republish: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := s.streamMsgs(); got != 2*msgs {
		t.Fatalf("stream holds %d messages, want %d", got, 2*msgs)
	}
	s.waitLedgerDrained(30 * time.Second)
	s.waitSagasDrained()
	var pos uint64
	if err := s.Ledger.Get(&pos, "SELECT stream_seq FROM ledger_position"); err != nil || pos != 2*msgs {
		t.Fatalf("ledger position %d (%v), want %d: every copy takes its turn", pos, err, 2*msgs)
	}
	if after := s.ledgerFacts(); after != before {
		t.Fatalf("the copies changed the ledger: before %v, after %v", before, after)
	}
	if got, _ := s.outboxRows(); got != rows {
		t.Fatalf("the outbox holds %d rows, was %d: a saga step answered a copy again", got, rows)
	}
	b.check()
}

// ledgerFacts sums up the ledger's and the shards' money records.
func (s *System) ledgerFacts() string {
	s.t.Helper()
	var journals, entries int
	var sum string
	if err := s.Ledger.QueryRow("SELECT (SELECT COUNT(*) FROM journal_transactions), COUNT(*), COALESCE(SUM(ABS(amount)), 0) FROM journal_entries").
		Scan(&journals, &entries, &sum); err != nil {
		s.t.Fatal(err)
	}
	credits := 0
	for _, db := range s.Shards {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM credits"); err != nil {
			s.t.Fatal(err)
		}
		credits += n
	}
	return fmt.Sprintf("%d journals, %d entries moving %s, %d credits", journals, entries, sum, credits)
}

// waitSagasDrained waits until every saga consumer acknowledged everything.
func (s *System) waitSagasDrained() {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	testenv.Eventually(s.t, 60*time.Second, 50*time.Millisecond, func() error {
		for p := range s.partitions(js) {
			c, err := js.Consumer(context.Background(), stream.PartitionName(p), "saga")
			if err != nil {
				return err
			}
			info, err := c.Info(context.Background())
			if err != nil {
				return err
			}
			if n := info.NumPending + uint64(info.NumAckPending); n > 0 {
				return fmt.Errorf("saga on %s has %d messages to settle", stream.PartitionName(p), n)
			}
		}
		return nil
	})
}
