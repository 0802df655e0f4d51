package stream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// mustBeRefused publishes an event subject as user and waits for the
// server's permissions violation.
func mustBeRefused(t *testing.T, url, user string) {
	t.Helper()
	js, errs := testenv.ConnectAs(t, url, user)
	nc := js.Conn()
	if err := nc.Publish("wallet.transfer.debited.0", []byte(`{"forged":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("%s: publish on wallet.>: %v, want a permissions violation", user, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: publish on wallet.> was not refused", user)
	}
}

// Only the relay publishes events: the ledger's and the account service's
// credentials cannot forge one. (pkg/provision's auth_test shows the
// other refusals: streams, durables, buckets.)
func TestOnlyTheRelayPublishesEvents(t *testing.T) {
	s := testenv.AuthNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, _ := testenv.ConnectAs(t, s.ClientURL(), "wallet_admin")
	if _, err := stream.Ensure(ctx, admin, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatalf("wallet_admin declares the stream: %v", err)
	}
	mustBeRefused(t, s.ClientURL(), "wallet_ledger")
	mustBeRefused(t, s.ClientURL(), "wallet_account")
	mustBeRefused(t, s.ClientURL(), "wallet_admin")

	relay, _ := testenv.ConnectAs(t, s.ClientURL(), "wallet_relay")
	ack, err := relay.Publish(ctx, "wallet.transfer.debited.0", []byte(`{}`))
	if err != nil {
		t.Fatalf("relay publishes: %v", err)
	}
	if ack.Sequence != 1 {
		t.Fatalf("relay's event is message %d: a refused publish reached the stream", ack.Sequence)
	}
}
