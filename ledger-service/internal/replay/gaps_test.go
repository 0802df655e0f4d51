package replay_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/gap"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/ledger-service/internal/replay"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// A gap the live ledger skipped (ADR 0039) is a turn taken: the replay
// passes it and equals the live ledger. A message missing that the live
// ledger did not skip (deleted after it was applied) is counted as missing,
// also at the stream's end, where the replay still ends.
func TestReplayPassesSkippedGaps(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	s, err := stream.Ensure(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pub := func(evts ...events.Event) {
		t.Helper()
		for _, e := range evts {
			if _, err := js.PublishMsg(ctx, e.Msg()); err != nil {
				t.Fatal(err)
			}
		}
	}
	live, liveDB := ledgertest.MustStore(t, deadletter.Migrations())
	pub(ledgertest.Opened("a", "USD"), ledgertest.Deposited("a", "1.00", "USD"))
	runLive(t, js, live, liveDB)
	pub(ledgertest.Deposited("a", "2.00", "USD"), ledgertest.Deposited("a", "4.00", "USD"))
	if err := s.DeleteMsg(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := live.SkipGap(ctx, mysql.Skip{Stream: stream.Name, First: 3, Last: 3, Reason: "test", By: "test"}); err != nil {
		t.Fatal(err)
	}
	runLive(t, js, live, liveDB)
	skipped := []gap.Range{{First: 3, Last: 3}}

	rebuilt, rebuiltDB := ledgertest.MustStore(t, deadletter.Migrations())
	sum, err := replay.Run(ctx, js, rebuilt, replay.Options{Skipped: skipped})
	if err != nil {
		t.Fatal(err)
	}
	if want, got := snapshot(t, liveDB), snapshot(t, rebuiltDB); !slices.Equal(want, got) {
		t.Errorf("replay differs from the live ledger:\n live   %q\n replay %q", want, got)
	}
	if sum.Skipped != 1 || sum.Missing != 0 || sum.Applied != 3 {
		t.Errorf("summary %+v, want 3 applied, 1 skipped, none missing", sum)
	}

	unskipped, _ := ledgertest.MustStore(t, deadletter.Migrations())
	if sum, err := replay.Run(ctx, js, unskipped, replay.Options{}); err != nil || sum.Missing != 1 || !slices.Equal(sum.Holes, skipped) {
		t.Errorf("replay without the skip: %+v %v, want message 3 missing", sum, err)
	}

	pub(ledgertest.Deposited("a", "8.00", "USD"))
	runLive(t, js, live, liveDB)
	if err := s.DeleteMsg(ctx, 5); err != nil { // applied, then deleted: the stream's last
		t.Fatal(err)
	}
	tail, _ := ledgertest.MustStore(t, deadletter.Migrations())
	sum, err = replay.Run(ctx, js, tail, replay.Options{Skipped: skipped})
	if err != nil || sum.Missing != 1 || !slices.Equal(sum.Holes, []gap.Range{{First: 5, Last: 5}}) {
		t.Errorf("replay of a stream whose last message is gone: %+v %v, want message 5 missing", sum, err)
	}
}

// A stream whose first messages a limit dropped replays only if the live
// ledger skipped them.
func TestReplayStreamStartingLaterNeedsTheSkip(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	s, err := stream.Ensure(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []events.Event{ledgertest.Opened("a", "USD"), ledgertest.Deposited("a", "1.00", "USD"),
		ledgertest.Opened("b", "USD"), ledgertest.Deposited("b", "2.00", "USD")} {
		if _, err := js.PublishMsg(ctx, e.Msg()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(3)); err != nil { // keeps 3, 4
		t.Fatal(err)
	}
	store, _ := ledgertest.MustStore(t, deadletter.Migrations())
	if _, err := replay.Run(ctx, js, store, replay.Options{}); err == nil {
		t.Fatal("a stream from 3 replayed without a skip of 1..2")
	}
	sum, err := replay.Run(ctx, js, store, replay.Options{Skipped: []gap.Range{{First: 1, Last: 2}}})
	if err != nil || sum.Skipped != 2 || sum.Missing != 0 || sum.Applied != 2 {
		t.Fatalf("replay from 3 with 1..2 skipped: %+v %v", sum, err)
	}
}
