package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/walletco/wallet/pkg/lease"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
)

// RelayConfig tunes a Relay. Every number is required: the defaults are
// the relay.* settings' in pkg/config, and the library keeps no copy.
type RelayConfig struct {
	// Servers returns the database servers and the shards the placement puts
	// on each now. Shards move between servers and the relay follows: each
	// server's worker asks before every round (the old copy of a moved shard
	// is frozen and no longer written). EachOwnServer makes one for shards
	// that are databases of their own.
	Servers func() []Server
	// Serves, if not empty, names the servers (Server.Name) this relay
	// publishes: it competes only for their leases and leaves the others'
	// to the relays that serve them (relay.servers), so that a node's relay
	// publishes its own server's outboxes. Empty: every server Servers
	// lists.
	Serves []string
	// Shards is the deployment's number of logical shards and Partitions
	// its event partitions (nats.partitions, which divides Shards): a
	// shard's rows are published in its partition's stream, and a saga
	// step also in the partition of the shard that acts on it (Route).
	Shards, Partitions int
	// BatchSize is the rows per poll of one shard.
	BatchSize int
	// Redeclare, if set, is called when a partition's stream is gone (NATS
	// lost its state): it reports that the streams must be provisioned
	// again (outbox-relay provision); a row no stream takes is then the
	// stream's fault, not the row's, and is not set aside.
	Redeclare func(ctx context.Context) error
	// PollInterval is how often a server is asked which of its shards have
	// unpublished rows (one query for all of them); a wake-up on a shard's
	// WakeSubject has that shard polled at once.
	PollInterval time.Duration
	// MaxInFlight bounds publishes awaiting their ack: a batch goes out in
	// chunks of this size, each marked while the next is published
	// (BatchSize or more: no overlap).
	MaxInFlight int
	// PublishTimeout bounds the wait for a batch's acks (all its chunks).
	PublishTimeout time.Duration
	// Owner names this relay instance in its leases' values (see
	// LeaseBucket); LeaseTTL is how long its lease on a server lasts without
	// renewal. Every relay must use the same LeaseTTL: it is the bucket's.
	// The bucket's TTL must be LeaseTTL (outbox-relay provision declares
	// it from relay.lease_ttl; the relay verifies it at start).
	Owner    string
	LeaseTTL time.Duration
	// MaxAttempts is how many times a row that JetStream refuses for good
	// (see permanent) is tried before it is set aside, so that the rows
	// behind it are published.
	MaxAttempts int
	// Retention is how long published rows are kept before the holder of
	// the server's lease deletes them (see Prune); 0 keeps them forever,
	// which only tests use (relay.outbox_retention must be positive). Kept
	// rows are what "outbox-relay republish" can send again.
	Retention time.Duration
}

// Relay copies committed outbox rows of every shard to JetStream, in id order
// per shard, with Nats-Msg-Id = event id: a row re-published after a crash is
// dropped by the stream's duplicate window. A shard's rows go to its
// partition's stream, a saga step also to the acting shard's (Route). It runs one worker per database
// server, which publishes the server's shards while it holds the server's
// lease, so that its queries, leases and goroutines grow with servers, not
// shards.
type Relay struct {
	js     jetstream.JetStream
	cfg    RelayConfig
	log    *slog.Logger
	leases *lease.Bucket
	// value is what this relay writes in the keys of the leases it holds:
	// its owner name and a token no other relay has.
	value []byte
	wakes router
	// beforeMark, set by crash tests only (export_test.go), runs after
	// JetStream acknowledged a chunk and before its rows are marked.
	beforeMark func()
}

// NewRelay returns a relay over the servers cfg.Servers returns. It
// listens for wake-ups and keeps its leases on js's connection.
func NewRelay(js jetstream.JetStream, cfg RelayConfig, log *slog.Logger) (*Relay, error) {
	if cfg.Servers == nil || js == nil || log == nil {
		return nil, errors.New("outbox relay: servers, jetstream and logger are required")
	}
	if cfg.BatchSize < 1 || cfg.MaxInFlight < 1 || cfg.MaxAttempts < 1 || cfg.PollInterval <= 0 || cfg.PublishTimeout <= 0 ||
		cfg.LeaseTTL <= 0 || cfg.Owner == "" {
		return nil, errors.New("outbox relay: batch size, max in flight, max attempts, poll interval, publish time-out, lease TTL and owner are required")
	}
	if err := (Route{Shards: cfg.Shards, Partitions: cfg.Partitions}).check(); err != nil {
		return nil, fmt.Errorf("outbox relay: shards and partitions: %w", err)
	}
	if cfg.LeaseTTL < minLeaseTTL {
		return nil, fmt.Errorf("outbox relay: lease TTL %v is shorter than JetStream's shortest, %v", cfg.LeaseTTL, minLeaseTTL)
	}
	if cfg.Retention < 0 {
		return nil, errors.New("outbox relay: retention must not be negative")
	}
	token := make([]byte, 8)
	_, _ = rand.Read(token)
	return &Relay{js: js, cfg: cfg, log: log,
		// Looked up, not declared: replicas do not matter here.
		leases: lease.NewBucket(js, LeaseBucket, leaseDescription, cfg.LeaseTTL, 0),
		value:  []byte(cfg.Owner + " " + hex.EncodeToString(token)),
		wakes:  router{owner: map[int]*worker{}},
	}, nil
}

// Run relays every server's shards until ctx ends. It starts a worker for
// each server Servers lists, and for a server listed later within a quarter
// of a lease TTL; a worker stops when its server is no longer listed.
func (r *Relay) Run(ctx context.Context) error {
	unsubscribe := r.subscribeWake()
	defer unsubscribe()
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]chan struct{}{}
	for {
		for _, s := range r.cfg.Servers() {
			if !r.serves(s.Name) {
				continue
			}
			if done, ok := running[s.Name]; ok {
				select {
				case <-done: // stopped: its server was gone for a while
				default:
					continue
				}
			}
			done := make(chan struct{})
			running[s.Name] = done
			wg.Add(1)
			go func(name string) {
				defer wg.Done()
				defer close(done)
				r.newWorker(name).run(ctx)
			}(s.Name)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.LeaseTTL / 4):
		}
	}
}

// serves reports whether this relay publishes server name's shards
// (RelayConfig.Serves).
func (r *Relay) serves(name string) bool {
	return len(r.cfg.Serves) == 0 || slices.Contains(r.cfg.Serves, name)
}

// RelayOnce publishes one batch of shard's unpublished rows, on the server
// that holds it now, and marks the acknowledged prefix published. It
// returns how many rows it marked. It takes no lease.
func (r *Relay) RelayOnce(ctx context.Context, shard int) (int, error) {
	for _, srv := range r.cfg.Servers() {
		for _, sh := range srv.Shards {
			if sh.N == shard {
				return r.newShardRelay(shard, srv.DB, outboxTable(sh)).step(ctx)
			}
		}
	}
	return 0, fmt.Errorf("outbox relay: shard %d is on no server", shard)
}

// server returns the server named name as placed now.
func (r *Relay) server(name string) (Server, bool) {
	for _, s := range r.cfg.Servers() {
		if s.Name == name {
			return s, true
		}
	}
	return Server{}, false
}

// subscribeWake listens on every shard's WakeSubject with one subscription
// and routes each wake-up to the worker that publishes the shard. Wake-ups
// are an optimisation: without them each server is still asked every
// PollInterval, so a failure is logged, not returned.
func (r *Relay) subscribeWake() func() {
	sub, err := r.js.Conn().Subscribe(wakeSubjects, func(m *nats.Msg) {
		if shard, ok := wakeShard(m.Subject); ok {
			r.wakes.woke(shard)
		}
	})
	if err != nil {
		r.log.Warn("outbox relay: no wake-ups, polling only", "err", err)
		return func() {}
	}
	return func() { _ = sub.Unsubscribe() }
}

func (r *Relay) newShardRelay(shard int, db database.DB, table string) *shardRelay {
	return &shardRelay{cfg: r.cfg, js: r.js, db: db, table: table, shard: shard, m: metricsFor(strconv.Itoa(shard)),
		route: Route{Shard: shard, Shards: r.cfg.Shards, Partitions: r.cfg.Partitions},
		log:   r.log.With("shard", shard), beforeMark: r.beforeMark}
}

// router hands each wake-up to the worker that publishes its shard now, if
// any in this relay does: a worker holding no lease gets none.
type router struct {
	mu    sync.Mutex
	owner map[int]*worker
}

// woke marks shard dirty for its worker and wakes that worker.
func (x *router) woke(shard int) {
	x.mu.Lock()
	w := x.owner[shard]
	if w != nil {
		w.dirty[shard] = struct{}{}
	}
	x.mu.Unlock()
	if w != nil {
		// One buffered slot: any number of wake-ups while the worker is
		// busy collapse into one extra round.
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// route makes w the worker of shards, and of no other shard.
func (x *router) route(w *worker, shards []int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for n, o := range x.owner {
		if o == w {
			delete(x.owner, n)
		}
	}
	keep := make(map[int]struct{}, len(shards))
	for _, n := range shards {
		x.owner[n] = w
		keep[n] = struct{}{}
	}
	for n := range w.dirty {
		if _, ok := keep[n]; !ok {
			delete(w.dirty, n)
		}
	}
}

// take returns and clears the shards woken for w.
func (x *router) take(w *worker) []int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(w.dirty) == 0 {
		return nil
	}
	out := make([]int, 0, len(w.dirty))
	for n := range w.dirty {
		out = append(out, n)
	}
	clear(w.dirty)
	return out
}

// pause waits for d, until ctx ends or until a wake-up (a nil wake never
// comes).
func pause(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// backoff is the capped exponential pause after failures in a row: 100ms,
// 200ms, … 5s while a database or the broker is away.
func backoff(failures int) time.Duration {
	return min(100*time.Millisecond<<min(max(failures, 1)-1, 6), 5*time.Second)
}
