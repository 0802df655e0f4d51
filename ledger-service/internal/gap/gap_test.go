package gap_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/gap"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// Find on a real stream: a message present is no gap, however it is
// delivered; a deleted one is, up to the next message present; messages
// below the stream's first are; a hole at the stream's end is not (nothing
// waits behind it).
func TestFind(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	s, err := stream.Ensure(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if _, err := js.Publish(ctx, "wallet.account.deposited.0", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range []uint64{3, 4, 8} {
		if err := s.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	find := func(pos uint64) (gap.Gap, bool) {
		t.Helper()
		g, found, err := gap.Find(ctx, js, stream.Name, 2, pos)
		if err != nil {
			t.Fatal(err)
		}
		return g, found
	}
	if _, found := find(1); found {
		t.Error("message 2 is present: no gap")
	}
	g, found := find(2)
	if !found || g.First != 3 || g.Last != 4 || g.Cause != gap.CauseDeleted || g.Partition != 2 || g.Stream != stream.Name {
		t.Errorf("after 2: %+v %v, want 3..4 deleted", g, found)
	}
	if _, found := find(6); found {
		t.Error("after 6: 7 is present")
	}
	if _, found := find(7); found {
		t.Error("after 7: 8 is gone but nothing follows it: no gap")
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(6)); err != nil { // keeps 6, 7
		t.Fatal(err)
	}
	g, found = find(2)
	if !found || g.First != 3 || g.Last != 5 || g.Cause != gap.CauseBelowFirst {
		t.Errorf("after 2, stream from 6: %+v %v, want 3..5 below the first", g, found)
	}
}

func TestCovered(t *testing.T) {
	rs := []gap.Range{{First: 5, Last: 9}, {First: 1, Last: 4}, {First: 12, Last: 12}}
	for _, c := range []struct {
		first, last uint64
		want        bool
	}{{1, 9, true}, {3, 3, true}, {1, 10, false}, {12, 12, true}, {10, 12, false}, {13, 13, false}} {
		if got := gap.Covered(rs, c.first, c.last); got != c.want {
			t.Errorf("Covered(%d..%d) = %v, want %v", c.first, c.last, got, c.want)
		}
	}
}

// The ledger's NATS user (deploy/nats-auth.conf: stream info and message
// get on every stream, nothing more) can look for a gap; an operator
// (wallet_admin) deleted the message.
func TestFindAsTheLedgerUser(t *testing.T) {
	ctx := context.Background()
	url := testenv.AuthNATS(t).ClientURL()
	as := func(name string) jetstream.JetStream {
		t.Helper()
		nc, err := nats.Connect(url, nats.UserInfo(name, testenv.NATSPasswords[name]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	admin, relay, ledger := as("wallet_admin"), as("wallet_relay"), as("wallet_ledger")
	name := stream.PartitionName(1)
	s, err := admin.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: events.PartitionSubjects(1)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := relay.Publish(ctx, "wallet.1.account.deposited.4", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	g, found, err := gap.Find(ctx, ledger, name, 1, 1)
	if err != nil || !found || g.First != 2 || g.Last != 2 || g.Stream != name || g.Partition != 1 {
		t.Fatalf("as wallet_ledger: %+v %v %v, want message 2 of %s missing", g, found, err, name)
	}
}
