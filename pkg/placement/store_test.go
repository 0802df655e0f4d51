package placement_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/testenv"
)

// connect opens a connection of its own to url, as another instance would.
func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
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

func mustOpen(t *testing.T, js jetstream.JetStream) *placement.Store {
	t.Helper()
	s, err := placement.Declare(context.Background(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustBootstrap(t *testing.T, s *placement.Store, m placement.Map) placement.Map {
	t.Helper()
	got, err := s.Bootstrap(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Instances starting together each bootstrap the map of their own
// configuration; one wins, and every one of them gets the winner's.
func TestBootstrapConcurrently(t *testing.T) {
	url := testenv.NATS(t).ClientURL()
	const n = 6
	got := make([]placement.Map, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		js := connect(t, url)
		wg.Go(func() {
			s, err := placement.Declare(context.Background(), js, 1)
			if err != nil {
				errs[i] = err
				return
			}
			// Distinct maps, so that a loser keeping its own would show.
			m, err := placement.Initial(8, []string{fmt.Sprintf("db%d", i)})
			if err != nil {
				errs[i] = err
				return
			}
			got[i], errs[i] = s.Bootstrap(context.Background(), m)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	stored, rev, err := mustOpen(t, connect(t, url)).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rev != 1 {
		t.Errorf("stored at revision %d: more than one bootstrap was written", rev)
	}
	for i, m := range got {
		if !slices.Equal(m.Servers, stored.Servers) || !slices.Equal(m.Owner, stored.Owner) || m.Version != 1 {
			t.Errorf("instance %d got %v on %v, the store holds %v on %v", i, m.Servers, m.Owner, stored.Servers, stored.Owner)
		}
	}
}

// The shard count is fixed for ever: a configuration with another one is
// refused rather than taking the stored map.
func TestBootstrapOtherShardCount(t *testing.T) {
	s := mustOpen(t, testenv.MustJetStream(t))
	mustBootstrap(t, s, mustInitial(t, 8, "a"))
	if _, err := s.Bootstrap(context.Background(), mustInitial(t, 16, "a")); !errors.Is(err, placement.ErrInvalid) {
		t.Fatalf("bootstrap with 16 shards over 8: %v", err)
	}
	if _, err := s.Bootstrap(context.Background(), placement.Map{}); !errors.Is(err, placement.ErrInvalid) {
		t.Fatalf("bootstrap of an invalid map: %v", err)
	}
}

// Nothing stored yet is ErrNoPlacement, for a missing key and a missing
// bucket alike.
func TestNoPlacement(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	if _, err := placement.Attach(ctx, js); !errors.Is(err, placement.ErrNoPlacement) {
		t.Fatalf("Attach without a bucket: %v", err)
	}
	s := mustOpen(t, js)
	if _, _, err := s.Load(ctx); !errors.Is(err, placement.ErrNoPlacement) {
		t.Fatalf("Load of an empty bucket: %v", err)
	}
	if _, err := s.Follow(ctx, quiet()); !errors.Is(err, placement.ErrNoPlacement) {
		t.Fatalf("Follow of an empty bucket: %v", err)
	}
	if _, err := s.Update(ctx, placement.Map{Version: 1}, nil); !errors.Is(err, placement.ErrNoPlacement) {
		t.Fatalf("Update of an empty bucket: %v", err)
	}
	a, err := placement.Attach(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Load(ctx); !errors.Is(err, placement.ErrNoPlacement) {
		t.Fatalf("Load through Attach: %v", err)
	}
}

func move(shard int, to string) func(placement.Map) (placement.Map, error) {
	return func(m placement.Map) (placement.Map, error) { return m.Move(shard, to) }
}

// Update builds on the version the caller read and on nothing else.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, testenv.MustJetStream(t))
	v1 := mustBootstrap(t, s, mustInitial(t, 8, "a", "b"))

	v2, err := s.Update(ctx, v1, move(0, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if stored, _, _ := s.Load(ctx); stored.Version != 2 || stored.Server(0) != "b" || v2.Version != 2 {
		t.Fatalf("stored %+v, returned %+v", stored, v2)
	}

	// A caller still holding version 1 (another move planned meanwhile).
	if _, err := s.Update(ctx, v1, move(1, "b")); !errors.Is(err, placement.ErrStale) {
		t.Fatalf("update from a stale map: %v", err)
	}
	// fn must produce the next version: not the same one, not a jump.
	same := func(m placement.Map) (placement.Map, error) { return m, nil }
	jump := func(m placement.Map) (placement.Map, error) { m.Version += 2; return m, nil }
	for _, fn := range []func(placement.Map) (placement.Map, error){same, jump} {
		if _, err := s.Update(ctx, v2, fn); !errors.Is(err, placement.ErrInvalid) {
			t.Fatalf("update to a version that does not follow: %v", err)
		}
	}
	if _, err := s.Update(ctx, v2, move(0, "b")); !errors.Is(err, placement.ErrSameServer) {
		t.Fatalf("fn's error: %v", err)
	}
	if stored, _, _ := s.Load(ctx); stored.Version != 2 || stored.Server(1) != "a" {
		t.Fatalf("a refused update changed the store: %+v", stored)
	}
}

// A split is the one change of the shard count Update takes, and only as
// Split makes it: every new shard on its old shard's server.
func TestUpdateSplit(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, testenv.MustJetStream(t))
	v1 := mustBootstrap(t, s, mustInitial(t, 2, "a", "b"))
	other := func(m placement.Map) (placement.Map, error) {
		next, err := m.Split(8)
		next.Owner[7] = "a" // b's shard 1 would be split onto a
		return next, err
	}
	grow := func(m placement.Map) (placement.Map, error) {
		m.Version++
		m.Shards = 3
		m.Owner = append(m.Owner, "a")
		return m, nil
	}
	for _, fn := range []func(placement.Map) (placement.Map, error){other, grow} {
		if _, err := s.Update(ctx, v1, fn); !errors.Is(err, placement.ErrInvalid) {
			t.Fatalf("a change of the shard count that is not a split: %v", err)
		}
	}
	v2, err := s.Update(ctx, v1, func(m placement.Map) (placement.Map, error) { return m.Split(8) })
	if err != nil {
		t.Fatal(err)
	}
	if stored, _, _ := s.Load(ctx); stored.Version != 2 || stored.Shards != 8 || stored.Server(5) != "b" || stored.Server(4) != "a" || v2.Shards != 8 {
		t.Fatalf("stored %+v", stored)
	}
}

// Two writers that read the same version: the second to write loses the
// compare-and-swap even though its version check passed.
func TestUpdateRace(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, testenv.MustJetStream(t))
	v1 := mustBootstrap(t, s, mustInitial(t, 8, "a", "b"))
	_, err := s.Update(ctx, v1, func(m placement.Map) (placement.Map, error) {
		// The other writer stores its change between our read and write.
		if _, err := s.Update(ctx, v1, move(7, "a")); err != nil {
			t.Errorf("the other writer: %v", err)
		}
		return m.Move(0, "b")
	})
	if !errors.Is(err, placement.ErrStale) {
		t.Fatalf("the slower writer: %v", err)
	}
	if stored, _, _ := s.Load(ctx); stored.Version != 2 || stored.Server(7) != "a" || stored.Server(0) != "a" {
		t.Fatalf("stored %+v, want only the other writer's move", stored)
	}
}

// recordVersions collects what a caller looping on Next sees until ctx ends.
func recordVersions(ctx context.Context, f *placement.Follower) <-chan []uint64 {
	out := make(chan []uint64, 1)
	go func() {
		var seen []uint64
		v := f.Current().Version
		for {
			m, err := f.Next(ctx, v)
			if err != nil {
				out <- seen
				return
			}
			seen = append(seen, m.Version)
			v = m.Version
		}
	}()
	return out
}

func waitVersion(t *testing.T, f *placement.Follower, v uint64) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, 10*time.Millisecond, func() error {
		if got := f.Current().Version; got != v {
			return fmt.Errorf("follower at version %d, want %d", got, v)
		}
		return nil
	})
}

// A running follower takes each change without a restart, and never goes
// back to an older version, even one written into the bucket directly.
func TestFollowerFollows(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := testenv.NATS(t).ClientURL()
	js := connect(t, url)
	writer := mustOpen(t, js)
	v1 := mustBootstrap(t, writer, mustInitial(t, 8, "a", "b"))

	f, err := mustOpen(t, connect(t, url)).Follow(ctx, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- f.Run(ctx) }()
	seen := recordVersions(ctx, f)

	v2, err := writer.Update(ctx, v1, move(0, "b"))
	if err != nil {
		t.Fatal(err)
	}
	waitVersion(t, f, 2)
	if f.Current().Server(0) != "b" {
		t.Fatalf("follower's map: %+v", f.Current())
	}

	// A rogue write of version 1, then version 3: 1 is ignored.
	kv, err := js.KeyValue(ctx, placement.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	put := func(m placement.Map) {
		b, _ := m.Encode()
		if _, err := kv.Put(ctx, placement.Key, b); err != nil {
			t.Fatal(err)
		}
	}
	put(v1)
	v3, _ := v2.Move(1, "b")
	put(v3)
	waitVersion(t, f, 3)

	// Refresh reads the store: the rogue version 1 stored now is ignored.
	put(v1)
	if m, err := f.Refresh(ctx); err != nil || m.Version != 3 {
		t.Fatalf("Refresh = version %d, %v", m.Version, err)
	}

	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := <-seen
	if len(got) == 0 || !slices.IsSorted(got) || slices.Contains(got, 1) || got[len(got)-1] != 3 {
		t.Fatalf("versions seen through Next: %v", got)
	}
}

// The broker restarts while a follower watches: the follower resumes and
// takes a change stored after the restart.
func TestFollowerSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port, dir := testenv.FreePorts(t, 1)[0], t.TempDir()
	srv := testenv.StartNATS(t, dir, port)
	url := srv.ClientURL()

	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, js)
	v1 := mustBootstrap(t, s, mustInitial(t, 8, "a", "b"))
	f, err := s.Follow(ctx, quiet())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Run(ctx) }()
	// A change seen before the restart: the watch is running.
	v2, err := s.Update(ctx, v1, move(0, "b"))
	if err != nil {
		t.Fatal(err)
	}
	waitVersion(t, f, 2)

	srv.Shutdown()
	srv.WaitForShutdown()
	testenv.StartNATS(t, dir, port)

	// Written by another instance, after the restart.
	writer := mustOpen(t, connect(t, url))
	if _, err := writer.Update(ctx, v2, move(1, "b")); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, f, 3)
}

// A reader configured with more shards than the placement holds (started
// with the upgrade's shard list before the split) places the shards the
// placement lacks as configured, and does not fail.
func TestPoolsWithFewerShardsPlaced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := mustOpen(t, testenv.MustJetStream(t))
	mustBootstrap(t, s, mustInitial(t, 2, "db2"))
	l := database.Layout{Names: []string{"db1", "db2"}, ServerDSNs: []string{"u:p@tcp(127.0.0.1:1)/", "u:p@tcp(127.0.0.1:2)/"}}
	for sh := range 8 {
		l.Schemas = append(l.Schemas, fmt.Sprintf("wallet_shard_%d", sh))
		l.Owners = append(l.Owners, 0)
	}
	p, err := placement.NewPools(l, database.Open)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := s.Follow(ctx, quiet())
	if err != nil {
		t.Fatal(err)
	}
	p.Follow(f)
	if p.Server(1) != 1 || p.Server(5) != 0 {
		t.Errorf("shard 1 on %d, shard 5 on %d; want 1 (placed) and 0 (configured)", p.Server(1), p.Server(5))
	}
}
