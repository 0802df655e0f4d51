package outbox

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
)

// RelayConfig tunes a Relay. Every number is required: the defaults are
// the relay.* settings' in pkg/config, and the library keeps no copy.
type RelayConfig struct {
	BatchSize int // rows per poll
	// Redeclare, if set, declares the WALLET stream again when it is gone
	// (NATS lost its state): a row no stream takes is then the stream's
	// fault, not the row's, and is not set aside.
	Redeclare func(ctx context.Context) error
	// PollInterval is the longest pause after an empty poll; a wake-up on
	// WakeSubject cuts it short.
	PollInterval time.Duration
	// MaxInFlight bounds publishes awaiting their ack: a batch goes out in
	// chunks of this size, each marked while the next is published
	// (BatchSize or more: no overlap).
	MaxInFlight int
	// PublishTimeout bounds the wait for a batch's acks (all its chunks).
	PublishTimeout time.Duration
	// Owner names this relay instance in the lease table; LeaseTTL is how
	// long its lease on a shard lasts without renewal.
	Owner    string
	LeaseTTL time.Duration
	// MaxAttempts is how many times a row that JetStream refuses for good
	// (see permanent) is tried before it is set aside, so that the rows
	// behind it are published.
	MaxAttempts int
	// Placed, if set, returns the database that holds shard now, asked
	// before every poll: shards move between servers, and the relay follows
	// (the old copy is frozen and no longer written). Nil: the shards given
	// to NewRelay never move.
	Placed func(shard int) database.DB
	// Retention is how long published rows are kept before the holder of
	// the shard's lease deletes them (see Prune); 0 keeps them forever,
	// which only tests use (relay.outbox_retention must be positive). Kept
	// rows are what "outbox-relay republish" can send again.
	Retention time.Duration
}

// Relay copies committed outbox rows of every shard to JetStream, in id order
// per shard, with Nats-Msg-Id = event id: a row re-published after a crash is
// dropped by the stream's duplicate window.
type Relay struct {
	shards []database.DB
	js     jetstream.JetStream
	cfg    RelayConfig
	log    *slog.Logger
	// beforeMark, set by crash tests only (export_test.go), runs after
	// JetStream acknowledged a chunk and before its rows are marked.
	beforeMark func()
}

// NewRelay returns a relay over shards (index = shard number). It listens for
// wake-ups on js's connection.
func NewRelay(shards []database.DB, js jetstream.JetStream, cfg RelayConfig, log *slog.Logger) (*Relay, error) {
	if len(shards) == 0 || js == nil || log == nil {
		return nil, errors.New("outbox relay: shards, jetstream and logger are required")
	}
	if cfg.BatchSize < 1 || cfg.MaxInFlight < 1 || cfg.MaxAttempts < 1 || cfg.PollInterval <= 0 || cfg.PublishTimeout <= 0 ||
		cfg.LeaseTTL <= 0 || cfg.Owner == "" {
		return nil, errors.New("outbox relay: batch size, max in flight, max attempts, poll interval, publish time-out, lease TTL and owner are required")
	}
	if cfg.Retention < 0 {
		return nil, errors.New("outbox relay: retention must not be negative")
	}
	return &Relay{shards: shards, js: js, cfg: cfg, log: log}, nil
}

// Run relays every shard until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range r.shards {
		var held atomic.Bool
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runShard(ctx, i, &held)
		}()
		if r.cfg.Retention > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.pruneShard(ctx, i, held.Load)
			}()
		}
	}
	wg.Wait()
	return nil
}

// RelayOnce publishes one batch of shard's unpublished rows and marks the
// acknowledged prefix published. It returns how many rows it marked.
func (r *Relay) RelayOnce(ctx context.Context, shard int) (int, error) {
	return r.newShardRelay(shard).step(ctx)
}

func (r *Relay) runShard(ctx context.Context, shard int, leaseHeld *atomic.Bool) {
	s := r.newShardRelay(shard)
	l := &lease{db: s.db, owner: r.cfg.Owner, ttl: r.cfg.LeaseTTL}
	wake, unsubscribe := r.subscribeWake(shard)
	defer func() {
		unsubscribe()
		leaseHeld.Store(false)
		l.release(context.WithoutCancel(ctx))
	}()
	failures := 0
	for ctx.Err() == nil {
		if db := r.db(shard); db != s.db {
			// The shard moved: what its old copy held unpublished was
			// copied with it, and rows published twice are dropped by
			// their Nats-Msg-Id.
			r.log.Info("outbox relay: following the shard to its new server", "shard", shard)
			l.release(ctx)
			s = r.newShardRelay(shard)
			l = &lease{db: s.db, owner: r.cfg.Owner, ttl: r.cfg.LeaseTTL}
		}
		held, err := l.hold(ctx)
		n := 0
		leaseHeld.Store(held && err == nil)
		if held && err == nil {
			s.m.leaseHeld.Set(1)
			n, err = s.step(ctx)
		} else {
			s.m.leaseHeld.Set(0)
		}
		var wait time.Duration
		idle := false
		switch {
		case err != nil && ctx.Err() == nil:
			s.m.errors.Inc()
			failures++
			// Capped exponential back-off: 100ms, 200ms, … 5s while the
			// database or the broker is away.
			wait = min(100*time.Millisecond<<min(failures-1, 6), 5*time.Second)
			r.log.Warn("outbox relay", "shard", shard, "err", err, "retry_in", wait)
		case !held:
			wait = r.cfg.LeaseTTL / 4 // another relay publishes this shard
		case s.again:
			failures = 0 // a row was set aside: the rows behind it go out now
		case n < r.cfg.BatchSize:
			// The outbox was drained: wait for a writer's wake-up (one that
			// came during this batch is already waiting) instead of polling
			// an empty table once more.
			failures = 0
			wait, idle = r.cfg.PollInterval, true
		default:
			failures = 0 // a full batch: more rows are likely waiting
		}
		if wait > 0 {
			pause(ctx, wait, idle, wake)
		}
	}
}

// pause waits for d or until ctx ends; an idle pause also ends on a wake-up.
func pause(ctx context.Context, d time.Duration, idle bool, wake <-chan struct{}) {
	if !idle {
		wake = nil // a nil channel never receives
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// subscribeWake listens on WakeSubject(shard). Wake-ups are an optimisation:
// without them the relay still polls every PollInterval, so a failure is
// logged, not returned.
func (r *Relay) subscribeWake(shard int) (<-chan struct{}, func()) {
	// One buffered slot: any number of wake-ups while the relay is busy
	// collapse into one extra poll.
	wake := make(chan struct{}, 1)
	sub, err := r.js.Conn().Subscribe(WakeSubject(shard), func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		r.log.Warn("outbox relay: no wake-ups, polling only", "shard", shard, "err", err)
		return wake, func() {}
	}
	return wake, func() { _ = sub.Unsubscribe() }
}

// db returns the database that holds shard now.
func (r *Relay) db(shard int) database.DB {
	if r.cfg.Placed != nil {
		return r.cfg.Placed(shard)
	}
	return r.shards[shard]
}

func (r *Relay) newShardRelay(shard int) *shardRelay {
	return &shardRelay{cfg: r.cfg, js: r.js, db: r.db(shard), shard: shard, m: metricsFor(strconv.Itoa(shard)),
		log: r.log.With("shard", shard), beforeMark: r.beforeMark}
}
