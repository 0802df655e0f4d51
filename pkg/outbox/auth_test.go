package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// connectAs connects to url as user of deploy/nats-auth.conf.
func connectAs(t *testing.T, url, user string) jetstream.JetStream {
	t.Helper()
	// The refusals below are expected: keep their reports off stderr.
	return connectJS(t, url, nats.UserInfo(user, testenv.NATSPasswords[user]),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
}

// With the stack's NATS users (deploy/nats-auth.conf) the relay holds a
// lease in the bucket wallet_admin declared (outbox-relay provision), hears
// wake-ups and publishes; no other service may write a lease.
func TestRelayPermissions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testenv.AuthNATS(t).ClientURL()
	admin := connectAs(t, url, "wallet_admin")
	s, err := stream.EnsurePartitions(ctx, admin, stream.Config{Partitions: 1, Replicas: 1, DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f := mustFixture(t)
	f.js, f.stream, f.admin = connectAs(t, url, "wallet_relay"), s[0], admin
	run(t, newRelay(t, f, outbox.RelayConfig{BatchSize: 10, PollInterval: time.Hour, LeaseTTL: 2 * time.Second, Owner: "t"}))
	f.waitHolder(t, "shard0", "t")
	time.Sleep(50 * time.Millisecond) // the first probe, which found nothing

	f.append(t, 3)
	outbox.NewNotifier(connectAs(t, url, "wallet_account").Conn()).Committed(0)
	f.waitAllPublished(t)
	if n := f.count(t); n != 3 {
		t.Fatalf("stream holds %d, want 3", n)
	}
	time.Sleep(2 * time.Second) // past the TTL: the lease was renewed
	if got := f.holder(t, "shard0"); got != "t" {
		t.Fatalf("lease held by %q after a TTL, want t", got)
	}

	for _, user := range []string{"wallet_account", "wallet_ledger"} {
		js := connectAs(t, url, user)
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		_, err := js.Publish(short, "$KV."+outbox.LeaseBucket+".shard0", []byte("intruder"))
		cancelShort()
		if err == nil {
			t.Errorf("%s wrote a relay lease", user)
		}
	}
	if got := f.holder(t, "shard0"); got != "t" {
		t.Fatalf("lease held by %q, want t", got)
	}
}
