package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The relay places the configured shards on their servers as the stored
// placement says, follows a move, and publishes every shard under one
// lease per server.
func TestRelayPublishesByServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsns := testenv.Databases(t, 8)
	shards := make([]*sqlx.DB, len(dsns))
	for i, dsn := range dsns {
		shards[i] = testenv.MustOpen(t, dsn)
		if err := database.Migrate(ctx, shards[i], outbox.Migrations()); err != nil {
			t.Fatal(err)
		}
		// Shards 4 to 7 on a second server, db2: the same MariaDB under
		// another DSN.
		if i >= 4 {
			dsns[i] += map[bool]string{true: "&", false: "?"}[strings.Contains(dsn, "?")] + "timeout=5s"
		}
	}
	url := testenv.NATS(t).ClientURL()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults[config.OutboxRelay]()
	// What outbox-relay provision declares; the relay only verifies it.
	if err := Provision(ctx, configWith(cfg, url), false, io.Discard, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	store, err := placement.Attach(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	initial, err := placement.Initial(8, []string{"db1", "db2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Bootstrap(ctx, initial); err != nil {
		t.Fatal(err)
	}

	cfg.Shards, cfg.NATS.URL = dsns, url
	cfg.Auth.JWTSecret = authtest.Secret
	cfg.Relay.Addr = "127.0.0.1:0"
	cfg.Relay.PollInterval = 20 * time.Millisecond
	a, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})

	wantServers(t, a, map[string][]int{"db1": {0, 1, 2, 3}, "db2": {4, 5, 6, 7}})
	for i, db := range shards {
		appendOne(t, db, i, "before")
	}
	waitMessages(t, js, 8)
	if _, err := store.Update(ctx, initial, func(m placement.Map) (placement.Map, error) { return m.Move(2, "db2") }); err != nil {
		t.Fatal(err)
	}
	wantServers(t, a, map[string][]int{"db1": {0, 1, 3}, "db2": {2, 4, 5, 6, 7}})
	appendOne(t, shards[2], 2, "after")
	waitMessages(t, js, 9)

	kv, err := js.KeyValue(ctx, outbox.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{"db1", "db2"} {
		if _, err := kv.Get(ctx, server); err != nil {
			t.Errorf("lease on %s: %v", server, err)
		}
	}
}

// wantServers waits until a places the shards on the servers as want says.
func wantServers(t *testing.T, a *App, want map[string][]int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		got := map[string][]int{}
		for _, s := range a.servers() {
			for _, sh := range s.Shards {
				got[s.Name] = append(got[s.Name], sh.N)
			}
		}
		for name, shards := range want {
			if !slices.Equal(got[name], shards) {
				return fmt.Errorf("servers place %v, want %v", got, want)
			}
		}
		return nil
	})
}

func appendOne(t *testing.T, db *sqlx.DB, shard int, what string) {
	t.Helper()
	e := events.Event{ID: fmt.Sprintf("app-test-%d-%s", shard, what), Type: events.AccountDeposited, Source: "/test",
		Subject: "acc", Topic: events.Topic(events.AccountDeposited, shard), Time: time.Now(), Data: []byte(`{}`)}
	if err := database.InTx(context.Background(), db, func(tx *sqlx.Tx) error {
		return outbox.Writer{}.Append(context.Background(), tx, e)
	}); err != nil {
		t.Fatal(err)
	}
}

// configWith is cfg on the NATS at url.
func configWith(cfg config.OutboxRelay, url string) config.OutboxRelay {
	cfg.NATS.URL = url
	return cfg
}

// waitMessages waits until the default 4 partitions' streams hold n
// messages in all, two shards' in each (8 shards).
func waitMessages(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		var total uint64
		for _, name := range stream.Names(4) {
			s, err := js.Stream(context.Background(), name)
			if err != nil {
				return err
			}
			info, err := s.Info(context.Background())
			if err != nil {
				return err
			}
			if info.State.Msgs > 0 && info.State.Msgs < 2 {
				return fmt.Errorf("%s holds %d messages, want two shards' at least", name, info.State.Msgs)
			}
			total += info.State.Msgs
		}
		if total != n {
			return fmt.Errorf("the streams hold %d messages, want %d", total, n)
		}
		return nil
	})
}

// relay.servers must name servers of the layout; without the servers
// setting those are db1, db2, … of the shards' servers.
func TestRelayRefusesAnUnknownServer(t *testing.T) {
	cfg := config.Defaults[config.OutboxRelay]()
	cfg.Shards = config.Shards{"wallet:wallet@tcp(127.0.0.1:1)/s0", "wallet:wallet@tcp(127.0.0.1:2)/s1"}
	cfg.Relay.Addr = "127.0.0.1:0"
	cfg.Relay.Servers = []string{"db2", "db3"}
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `relay.servers: "db3" is not a database server; the servers are db1, db2`) {
		t.Fatalf("New with relay.servers db3: %v, want refused naming it", err)
	}
}
