package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// provision --dry-run prints the plan and changes nothing; provision makes
// it, then has nothing left to do; a storage change is refused, naming it.
func TestProvisionCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testenv.NATS(t).ClientURL()
	cfg := configWith(config.Defaults[config.OutboxRelay](), url)
	log := slog.New(slog.DiscardHandler)

	var out bytes.Buffer
	if err := Provision(ctx, cfg, true, &out, log); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	for _, want := range []string{"create stream WALLET_0", "create stream WALLET_3", "create stream WALLET_ADVISORIES",
		"create bucket wallet_placement", "create bucket wallet_relay_leases", "create bucket wallet_ledger_leases",
		"absent stream WALLET_4: absent, as wanted", "dry run: nothing changed"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("dry run says\n%s\nnot %q", out.String(), want)
		}
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, stream.PartitionName(0)); err == nil {
		t.Fatal("the dry run created a stream")
	}

	out.Reset()
	if err := Provision(ctx, cfg, false, &out, log); err != nil {
		t.Fatalf("provision: %v", err)
	}
	out.Reset()
	cfg.NATS.DuplicateWindow = 5 * time.Minute
	if err := Provision(ctx, cfg, true, &out, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "update stream WALLET_2: nats.duplicate_window 2m0s → 5m0s") {
		t.Fatalf("dry run says\n%s", out.String())
	}

	cfg.NATS.Storage = "memory"
	err = Provision(ctx, cfg, false, &out, log)
	if !stream.Permanent(err) || !strings.Contains(err.Error(), "nats.storage") {
		t.Fatalf("provision to memory: %v, want refused", err)
	}
	s, err := js.Stream(ctx, stream.PartitionName(0))
	if err != nil {
		t.Fatal(err)
	}
	if w := s.CachedInfo().Config.Duplicates; w != 2*time.Minute {
		t.Fatalf("a refused run changed the duplicate window to %v", w)
	}
}

// A relay whose relay.lease_ttl is not its lease bucket's refuses to
// start, naming the setting and both values; provisioning fixes it.
func TestRelayRefusesALeaseTTLMismatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := configWith(config.Defaults[config.OutboxRelay](), testenv.NATS(t).ClientURL())
	cfg.Relay.Addr, cfg.Auth.JWTSecret = "127.0.0.1:0", authtest.Secret
	cfg.Shards = testenv.Databases(t, 4)
	log := slog.New(slog.DiscardHandler)
	if err := Provision(ctx, cfg, false, io.Discard, log); err != nil {
		t.Fatal(err)
	}
	cfg.Relay.LeaseTTL = 4 * time.Second
	run := func() error {
		a, err := New(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		rctx, stop := context.WithTimeout(ctx, 3*time.Second)
		defer stop()
		return a.Run(rctx)
	}
	err := run()
	if err == nil || !strings.Contains(err.Error(), "bucket wallet_relay_leases: relay.lease_ttl is 10s, the configuration says 4s: run outbox-relay provision") {
		t.Fatalf("run: %v, want the lease TTL refused", err)
	}
	if err := Provision(ctx, cfg, false, io.Discard, log); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil && strings.Contains(err.Error(), "outbox-relay provision") {
		t.Fatalf("after provisioning: %v", err)
	}
}
