package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// idOn returns a fresh account id that lives on shard sh of 4.
func idOn(sh int) string {
	for {
		id := "acc-" + uuid.NewString()[:8]
		if shard.Of(id, 4) == sh {
			return id
		}
	}
}

func (s *System) mustOpen(id, currency string) {
	s.t.Helper()
	if code, body := s.Do("POST", s.URL("account-service")+"/v1/accounts",
		map[string]string{"account_id": id, "owner_id": "owner-1", "currency": currency}); code != http.StatusCreated {
		s.t.Fatalf("open %s: %d %v", id, code, body)
	}
}

func (s *System) mustMove(kind, id, amount, currency string) {
	s.t.Helper()
	if code, body := s.Do("POST", s.URL("account-service")+"/v1/accounts/"+id+"/"+kind,
		map[string]string{"amount": amount, "currency": currency, "transaction_id": uuid.NewString()}); code != http.StatusOK {
		s.t.Fatalf("%s %s: %d %v", kind, id, code, body)
	}
}

func (s *System) balance(id string) string {
	s.t.Helper()
	code, body := s.Do("GET", s.URL("account-service")+"/v1/accounts/"+id, nil)
	if code != http.StatusOK {
		s.t.Fatalf("get %s: %d %v", id, code, body)
	}
	return body["balance"].(string)
}

// waitLedgerAgrees waits until the ledger's balance of every account equals
// account-service's.
//
// It first waits for the ledger's consumer to have nothing pending, so events
// that cancel out (a debit and its refund) cannot make it agree too early.
func (s *System) waitLedgerAgrees(ids ...string) {
	s.t.Helper()
	// A delivery lost with a broker node or a killed ledger comes again
	// after the ledger consumer's AckWait (10 s), and the ledger, applying
	// the stream in sequence, waits for it: leave room for that.
	testenv.Eventually(s.t, 60*time.Second, 50*time.Millisecond, func() error {
		if n := s.ledgerBacklog(); n > 0 {
			return fmt.Errorf("the ledger has %d events to apply", n)
		}
		for _, id := range ids {
			want := s.balance(id)
			code, body := s.Do("GET", s.URL("ledger-service")+"/v1/ledger/accounts/"+id+"/balance", nil)
			if code != http.StatusOK || body["balance"] != want {
				return fmt.Errorf("account %s: shard balance %s, ledger answered %d %v", id, want, code, body)
			}
		}
		return nil
	})
}

// waitLedgerDrained waits up to timeout until the ledger has acknowledged
// every event.
func (s *System) waitLedgerDrained(timeout time.Duration) {
	s.t.Helper()
	testenv.Eventually(s.t, timeout, 50*time.Millisecond, func() error {
		if n := s.ledgerBacklog(); n > 0 {
			return fmt.Errorf("the ledger has %d events to apply", n)
		}
		return nil
	})
}

// waitPublishedAndApplied waits up to timeout until every outbox row is
// published and the ledger has applied every event: only then does a
// reconcile see no event in flight (a drained ledger alone may not have
// been sent the newest rows yet).
func (s *System) waitPublishedAndApplied(timeout time.Duration) {
	s.t.Helper()
	testenv.Eventually(s.t, timeout, 50*time.Millisecond, func() error {
		if _, n := s.outboxRows(); n > 0 {
			return fmt.Errorf("%d outbox rows unpublished", n)
		}
		return nil
	})
	s.waitLedgerDrained(timeout)
}

// jetStream connects to the system's NATS server (any running node of a
// cluster); close the connection when done.
func (s *System) jetStream() (jetstream.JetStream, *nats.Conn) {
	s.t.Helper()
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		s.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		s.t.Fatal(err)
	}
	return js, nc
}

// partitions is how many event partitions the system runs: its streams
// WALLET_0, WALLET_1, … (the harness runs one unless a test asks for more).
func (s *System) partitions(js jetstream.JetStream) int {
	s.t.Helper()
	sts, err := PartitionStreams(context.Background(), js)
	if err != nil {
		return 0
	}
	return len(sts)
}

// ledgerBacklog is what the ledger's durable consumers (ledger, on each
// partition's stream) have not acknowledged yet: pending plus
// unacknowledged messages (0 before they exist).
func (s *System) ledgerBacklog() uint64 {
	return s.backlog("ledger")
}

// backlog is what durable has not acknowledged yet on every partition's
// stream: pending plus unacknowledged messages (0 where it does not exist).
func (s *System) backlog(durable string) uint64 {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	var n uint64
	for p := range s.partitions(js) {
		c, err := js.Consumer(context.Background(), stream.PartitionName(p), durable)
		if err != nil {
			continue
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return 1 // ask again
		}
		n += info.NumPending + uint64(info.NumAckPending)
	}
	return n
}

// streamMsgs returns how many facts (wallet.<p>.… messages, one per
// outbox row published) the partitions' streams hold; the saga step
// copies are not counted.
func (s *System) streamMsgs() uint64 {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	var n uint64
	for p := range s.partitions(js) {
		st, err := js.Stream(context.Background(), stream.PartitionName(p))
		if err != nil {
			continue
		}
		info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(events.FactRoot+".>"))
		if err != nil {
			s.t.Fatal(err)
		}
		for _, c := range info.State.Subjects {
			n += c
		}
	}
	return n
}

// publishRaw publishes data as is to subject (wallet.<p>.… or saga.<p>.…)
// on its partition's stream.
func (s *System) publishRaw(subject string, data []byte) {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	if _, err := js.Publish(context.Background(), subject, data); err != nil {
		s.t.Fatal(err)
	}
}

// outboxRows counts all and unpublished outbox rows over the shards.
func (s *System) outboxRows() (total, unpublished int) {
	s.t.Helper()
	for _, db := range s.Shards {
		var t, u int
		if err := db.QueryRow("SELECT COUNT(*), COALESCE(SUM(published_at IS NULL),0) FROM outbox").Scan(&t, &u); err != nil {
			s.t.Fatal(err)
		}
		total, unpublished = total+t, unpublished+u
	}
	return total, unpublished
}
