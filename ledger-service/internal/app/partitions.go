package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/ledger-service/internal/consumer"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/lease"
	"github.com/walletco/wallet/pkg/stream"
)

// LeaseBucket is the JetStream key-value bucket in which ledger-service
// instances divide the event partitions (ADR 0038): the key partition.<p>
// names the instance that applies partition p, and each instance keeps a
// heartbeat key, so that every instance knows how many are alive: an
// instance of every partition instance.<id>, an instance limited to a list
// (ledger.partitions) instance.<group>.<id>, where group names its list,
// e.g. p2-3, so that it shares its list's partitions only with the
// instances of the same list. The bucket's TTL is ledger.lease_ttl: a key not renewed within it
// expires.
const LeaseBucket = "wallet_ledger_leases"

var partitionsHeld = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "wallet_ledger_partitions_held",
	Help: "Event partitions whose lease this ledger-service instance holds and whose stream it applies.",
})

// part is one event partition: its schema, its store and, while this
// instance holds its lease, its consumer.
type part struct {
	p      int
	db     *sqlx.DB
	store  *mysql.Store
	health *stream.Health // the consumer's state while held
	// gaps is the gap the partition's consumer waits at (ADR 0039); like
	// health it outlives each consumer the partition gets.
	gaps *consumer.GapReport
}

// stream is the partition's JetStream stream.
func (pt *part) stream() string { return stream.PartitionName(pt.p) }

// holder divides the partitions between the live instances: it holds at
// most ⌈P / live instances⌉ leases (P its partitions, all or its list's,
// and the instances those of the same list), takes free ones up to that, gives up
// the ones above it (a new instance joined), and applies the partitions it
// holds. A dead instance's leases and heartbeat expire at most one TTL
// after its last renewal (renewed every third of a TTL); the others try
// every TTL/4, so they take its partitions within about 1.5 TTL (measured
// 0.9–1.4 s at a TTL of 1 s). A stopping instance releases its leases, and
// they are taken at the others' next try.
type holder struct {
	bucket *lease.Bucket
	id     string // this instance, unique: host, pid, random token
	// mine are the partitions this instance may apply, ascending: every
	// one, or ledger.partitions; leases[p] is partition p's lease, nil for
	// a partition not in mine.
	mine   []int
	leases []*lease.Lease
	// beatKey is this instance's heartbeat key and peers the filter of its
	// group's heartbeats (see LeaseBucket).
	beatKey, peers string
	log            *slog.Logger
	// apply runs partition p until ctx ends (the consumer and its janitor).
	apply func(ctx context.Context, p int)

	mu      sync.Mutex
	running map[int]*running
	rounds  int // lease rounds done; readiness waits for the first
	beatRev uint64
	beatAt  time.Time
}

type running struct {
	stop context.CancelFunc
	done chan struct{}
}

// newHolder returns the holder of the partitions only, or of every one of
// partitions when only is empty.
func newHolder(js jetstream.JetStream, partitions int, only []int, ttl time.Duration, replicas int, log *slog.Logger, apply func(context.Context, int)) *holder {
	host, _ := os.Hostname()
	token := make([]byte, 6)
	_, _ = rand.Read(token)
	id := strings.NewReplacer(".", "_", " ", "_").Replace(fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(token)))
	h := &holder{
		bucket: lease.NewBucket(js, LeaseBucket, "which ledger-service instance applies each event partition", ttl, replicas),
		id:     id, log: log, apply: apply, running: map[int]*running{},
	}
	h.beatKey, h.peers = "instance."+id, "instance.*"
	if len(only) == 0 {
		for p := range partitions {
			h.mine = append(h.mine, p)
		}
	} else {
		h.mine = slices.Sorted(slices.Values(only))
		group := make([]string, len(h.mine))
		for i, p := range h.mine {
			group[i] = strconv.Itoa(p)
		}
		g := "p" + strings.Join(group, "-")
		h.beatKey, h.peers = "instance."+g+"."+id, "instance."+g+".*"
	}
	h.leases = make([]*lease.Lease, partitions)
	for _, p := range h.mine {
		h.leases[p] = &lease.Lease{Bucket: h.bucket, Key: "partition." + strconv.Itoa(p), Value: []byte(id)}
	}
	return h
}

// Held returns the partitions this instance applies now, in order.
func (h *holder) Held() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for _, p := range h.mine {
		if h.running[p] != nil {
			out = append(out, p)
		}
	}
	return out
}

// started reports whether a lease round has run.
func (h *holder) started() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rounds > 0
}

// Run takes, keeps and gives up leases until ctx ends, then stops every
// partition and releases its leases and heartbeat, so that another
// instance takes over at once.
func (h *holder) Run(ctx context.Context) {
	tick := h.bucket.TTL() / 4
	for {
		h.round(ctx)
		select {
		case <-ctx.Done():
			bg := context.WithoutCancel(ctx)
			for _, p := range h.mine {
				h.stop(p)
				h.leases[p].Release(bg)
			}
			h.dropBeat(bg)
			return
		case <-time.After(tick):
		}
	}
}

// round is one pass: heartbeat, count live instances, renew, give up,
// take.
func (h *holder) round(ctx context.Context) {
	defer func() {
		h.mu.Lock()
		h.rounds++
		h.mu.Unlock()
		partitionsHeld.Set(float64(len(h.Held())))
	}()
	live, err := h.beat(ctx)
	if err != nil {
		h.log.Warn("ledger leases: heartbeat", "err", err)
		live = 1
	}
	limit := (len(h.mine) + live - 1) / live
	held := 0
	for _, p := range h.mine {
		if h.running[p] == nil {
			continue
		}
		ok, err := h.leases[p].Hold(ctx)
		if err != nil || !ok {
			h.log.Warn("ledger leases: partition lost; another instance applies it", "partition", p, "err", err)
			h.stop(p)
			continue
		}
		held++
	}
	// A new instance joined: give up the partitions above this one's share,
	// the highest first, so that it can take them at once.
	for i := len(h.mine) - 1; i >= 0 && held > limit; i-- {
		p := h.mine[i]
		if h.running[p] == nil {
			continue
		}
		h.log.Info("ledger leases: giving a partition up for another instance", "partition", p, "live_instances", live)
		h.stop(p)
		h.leases[p].Release(ctx)
		held--
	}
	// Take free partitions up to the share, starting at an offset of this
	// instance's own so that instances starting together try different
	// keys first.
	n := len(h.mine)
	off := int(hashOf(h.id) % uint32(n))
	for i := 0; i < n && held < limit && ctx.Err() == nil; i++ {
		p := h.mine[(off+i)%n]
		if h.running[p] != nil {
			continue
		}
		ok, err := h.leases[p].Hold(ctx)
		if err != nil {
			h.log.Warn("ledger leases: take", "partition", p, "err", err)
			continue
		}
		if !ok {
			continue
		}
		h.log.Info("ledger leases: partition taken; applying it", "partition", p)
		h.start(ctx, p)
		held++
	}
}

// beat writes this instance's heartbeat (every third of a TTL) and returns
// the number of live instances of its group, this one included.
func (h *holder) beat(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, h.bucket.TTL()/3)
	defer cancel()
	kv, err := h.bucket.KV(ctx)
	if err != nil {
		return 0, err
	}
	if time.Now().After(h.beatAt) {
		start := time.Now()
		rev, err := kv.Put(ctx, h.beatKey, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
		if err != nil {
			h.bucket.Forget()
			return 0, err
		}
		h.beatRev, h.beatAt = rev, start.Add(h.bucket.TTL()/3)
	}
	keys, err := kv.ListKeysFiltered(ctx, h.peers)
	if err != nil {
		return 0, err
	}
	live, self := 0, false
	for k := range keys.Keys() {
		live++
		self = self || k == h.beatKey
	}
	if !self {
		live++
	}
	return live, nil
}

func (h *holder) dropBeat(ctx context.Context) {
	if h.beatRev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.bucket.TTL()/3)
	defer cancel()
	if kv, err := h.bucket.KV(ctx); err == nil {
		_ = kv.Delete(ctx, h.beatKey, jetstream.LastRevision(h.beatRev))
	}
}

// start applies partition p until stop.
func (h *holder) start(ctx context.Context, p int) {
	pctx, cancel := context.WithCancel(ctx)
	r := &running{stop: cancel, done: make(chan struct{})}
	h.mu.Lock()
	h.running[p] = r
	h.mu.Unlock()
	go func() {
		defer close(r.done)
		h.apply(pctx, p)
	}()
}

// stop ends partition p's consumer and waits for its batch to settle.
func (h *holder) stop(p int) {
	h.mu.Lock()
	r := h.running[p]
	delete(h.running, p)
	h.mu.Unlock()
	if r == nil {
		return
	}
	r.stop()
	<-r.done
}

func hashOf(s string) uint32 {
	var x uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		x = (x ^ uint32(s[i])) * 16777619
	}
	return x
}

// runPartition applies partition pt's stream, with its inbox janitor
// beside it, until ctx ends.
func (a *App) runPartition(ctx context.Context, pt *part) {
	c, err := consumer.New(a.js, pt.store, deadletter.Handler(pt.db, consumer.Name), a.log.With("partition", pt.p))
	if err != nil {
		a.log.Error("ledger consumer", "partition", pt.p, "err", err)
		return
	}
	c.Stream, c.Health = pt.stream(), pt.health
	c.Partition, c.Gaps = pt.p, pt.gaps
	c.BatchWait = a.cfg.Ledger.BatchWait
	var wg sync.WaitGroup
	jctx, stop := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		inbox.Janitor{DB: func() database.DB { return pt.db }, Consumer: ledger.Consumer, Durable: consumer.Name,
			Retention: a.cfg.Ledger.InboxRetention, Log: a.log.With("partition", pt.p),
			Floor: func(ctx context.Context) (time.Time, error) {
				return stream.UnsettledOn(ctx, a.js, pt.stream(), consumer.Name)
			}}.Run(jctx)
	}()
	if err := retry(ctx, a, fmt.Sprintf("start consumer of partition %d", pt.p), c.Run); err != nil {
		a.log.Error("ledger consumer stopped", "partition", pt.p, "err", err)
	}
	stop()
	wg.Wait()
}
