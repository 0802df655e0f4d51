package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/consumer"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/replay"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// history publishes a realistic stream: accounts in two currencies,
// deposits, withdrawals, same-shard transfers, cross-shard sagas that
// complete and that are refunded, redelivered events, redriven steps (same
// business event, new id), a currency conflict and an undecodable message.
func history(t *testing.T, pub func(m *nats.Msg)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	accounts := map[string][]string{"USD": nil, "EUR": nil}
	for i := range 12 {
		cur := []string{"USD", "EUR"}[i%2]
		id := fmt.Sprintf("acc-%02d", i)
		accounts[cur] = append(accounts[cur], id)
		pub(ledgertest.Opened(id, cur).Msg())
		pub(ledgertest.Deposited(id, "500.00", cur).Msg())
	}
	for i := range 300 {
		cur := []string{"USD", "EUR"}[i%2]
		ids := accounts[cur]
		from, to := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
		if from == to {
			continue
		}
		amt := fmt.Sprintf("%d.%02d", 1+rng.IntN(9), rng.IntN(100))
		tx := ledgertest.NewID()
		switch rng.IntN(5) {
		case 0: // same shard
			pub(ledgertest.Transfer(events.TransferCompleted, tx, from, to, amt, cur, 1, 1).Msg())
		case 1: // refunded saga, the debit redriven once
			pub(ledgertest.Transfer(events.TransferDebited, tx, from, to, amt, cur, 1, 2).Msg())
			pub(ledgertest.Transfer(events.TransferDebited, tx, from, to, amt, cur, 1, 2).Msg())
			pub(ledgertest.Transfer(events.TransferCreditRejected, tx, from, to, amt, cur, 1, 2).Msg())
			pub(ledgertest.Transfer(events.TransferFailed, tx, from, to, amt, cur, 1, 2).Msg())
		case 2:
			pub(ledgertest.Withdrawn(from, "0.50", cur).Msg())
		default: // completed saga, its credit redelivered under the same id
			credited := ledgertest.Transfer(events.TransferCredited, tx, from, to, amt, cur, 1, 2)
			pub(ledgertest.Transfer(events.TransferDebited, tx, from, to, amt, cur, 1, 2).Msg())
			pub(credited.Msg())
			again := credited.Msg()
			again.Header.Set(nats.MsgIdHdr, "again-"+credited.ID)
			pub(again)
			pub(ledgertest.Transfer(events.TransferCompleted, tx, from, to, amt, cur, 1, 2).Msg())
		}
	}
	pub(ledgertest.Deposited(accounts["USD"][0], "1.00", "EUR").Msg()) // a conflict: set aside
	garbage := nats.NewMsg("wallet.account.deposited.0")
	garbage.Data = []byte(`not an event`)
	pub(garbage)
	pub(ledgertest.Deposited(accounts["EUR"][0], "3.00", "EUR").Msg()) // behind both, applied
}

// runLive runs the live consumer over store until the stream is drained.
func runLive(t *testing.T, js jetstream.JetStream, store consumer.Applier, db *sqlx.DB) {
	t.Helper()
	runLiveOn(t, js, stream.Name, store, db)
}

// runLiveOn runs the live consumer of stream name over store until the
// stream is drained.
func runLiveOn(t *testing.T, js jetstream.JetStream, name string, store consumer.Applier, db *sqlx.DB) {
	t.Helper()
	c, err := consumer.New(js, store, deadletter.Handler(db, consumer.Name), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.Stream = name
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}()
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		cons, err := js.Consumer(context.Background(), name, consumer.Name)
		if err != nil {
			return err
		}
		info, err := cons.Info(context.Background())
		if err != nil {
			return err
		}
		st, err := js.Stream(context.Background(), name)
		if err != nil {
			return err
		}
		last := st.CachedInfo().State.LastSeq
		if sinfo, err := st.Info(context.Background()); err == nil {
			last = sinfo.State.LastSeq
		}
		// Acknowledged up to the stream's last message: every event settled.
		if info.AckFloor.Stream < last || info.NumAckPending > 0 {
			return fmt.Errorf("live ledger: acknowledged up to %d of %d", info.AckFloor.Stream, last)
		}
		return nil
	})
}

// snapshot is a ledger's content without surrogate ids and recording times:
// balances, journal transactions, and each account's entries in order.
func snapshot(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	return testenv.Rows(t, db,
		"SELECT account_id, currency, balance FROM ledger_accounts ORDER BY account_id",
		"SELECT event_id, event_type, COALESCE(transaction_id, ''), COALESCE(origin_account, ''), occurred_at FROM journal_transactions ORDER BY event_id",
		`SELECT e.account_id, j.event_id, e.currency, e.amount, e.balance_after, e.occurred_at
		FROM journal_entries e JOIN journal_transactions j ON j.id = e.journal_id ORDER BY e.account_id, e.id`)
}

// Replaying the stream into an empty schema reproduces the live ledger
// exactly: every balance, every journal transaction, every entry with its
// balance_after in the same order per account.
func TestReplayEqualsTheLiveLedger(t *testing.T) {
	js := testenv.MustJetStream(t)
	if _, err := stream.Ensure(context.Background(), js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	history(t, func(m *nats.Msg) {
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	})
	live, liveDB := ledgertest.MustStore(t, deadletter.Migrations())
	runLive(t, js, live, liveDB)

	rebuilt, rebuiltDB := ledgertest.MustStore(t, deadletter.Migrations())
	var progress bytes.Buffer
	sum, err := replay.Run(context.Background(), js, rebuilt, replay.Options{Batch: 97, Progress: &progress, Every: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	want, got := snapshot(t, liveDB), snapshot(t, rebuiltDB)
	if len(want) < 500 {
		t.Fatalf("the live ledger holds only %d rows: the history did not apply", len(want))
	}
	if !slices.Equal(want, got) {
		for i := range max(len(want), len(got)) {
			var w, g string
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			if w != g {
				t.Fatalf("row %d differs (of %d live, %d replayed):\n live   %s\n replay %s", i, len(want), len(got), w, g)
			}
		}
	}
	if sum.SetAside != 2 || sum.Duplicates == 0 || sum.Applied == 0 || sum.Events != sum.Applied+sum.Duplicates+sum.SetAside {
		t.Errorf("summary %+v: want 2 set aside, some duplicates, and every event accounted for", sum)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], " / ") || !strings.Contains(lines[len(lines)-1], fmt.Sprintf("replay: %d events", sum.Events)) {
		t.Errorf("progress on stderr:\n%s", progress.String())
	}
}

// A short stream replays whole; an empty one replays nothing.
func TestReplaySmallAndEmptyStreams(t *testing.T) {
	js := testenv.MustJetStream(t)
	if _, err := stream.Ensure(context.Background(), js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []events.Event{ledgertest.Opened("a", "USD"), ledgertest.Deposited("a", "1.00", "USD")} {
		if _, err := js.PublishMsg(context.Background(), e.Msg()); err != nil {
			t.Fatal(err)
		}
	}
	store, _ := ledgertest.MustStore(t, deadletter.Migrations())
	sum, err := replay.Run(context.Background(), js, store, replay.Options{})
	if err != nil || sum.Events != 2 || sum.Applied != 2 {
		t.Fatalf("replay of 2 events: %+v, %v", sum, err)
	}
	empty, _ := ledgertest.MustStore(t, deadletter.Migrations())
	js2 := testenv.MustJetStream(t)
	if _, err := stream.Ensure(context.Background(), js2, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if sum, err := replay.Run(context.Background(), js2, empty, replay.Options{}); err != nil || sum.Events != 0 {
		t.Fatalf("replay of an empty stream: %+v, %v", sum, err)
	}
}

// partitioned publishes a history as the relay does with 4 partitions of 8
// shards: each event as a fact in the partition of the shard that wrote it
// (the account's; a transfer's source for its debit, refund and
// completion, its destination for its credit or rejection), and a saga
// step copy in the partition of the shard that acts next when that is
// another. A message that is no event goes to partition 0.
func partitioned(t *testing.T, js jetstream.JetStream, shards, partitions int) func(m *nats.Msg) {
	return func(m *nats.Msg) {
		t.Helper()
		part := func(acc string) int { return ledgertest.PartitionOf(acc, shards, partitions) }
		topic := m.Subject
		fact, next := 0, -1
		if e, err := events.FromMsg(m.Subject, m.Header, m.Data); err == nil {
			switch e.Type {
			case events.AccountOpened:
				a, _ := events.Decode[events.Account](e)
				fact = part(a.AccountID)
			case events.AccountDeposited, events.AccountWithdrawn:
				mv, _ := events.Decode[events.Movement](e)
				fact = part(mv.AccountID)
			default:
				tr, _ := events.Decode[events.Transfer](e)
				fact, next = part(tr.FromAccount), part(tr.ToAccount)
				if e.Type == events.TransferCredited || e.Type == events.TransferCreditRejected {
					fact, next = next, fact
				}
			}
		}
		pub := func(subject string) {
			c := nats.NewMsg(subject)
			c.Header, c.Data = m.Header, m.Data
			if _, err := js.PublishMsg(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
		pub(events.FactSubject(fact, topic))
		if next >= 0 && next != fact {
			pub(events.StepSubject(next, topic))
		}
	}
}

// Replaying every partition's stream into empty schemas reproduces each
// partition's live journal exactly, saga step copies included (they take
// their turn and book nothing); and the partitions' journals together
// balance, with each partition's @in_flight its clearing account.
func TestReplayOfEveryPartitionEqualsTheLiveLedger(t *testing.T) {
	const partitions, shards = 4, 8
	js := testenv.MustJetStream(t)
	ledgertest.Streams(t, js, partitions)
	history(t, partitioned(t, js, shards, partitions))
	rows, steps := 0, 0
	for p := range partitions {
		name := stream.PartitionName(p)
		st, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(events.StepRoot+".>")); err == nil {
			steps += int(info.State.Msgs)
		}
		live, liveDB := ledgertest.MustStore(t, deadletter.Migrations())
		runLiveOn(t, js, name, live, liveDB)
		rebuilt, rebuiltDB := ledgertest.MustStore(t, deadletter.Migrations())
		if _, err := replay.Run(context.Background(), js, rebuilt, replay.Options{Batch: 53, Stream: name}); err != nil {
			t.Fatal(err)
		}
		want, got := snapshot(t, liveDB), snapshot(t, rebuiltDB)
		if !slices.Equal(want, got) {
			t.Fatalf("partition %d: the replay differs from the live journal (%d live rows, %d replayed)", p, len(want), len(got))
		}
		rows += len(want)
		var unbalanced int
		if err := liveDB.Get(&unbalanced, `SELECT COUNT(*) FROM (SELECT currency FROM ledger_accounts
			GROUP BY currency HAVING SUM(balance) <> 0) u`); err != nil || unbalanced != 0 {
			t.Errorf("partition %d: %d currencies whose balances do not sum to zero (%v)", p, unbalanced, err)
		}
	}
	if rows < 500 || steps == 0 {
		t.Fatalf("%d rows in the partitions, %d saga step copies: the history did not spread", rows, steps)
	}
}
