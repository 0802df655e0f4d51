package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// instance is one ledger-service of a test, running until stopped.
type instance struct {
	a      *app.App
	cancel context.CancelFunc
	done   chan error
}

func startInstance(t *testing.T, cfg config.LedgerService) *instance {
	t.Helper()
	a, err := app.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- a.Run(ctx) }()
	t.Cleanup(in.stop)
	return in
}

// stop ends the instance gracefully (it releases its leases); a second
// call does nothing.
func (in *instance) stop() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	<-in.done
	in.a.Close()
	in.cancel = nil
}

// kill ends the instance as a crash would for the others: its NATS
// connection closes first, so it neither renews nor releases its leases.
func (in *instance) kill() {
	in.a.Close()
	in.cancel()
	<-in.done
	in.cancel = nil
}

// publishTo publishes evts as facts of account's partition.
func publishTo(t *testing.T, js jetstream.JetStream, p int, evts ...events.Event) {
	t.Helper()
	for _, e := range evts {
		if _, err := js.PublishMsg(context.Background(), ledgertest.Fact(e, p)); err != nil {
			t.Fatal(err)
		}
	}
}

// caughtUp checks that every partition's position is its stream's last
// message and that it journaled exactly want[p] events: nothing applied
// twice, nothing left out.
func caughtUp(js jetstream.JetStream, dbs []*sqlx.DB, want []int) error {
	for p, db := range dbs {
		s, err := js.Stream(context.Background(), stream.PartitionName(p))
		if err != nil {
			return err
		}
		var pos, journals int
		if err := db.Get(&pos, "SELECT COALESCE(stream_seq, 0) FROM ledger_position"); err != nil {
			return err
		}
		if err := db.Get(&journals, "SELECT COUNT(*) FROM journal_transactions"); err != nil {
			return err
		}
		if last := s.CachedInfo().State.LastSeq; uint64(pos) != last || journals != want[p] {
			return fmt.Errorf("partition %d: position %d of %d, %d journal transactions, want %d", p, pos, last, journals, want[p])
		}
	}
	return nil
}

// Two instances divide four partitions, two each; a crashed instance's
// partitions are taken by the other within about 1⅓ lease TTL; every event
// is applied once, in its partition, and a saga step copy books nothing.
func TestInstancesDividePartitionsAndTakeOver(t *testing.T) {
	const partitions = 4
	natsSrv := testenv.NATS(t)
	dsns := testenv.Databases(t, partitions)
	cfg := testConfig(natsSrv.ClientURL(), dsns...)
	js := streamsFor(t, cfg)
	dbs := make([]*sqlx.DB, partitions)
	for p, dsn := range dsns {
		dbs[p] = testenv.MustOpen(t, dsn)
	}

	a, b := startInstance(t, cfg), startInstance(t, cfg)
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		ha, hb := a.a.Held(), b.a.Held()
		if len(ha) != 2 || len(hb) != 2 || slices.ContainsFunc(ha, func(p int) bool { return slices.Contains(hb, p) }) {
			return fmt.Errorf("held: a %v, b %v", ha, hb)
		}
		return nil
	})
	t.Logf("a holds %v, b holds %v", a.a.Held(), b.a.Held())

	// Accounts in every partition, a deposit each, and a transfer across
	// two partitions with the saga step copy in the destination's.
	journals := make([]int, partitions)
	byPartition := map[int][]string{}
	for i := 0; len(byPartition) < partitions || i < 16; i++ {
		acc := fmt.Sprintf("acc-%d", i)
		p := ledgertest.PartitionOf(acc, testShards, partitions)
		byPartition[p] = append(byPartition[p], acc)
		publishTo(t, js, p, ledgertest.Opened(acc, "USD"), ledgertest.Deposited(acc, "100", "USD"))
		journals[p]++
	}
	from, to := byPartition[0][0], byPartition[3][0]
	tx := ledgertest.NewID()
	debited := ledgertest.Transfer(events.TransferDebited, tx, from, to, "30", "USD", 0, testShards-1)
	credited := ledgertest.Transfer(events.TransferCredited, tx, from, to, "30", "USD", 0, testShards-1)
	publishTo(t, js, 0, debited)
	if _, err := js.PublishMsg(context.Background(), ledgertest.Step(debited, 3)); err != nil {
		t.Fatal(err)
	}
	publishTo(t, js, 3, credited)
	journals[0]++
	journals[3]++
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error { return caughtUp(js, dbs, journals) })
	base := "http://" + a.a.Addr()
	for acc, want := range map[string]string{from: "70.00", to: "130.00", "@in_flight:USD": "0.00"} {
		var bal struct{ Balance string }
		if code, err := getJSON(base+"/v1/ledger/accounts/"+acc+"/balance", &bal); err != nil || code != http.StatusOK || bal.Balance != want {
			t.Errorf("balance of %s: %d %+v %v, want %s", acc, code, bal, err, want)
		}
	}
	var inFlight0 string
	if err := dbs[0].Get(&inFlight0, "SELECT balance FROM ledger_accounts WHERE account_id = '@in_flight:USD'"); err != nil || inFlight0 != "30.0000" {
		t.Errorf("partition 0's @in_flight:USD = %s (%v), want 30.0000: the partition's clearing account", inFlight0, err)
	}

	// a crashes: b takes its partitions once their leases expire.
	killed := time.Now()
	a.kill()
	testenv.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		if h := b.a.Held(); len(h) != partitions {
			return fmt.Errorf("b holds %v", h)
		}
		return nil
	})
	took := time.Since(killed)
	t.Logf("b took the crashed instance's partitions after %v (lease TTL %v)", took, cfg.Ledger.LeaseTTL)
	if took > 2*cfg.Ledger.LeaseTTL {
		t.Errorf("takeover after %v, want within about 1⅓ lease TTL (%v)", took, cfg.Ledger.LeaseTTL)
	}
	for p, accs := range byPartition {
		publishTo(t, js, p, ledgertest.Deposited(accs[0], "1", "USD"))
		journals[p]++
	}
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error { return caughtUp(js, dbs, journals) })
	var code int
	var body map[string]any
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		var err error
		code, err = getJSON("http://"+b.a.Addr()+"/readyz", &body)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("readyz %d %v %v", code, body, err)
		}
		return nil
	})

	// A new instance joins: b gives half up, the newcomer takes it.
	c := startInstance(t, cfg)
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if hb, hc := b.a.Held(), c.a.Held(); len(hb) != 2 || len(hc) != 2 {
			return fmt.Errorf("held: b %v, c %v", hb, hc)
		}
		return nil
	})

	// c stops: it releases its leases, and b takes them at its next try.
	stopped := time.Now()
	c.stop()
	testenv.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		if h := b.a.Held(); len(h) != partitions {
			return fmt.Errorf("b holds %v", h)
		}
		return nil
	})
	t.Logf("b took the stopped instance's partitions after %v", time.Since(stopped))
	if took := time.Since(stopped); took > cfg.Ledger.LeaseTTL {
		t.Errorf("takeover after a stop took %v, want within a lease TTL (released leases are taken at the next try)", took)
	}
}

// Instances limited to a list (ledger.partitions) apply only their list's
// partitions: with the instance of the other partitions gone, theirs stay
// unapplied rather than taken over. Two instances of one list divide it
// and take over from each other.
func TestInstanceAppliesOnlyItsListedPartitions(t *testing.T) {
	const partitions = 4
	natsSrv := testenv.NATS(t)
	dsns := testenv.Databases(t, partitions)
	cfg := testConfig(natsSrv.ClientURL(), dsns...)
	js := streamsFor(t, cfg)
	dbs := make([]*sqlx.DB, partitions)
	for p, dsn := range dsns {
		dbs[p] = testenv.MustOpen(t, dsn)
	}
	low, high := cfg, cfg
	low.Ledger.Partitions, high.Ledger.Partitions = []int{0, 1}, []int{2, 3}

	// Each alone in its list's group: each holds its whole list, though
	// two instances are alive.
	a, b := startInstance(t, low), startInstance(t, high)
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if ha, hb := a.a.Held(), b.a.Held(); !slices.Equal(ha, []int{0, 1}) || !slices.Equal(hb, []int{2, 3}) {
			return fmt.Errorf("held: a %v, b %v; want [0 1] and [2 3]", ha, hb)
		}
		return nil
	})
	journals := make([]int, partitions)
	byPartition := map[int][]string{}
	for i := 0; len(byPartition) < partitions; i++ {
		acc := fmt.Sprintf("acc-%d", i)
		p := ledgertest.PartitionOf(acc, testShards, partitions)
		if len(byPartition[p]) > 0 {
			continue
		}
		byPartition[p] = append(byPartition[p], acc)
		publishTo(t, js, p, ledgertest.Opened(acc, "USD"), ledgertest.Deposited(acc, "100", "USD"))
		journals[p]++
	}
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error { return caughtUp(js, dbs, journals) })

	// b stops and releases 2 and 3: a, limited to 0 and 1, leaves them.
	b.stop()
	for p, accs := range byPartition {
		publishTo(t, js, p, ledgertest.Deposited(accs[0], "1", "USD"))
	}
	journals[0]++
	journals[1]++
	deadline := time.Now().Add(3 * cfg.Ledger.LeaseTTL)
	for time.Now().Before(deadline) {
		if h := a.a.Held(); !slices.Equal(h, []int{0, 1}) {
			t.Fatalf("a holds %v, want only its list [0 1]", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := caughtUp(js, dbs[:2], journals[:2]); err != nil {
		t.Fatal(err)
	}
	for p := 2; p < partitions; p++ {
		var journaled int
		if err := dbs[p].Get(&journaled, "SELECT COUNT(*) FROM journal_transactions"); err != nil || journaled != journals[p] {
			t.Errorf("partition %d: %d journal transactions (%v), want %d: nobody of its list runs", p, journaled, err, journals[p])
		}
	}

	// A second instance of the list [0 1] shares it, and takes a's share
	// when a crashes.
	c := startInstance(t, low)
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if ha, hc := a.a.Held(), c.a.Held(); len(ha) != 1 || len(hc) != 1 || ha[0] == hc[0] {
			return fmt.Errorf("held: a %v, c %v; want one each of [0 1]", ha, hc)
		}
		return nil
	})
	a.kill()
	testenv.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		if h := c.a.Held(); !slices.Equal(h, []int{0, 1}) {
			return fmt.Errorf("c holds %v", h)
		}
		return nil
	})
}
