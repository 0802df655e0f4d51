package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/ledger-service/internal/consumer"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// ledger is a ledger-service booted in-process on an embedded NATS and a
// fresh schema, ready, with a JetStream client to publish with.
type ledger struct {
	base string
	db   *sqlx.DB
	js   jetstream.JetStream
}

// testShards is the test deployments' logical shard count; nothing
// connects to them (the ledger only places accounts with the count).
const testShards = 8

// testConfig is ledger-service's default configuration on the test's NATS
// and ledger schemas, one partition each, listening on a free port, with a
// short lease TTL.
func testConfig(natsURL string, dsns ...string) config.LedgerService {
	cfg := config.Defaults[config.LedgerService]()
	cfg.LogLevel = "warn"
	cfg.Shards = make(config.Shards, testShards)
	for i := range cfg.Shards {
		cfg.Shards[i] = fmt.Sprintf("wallet:wallet@tcp(127.0.0.1:1)/wallet_shard_%d", i)
	}
	cfg.NATS.URL = natsURL
	cfg.NATS.Partitions = len(dsns)
	cfg.Auth.JWTSecret = authtest.Secret
	cfg.Ledger.Addr, cfg.Ledger.Databases = "127.0.0.1:0", dsns
	cfg.Ledger.LeaseTTL = time.Second
	return cfg
}

// streamsFor declares what outbox-relay provision would for cfg: the
// partition streams and the buckets the ledger verifies at start.
func streamsFor(t *testing.T, cfg config.LedgerService) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(cfg.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := provision.SettingsFrom(cfg.NATS, 10*time.Second, cfg.Ledger.LeaseTTL)
	if _, err := provision.Apply(ctx, js, provision.All(s), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return js
}

func bootLedger(t *testing.T) ledger {
	t.Helper()
	natsSrv := testenv.NATS(t)
	dsn := testenv.Databases(t, 1)[0]
	cfg := testConfig(natsSrv.ClientURL(), dsn)
	js := streamsFor(t, cfg)
	a, err := app.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		a.Close()
	})
	l := ledger{base: "http://" + a.Addr(), db: testenv.MustOpen(t, dsn)}
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		var body map[string]any
		if code, err := getJSON(l.base+"/readyz", &body); err != nil || code != http.StatusOK {
			return fmt.Errorf("readyz %d %v %v", code, body, err)
		}
		return nil
	})
	l.js = js
	return l
}

func (l ledger) publish(t *testing.T, evts ...events.Event) {
	t.Helper()
	for _, e := range evts {
		if _, err := l.js.PublishMsg(context.Background(), ledgertest.Fact(e, 0)); err != nil {
			t.Fatal(err)
		}
	}
}

func (l ledger) waitBalance(t *testing.T, account, want string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, 20*time.Millisecond, func() error {
		var b struct{ Balance string }
		code, err := getJSON(l.base+"/v1/ledger/accounts/"+account+"/balance", &b)
		if err != nil || code != http.StatusOK || b.Balance != want {
			return fmt.Errorf("balance of %s: %d %+v %v, want %s", account, code, b, err, want)
		}
		return nil
	})
}

// readyz returns /readyz's status and the ledger consumer's state.
func (l ledger) readyz(t *testing.T) (int, stream.ConsumerHealth) {
	t.Helper()
	var body struct {
		Consumers map[string]map[string]stream.ConsumerHealth
	}
	code, err := getJSON(l.base+"/readyz", &body)
	if err != nil {
		t.Fatal(err)
	}
	return code, body.Consumers[stream.PartitionName(0)][consumer.Name]
}

// Deleting the ledger's durable consumer while it runs: it is created
// again (DeliverAll: from the stream's first message; the stored position
// skips what was applied), /readyz reports the restart and is ready again,
// and events published afterwards are applied exactly once.
func TestLedgerConsumerRecreatedAfterDelete(t *testing.T) {
	l := bootLedger(t)
	l.publish(t, ledgertest.Opened("alice", "JPY"), ledgertest.Deposited("alice", "1500", "JPY"))
	l.waitBalance(t, "alice", "1500")
	if code, c := l.readyz(t); code != http.StatusOK || c.State != stream.StateRunning {
		t.Fatalf("readyz %d, consumer %+v", code, c)
	}

	if err := l.js.DeleteConsumer(context.Background(), stream.PartitionName(0), consumer.Name); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, 20*time.Millisecond, func() error {
		if code, c := l.readyz(t); code != http.StatusOK || c.Restarts < 1 || c.LastError == "" {
			return fmt.Errorf("readyz %d, consumer %+v", code, c)
		}
		return nil
	})
	l.publish(t, ledgertest.Deposited("alice", "500", "JPY"))
	l.waitBalance(t, "alice", "2000") // 1500 not applied twice
	var journals int
	if err := l.db.Get(&journals, "SELECT COUNT(*) FROM journal_transactions"); err != nil || journals != 2 {
		t.Errorf("%d journal transactions (%v), want 2", journals, err)
	}
}

// A deposit the database refuses for its data (a check constraint it
// violates: a permanent error) is set aside as a dead letter; the events
// behind it in the stream are applied.
func TestLedgerSetsAsidePermanentDataErrors(t *testing.T) {
	l := bootLedger(t)
	if _, err := l.db.Exec("ALTER TABLE journal_entries ADD CONSTRAINT test_no_777 CHECK (amount <> 777 AND amount <> -777)"); err != nil {
		t.Fatal(err)
	}
	bad := ledgertest.Deposited("bob", "777", "JPY")
	l.publish(t, ledgertest.Opened("bob", "JPY"), ledgertest.Deposited("bob", "100", "JPY"), bad,
		ledgertest.Deposited("bob", "20", "JPY"), ledgertest.Deposited("bob", "3", "JPY"))
	l.waitBalance(t, "bob", "123")
	var reason string
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		return l.db.Get(&reason, "SELECT error FROM dead_letters WHERE consumer = ? AND headers LIKE ?", consumer.Name, "%"+bad.ID+"%")
	})
	if code, c := l.readyz(t); code != http.StatusOK || c.State != stream.StateRunning {
		t.Errorf("readyz %d, consumer %+v", code, c)
	}
	t.Logf("dead letter: %s", reason)
}
