package placement_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/testenv"
)

func connectAs(t *testing.T, url, user string) jetstream.JetStream {
	t.Helper()
	// The refusals below are expected: keep their reports off stderr.
	nc, err := nats.Connect(url, nats.UserInfo(user, testenv.NATSPasswords[user]),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// With the stack's NATS users (deploy/nats-auth.conf) wallet_admin
// (outbox-relay provision) declares the bucket, account-service changes the
// placement; the ledger and the relay read and follow it and can change
// nothing; no service may declare the bucket.
func TestPlacementPermissions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testenv.AuthNATS(t).ClientURL()

	if _, err := placement.Declare(ctx, connectAs(t, url, "wallet_admin"), 1); err != nil {
		t.Fatalf("wallet_admin declares the bucket: %v", err)
	}
	account, err := placement.Attach(ctx, connectAs(t, url, "wallet_account"))
	if err != nil {
		t.Fatalf("account-service attaches: %v", err)
	}
	v1, err := account.Bootstrap(ctx, mustInitial(t, 8, "a", "b"))
	if err != nil {
		t.Fatalf("account-service bootstraps: %v", err)
	}

	short, cancelShort := context.WithTimeout(ctx, time.Second)
	_, err = placement.Declare(short, connectAs(t, url, "wallet_account"), 1)
	cancelShort()
	if err == nil {
		t.Errorf("wallet_account declared the bucket")
	}
	for _, user := range []string{"wallet_ledger", "wallet_relay"} {
		js := connectAs(t, url, user)
		// A refused request gets no answer: a short wait will do.
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		_, err := placement.Declare(short, js, 1)
		cancelShort()
		if err == nil {
			t.Errorf("%s declared the bucket", user)
		}
		s, err := placement.Attach(ctx, js)
		if err != nil {
			t.Fatalf("%s attaches: %v", user, err)
		}
		f, err := s.Follow(ctx, quiet())
		if err != nil {
			t.Fatalf("%s loads: %v", user, err)
		}
		runCtx, stop := context.WithCancel(ctx)
		go func() { _ = f.Run(runCtx) }()
		cur := f.Current()
		next, err := account.Update(ctx, cur, move(int(cur.Version)%8, "b"))
		if err != nil {
			// Shard 1 or 2 is on a, for versions 1 and 2: a real move.
			t.Fatalf("account-service moves a shard: %v", err)
		}
		waitVersion(t, f, next.Version)
		stop()

		short, cancelShort = context.WithTimeout(ctx, time.Second)
		_, err = s.Update(short, next, move(0, "b"))
		cancelShort()
		if err == nil {
			t.Errorf("%s changed the placement", user)
		}
	}
	if m, _, err := account.Load(ctx); err != nil || m.Version != v1.Version+2 {
		t.Fatalf("stored version %d, %v; want %d", m.Version, err, v1.Version+2)
	}
}
