package placement

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Follower is a running instance's copy of the placement: Current is
// lock-free for the request path, Run keeps it up to date from the bucket,
// and the version it holds never goes down.
type Follower struct {
	store *Store
	log   *slog.Logger
	state atomic.Pointer[followed]
}

// followed is one map a Follower held, with a channel closed when a newer
// one replaces it: Next's waiters wake without a lock or a list.
type followed struct {
	m       Map
	changed chan struct{}
}

// Follow loads the current map and returns a Follower holding it;
// ErrNoPlacement when there is none (Bootstrap first). Call Run to follow.
func (s *Store) Follow(ctx context.Context, log *slog.Logger) (*Follower, error) {
	m, _, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	f := &Follower{store: s, log: log}
	f.state.Store(&followed{m: m, changed: make(chan struct{})})
	return f, nil
}

// Current returns the newest map seen.
func (f *Follower) Current() Map { return f.state.Load().m }

// Next waits until the follower holds a map newer than version after and
// returns it, or returns ctx's error. A caller looping on Next with the last
// version it got sees each change in version order; changes stored close
// together may arrive as one, the newest (each map is whole).
func (f *Follower) Next(ctx context.Context, after uint64) (Map, error) {
	for {
		s := f.state.Load()
		if s.m.Version > after {
			return s.m, nil
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			return Map{}, ctx.Err()
		}
	}
}

// Refresh reads the bucket now and returns the newest map, for a writer
// that was fenced and must not wait for the watch to bring the change.
func (f *Follower) Refresh(ctx context.Context) (Map, error) {
	m, _, err := f.store.Load(ctx)
	if err != nil {
		return Map{}, err
	}
	f.offer(m)
	return f.Current(), nil
}

// offer keeps m if it is newer than the map held. An older or equal version
// is what a watch restarted after an outage delivers first, and is dropped.
func (f *Follower) offer(m Map) {
	for {
		s := f.state.Load()
		if m.Version <= s.m.Version {
			return
		}
		if m.Shards != s.m.Shards {
			f.log.Error("placement with another shard count ignored", "version", m.Version, "shards", m.Shards, "want", s.m.Shards)
			return
		}
		if f.state.CompareAndSwap(s, &followed{m: m, changed: make(chan struct{})}) {
			close(s.changed)
			f.log.Info("placement changed", "version", m.Version, "from", s.m.Version)
			return
		}
	}
}

// Run watches the bucket until ctx ends, then returns nil. A watch that
// ends (the broker restarted, the connection was lost for good) is started
// again after a pause that grows to maxPause; it first delivers the
// current map, so nothing stored during the outage is missed.
func (f *Follower) Run(ctx context.Context) error {
	pause := minPause
	for ctx.Err() == nil {
		delivered, err := f.watch(ctx)
		if ctx.Err() != nil {
			break
		}
		if delivered {
			pause = minPause
		}
		f.log.Warn("placement watch ended, restarting", "err", err, "in", pause)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, maxPause)
	}
	return nil
}

const (
	minPause = 100 * time.Millisecond
	maxPause = 5 * time.Second
	// reconnectCheck is how often watch reads the connection's reconnect
	// count, a local read.
	reconnectCheck = time.Second
)

// watch follows one watcher until it ends, and says whether it delivered
// anything (a working watch resets Run's pause). It also ends when the
// connection reconnected: the watcher's consumer died with the broker, and
// the client would only notice it after missing heartbeats for seconds.
func (f *Follower) watch(ctx context.Context) (delivered bool, err error) {
	reconnects := f.store.nc.Stats().Reconnects
	w, err := f.store.kv.Watch(ctx, Key, jetstream.IgnoreDeletes())
	if err != nil {
		return false, err
	}
	defer func() { _ = w.Stop() }()
	tick := time.NewTicker(reconnectCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return delivered, nil
		case <-tick.C:
			if f.store.nc.Stats().Reconnects != reconnects {
				return delivered, errors.New("nats reconnected")
			}
		case e, ok := <-w.Updates():
			if !ok {
				return delivered, errors.New("watcher closed")
			}
			if e == nil {
				continue // the marker after the initial value
			}
			delivered = true
			m, err := Decode(e.Value())
			if err != nil {
				f.log.Error("placement ignored", "revision", e.Revision(), "err", err)
				continue
			}
			f.offer(m)
		}
	}
}
