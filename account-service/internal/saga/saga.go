// Package saga runs account-service's side of the cross-shard transfer saga
// on JetStream: one durable pull consumer per event partition (saga on
// WALLET_<p>, ADR 0038), pulled by the instances that consume the
// partition, takes the events the partition's shards must act on
// (transfer.debited to credit, transfer.credited and
// transfer.credit_rejected to settle) and applies each in the group commit
// of the shard that holds its account now; one
// janitor and one redriver per database server prune the inboxes and
// re-send the debit of transfers stuck pending; and a Waiter lets HTTP
// requests wait for the end. What runs is proportional to servers, not to
// shards (ADR 0036).
package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/tick"
)

// Store is the saga's storage: where the shards are, redrives and the
// operator's record of poison messages.
type Store interface {
	Shards() int
	Servers() int
	// Server returns the server that holds shard now.
	Server(shard int) int
	// Shard returns shard on the server that holds it now.
	Shard(shard int) database.DB
	// Schemas returns server's pool and the schemas of the shards it holds
	// now, for the inbox janitor.
	Schemas(server int) (*sqlx.DB, []string)
	// Redrive re-sends the debits of the transfers stuck on server's shards.
	Redrive(ctx context.Context, server int, olderThan time.Duration) (int, error)
}

// Steps applies saga steps in a shard's next group commit
// (groupcommit.Writer.Do).
type Steps interface {
	Do(ctx context.Context, shard int, ops []account.Op) []account.Result
}

// Config tunes the saga consumer. MaxDeliver, RedriveAfter and
// InboxRetention are required: their defaults are the account.* settings'
// in pkg/config.
type Config struct {
	// MaxDeliver bounds redeliveries of one message; a message that keeps
	// failing is then dropped by JetStream and its transfer redriven.
	MaxDeliver int
	// RedriveAfter is how long a transfer may stay pending before its debit
	// is sent again.
	RedriveAfter time.Duration
	// InboxRetention is how long the saga inbox rows are kept (see
	// inbox.Prune).
	InboxRetention time.Duration
	// Poison records the messages the consumer terminates in the database
	// of the shard they belong to now (deadletter.Handler); required.
	Poison func(db database.DB, durable string) stream.PoisonHandler
	// Patience is how long a batch waits for a server's steps before it
	// lets them go (see handle); 0 means the default, 2s. Tests shorten it.
	Patience time.Duration
	// Partitions is the number of event partitions (nats.partitions),
	// required; Consume lists those whose steps this instance consumes
	// (account.saga_partitions), every one if empty.
	Partitions int
	Consume    []int
}

// Durable is the consumer of a partition's saga steps, on each
// partition's stream.
const Durable = "saga"

// maxBatch bounds the events of one handler call, of any shards.
const maxBatch = 1024

// patience bounds how long a batch waits for one server's steps: beyond
// what a loaded server's group commit takes (its queue full, seconds), and
// below AckWait. A server that does not answer in time (cut off, or
// stalled) must not hold back the steps of the other servers, which share
// the consumer; one merely slow must not have its steps turned back, which
// only adds redeliveries to its load (2 s did, under make bench).
const patience = 10 * time.Second

// errServerStuck answers the steps of a server that did not answer a batch
// within Patience: they are nak'd and come again later.
var errServerStuck = errors.New("saga: the shard's server is not answering; the step comes again later")

// Runner runs the consumer, the janitors and the redrivers.
type Runner struct {
	js    jetstream.JetStream
	store Store
	steps Steps
	cfg   Config
	log   *slog.Logger
	// partitions are the partitions whose steps this instance consumes;
	// health[i] records the state of partitions[i]'s consumer.
	partitions []int
	health     []*stream.Health

	mu sync.Mutex
	// stuck says until when a server that did not answer a batch within
	// Patience gets its steps nak'd at once (see handle).
	stuck map[int]time.Time
}

// NewRunner checks its dependencies.
func NewRunner(js jetstream.JetStream, store Store, steps Steps, cfg Config, log *slog.Logger) (*Runner, error) {
	if js == nil || store == nil || steps == nil || log == nil {
		return nil, errors.New("saga: jetstream, store, steps and logger are required")
	}
	if cfg.MaxDeliver < 1 || cfg.RedriveAfter <= 0 || cfg.InboxRetention <= 0 || cfg.Poison == nil {
		return nil, errors.New("saga: MaxDeliver, RedriveAfter, InboxRetention and Poison must be set")
	}
	if cfg.Patience <= 0 {
		cfg.Patience = patience
	}
	if cfg.Partitions < 1 || store.Shards()%cfg.Partitions != 0 {
		return nil, fmt.Errorf("saga: %d partitions of %d shards: the partitions must divide the shards", cfg.Partitions, store.Shards())
	}
	partitions := cfg.Consume
	if len(partitions) == 0 {
		for p := range cfg.Partitions {
			partitions = append(partitions, p)
		}
	}
	for _, p := range partitions {
		if p < 0 || p >= cfg.Partitions {
			return nil, fmt.Errorf("saga: partition %d is not one of 0..%d", p, cfg.Partitions-1)
		}
	}
	health := make([]*stream.Health, len(partitions))
	for i := range health {
		health[i] = stream.NewHealth()
	}
	return &Runner{js: js, store: store, steps: steps, cfg: cfg, log: log, partitions: partitions, health: health,
		stuck: map[int]time.Time{}}, nil
}

// ConsumerConfig is the durable consumer of partition p's saga steps, on
// its stream WALLET_<p>: the partition's facts of the three saga event
// types, whatever shard their subject names (an event published before the
// shard count grew names the old count's shard), and the step copies other
// partitions sent it (saga.<p>.>). A fact whose acting shard lies in
// another partition is acknowledged unacted: its copy is there (ADR 0038).
func ConsumerConfig(p, maxDeliver int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:     Durable,
		Description: fmt.Sprintf("account-service: cross-shard transfer steps of partition %d's shards", p),
		FilterSubjects: []string{
			anyShard(p, events.TransferDebited),
			anyShard(p, events.TransferCredited),
			anyShard(p, events.TransferCreditRejected),
			events.StepRoot + "." + strconv.Itoa(p) + ".>",
		},
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       stream.AckWait,
		MaxDeliver:    maxDeliver,
		// Room for a batch being applied, one gathered behind it and the
		// pull buffer, for several instances.
		MaxAckPending: 16 * maxBatch,
	}
}

// anyShard is the fact subject of eventType in partition p, for every
// shard.
func anyShard(p int, eventType string) string {
	return events.FactSubject(p, events.FactRoot+"."+eventType+".*")
}

// Run consumes the saga steps of the partitions cfg.Consume names (every
// one if none), prunes the inboxes and redrives stuck transfers until ctx
// ends.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(r.partitions))
	for i, p := range r.partitions {
		wg.Go(func() {
			opts := stream.BatchOptions{Options: stream.Options{Poison: r.poisonOf(p), Stream: stream.PartitionName(p)},
				MaxBatch: maxBatch, Health: r.health[i]}
			errs[i] = stream.ConsumeBatch(ctx, r.js, ConsumerConfig(p, r.cfg.MaxDeliver), r.handlerOf(p), opts, r.log)
		})
	}
	for srv := range r.store.Servers() {
		wg.Go(func() { r.janitor(srv).Run(ctx) })
		wg.Go(func() { r.redrive(ctx, srv) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Streams are the streams whose saga consumers this instance runs, one per
// partition it consumes (for the lag metric).
func (r *Runner) Streams() []string {
	out := make([]string, len(r.partitions))
	for i, p := range r.partitions {
		out[i] = stream.PartitionName(p)
	}
	return out
}

// Health reports the state of this instance's saga consumers for /readyz,
// by stream: {"WALLET_0": {"saga": {...}}}, as ledger-service does.
func (r *Runner) Health() map[string]map[string]stream.ConsumerHealth {
	out := map[string]map[string]stream.ConsumerHealth{}
	for i, p := range r.partitions {
		out[stream.PartitionName(p)] = r.health[i].Report()
	}
	return out
}

// HealthErr is nil when every saga consumer of this instance runs.
func (r *Runner) HealthErr() error {
	var errs []error
	for i, p := range r.partitions {
		if err := r.health[i].Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", stream.PartitionName(p), err))
		}
	}
	return errors.Join(errs...)
}

// partitionOf returns the event partition of shard under the current
// shard count.
func (r *Runner) partitionOf(shard int) int {
	return events.Partition(shard, r.store.Shards(), r.cfg.Partitions)
}

// floorOf returns the time of the oldest saga message that may still be
// delivered again to a shard server srv holds now: the earliest over the
// consumers of those shards' partitions, since a shard's steps all come
// through its partition's consumer (whichever instance runs it).
func (r *Runner) floorOf(srv int) func(ctx context.Context) (time.Time, error) {
	return func(ctx context.Context) (time.Time, error) {
		seen := map[int]bool{}
		var floor time.Time
		for sh := range r.store.Shards() {
			p := r.partitionOf(sh)
			if seen[p] || r.store.Server(sh) != srv {
				continue
			}
			seen[p] = true
			t, err := stream.UnsettledOn(ctx, r.js, stream.PartitionName(p), Durable)
			if err != nil {
				return time.Time{}, fmt.Errorf("saga consumer of %s: %w", stream.PartitionName(p), err)
			}
			if !t.IsZero() && (floor.IsZero() || t.Before(floor)) {
				floor = t
			}
		}
		return floor, nil
	}
}

// janitor prunes the saga inbox of every shard server srv holds now. Rows
// of messages the consumer may still be redelivered are kept: a message
// nak'd or held by a crashed process comes again up to MaxDeliver times,
// 30-60 s apart, and not at all while account-service is down, so no fixed
// horizon covers it. The inbox is keyed by event id under one consumer
// name (account.SagaInbox), whichever durable delivered it.
func (r *Runner) janitor(srv int) inbox.Janitor {
	return inbox.Janitor{Schemas: func() (*sqlx.DB, []string) { return r.store.Schemas(srv) },
		Consumer: account.SagaInbox, Durable: Durable, Retention: r.cfg.InboxRetention, Log: r.log.With("server", srv),
		Floor: r.floorOf(srv)}
}

// group is the steps of a batch one shard applies.
type group struct {
	shard int
	ops   []account.Op
	at    []int // the events' indexes in the batch
	res   []account.Result
	done  chan struct{} // closed once res is set
}

// handlerOf is handle for partition p's consumer.
func (r *Runner) handlerOf(p int) stream.BatchHandler {
	return func(ctx context.Context, evts []events.Event) []error { return r.handle(ctx, p, evts) }
}

// handle applies a batch of partition p's saga events, of any of its
// shards, skipping (acknowledging) those whose acting shard lies in
// another partition: each shard's in
// its server's next group commit, all shards at once. An event goes to the
// shard of its account under the current shard count (account.OpFor), not
// the one its subject or payload names. An event that can never apply
// (malformed, for a transfer the shard never recorded) is permanent and
// terminated; the others are acked after their shard committed them.
//
// Every server's steps share the consumer, so a server that does not
// answer within Patience does not hold back the batch: its events are
// nak'd to come again, steps of it still queued are dropped (one already
// committing is recognised by the inbox when its event comes again), and
// its steps are nak'd at once for the next 2×Patience, after which a batch
// tries it again.
func (r *Runner) handle(ctx context.Context, p int, evts []events.Event) []error {
	errs := make([]error, len(evts))
	byShard := map[int]*group{}
	var groups []*group
	for i, e := range evts {
		op, sh, err := account.OpFor(e, r.store.Shards())
		if err != nil {
			errs[i] = permanent(err)
			continue
		}
		if r.partitionOf(sh) != p {
			continue // acked unacted: the acting shard's partition has its copy
		}
		g := byShard[sh]
		if g == nil {
			g = &group{shard: sh, done: make(chan struct{})}
			byShard[sh] = g
			groups = append(groups, g)
		}
		g.ops, g.at = append(g.ops, op), append(g.at, i)
	}
	wait, cancel := context.WithTimeout(ctx, r.cfg.Patience)
	defer cancel() // steps still queued when the batch gave up are not applied
	servers := make([]int, len(groups))
	for i, g := range groups {
		if servers[i] = r.store.Server(g.shard); r.isStuck(servers[i]) {
			g.res = stuck(len(g.ops))
			close(g.done)
			continue
		}
		go func() {
			g.res = r.steps.Do(wait, g.shard, g.ops)
			close(g.done)
		}()
	}
	for _, g := range groups {
		select {
		case <-g.done:
		case <-wait.Done():
		}
	}
	for i, g := range groups {
		res := stuck(len(g.ops))
		select {
		case <-g.done:
			res = g.res
		default:
			r.letGo(servers[i])
		}
		for j, res := range res {
			errs[g.at[j]] = permanent(res.Err)
		}
	}
	return errs
}

// stuck answers n steps of a server that is not answering.
func stuck(n int) []account.Result {
	res := make([]account.Result, n)
	for i := range res {
		res[i].Err = errServerStuck
	}
	return res
}

func (r *Runner) isStuck(srv int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Now().Before(r.stuck[srv])
}

// letGo records that server srv did not answer a batch within Patience.
func (r *Runner) letGo(srv int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !time.Now().Before(r.stuck[srv]) {
		r.log.Warn("a database server is not answering saga steps in time; its steps come again later",
			"server", srv, "patience", r.cfg.Patience.String())
	}
	r.stuck[srv] = time.Now().Add(2 * r.cfg.Patience)
}

// permanent marks the domain's "can never apply" errors for the stream, and
// data the database refuses (a settle, or a credit whose rejection failed
// too): terminated and kept as dead letters for an operator.
func permanent(err error) error {
	if errors.Is(err, account.ErrMisrouted) || errors.Is(err, account.ErrUnknownTransfer) || database.Permanent(err) {
		return fmt.Errorf("%w: %w", stream.ErrPermanent, err)
	}
	return err
}

// ShardOf returns the shard a saga message belongs to now, among shards:
// the one whose account acts on it (account.OpFor), or, for a message that
// is not a readable saga step, the shard its subject names if there is
// one (else 0). Its dead letter is kept there.
func ShardOf(subject string, h nats.Header, data []byte, shards int) int {
	if e, err := events.FromMsg(subject, h, data); err == nil {
		if _, sh, err := account.OpFor(e, shards); err == nil {
			return sh
		}
	}
	if sh, err := events.Shard(subject); err == nil && sh >= 0 && sh < shards {
		return sh
	}
	return 0
}

// poisonOf records a message partition p's consumer terminates in the
// database of the shard it belongs to now, under the consumer's label
// (saga@WALLET_<p>).
func (r *Runner) poisonOf(p int) stream.PoisonHandler {
	label := stream.ConsumerLabel(stream.PartitionName(p), Durable)
	return func(ctx context.Context, m jetstream.Msg, cause error) error {
		sh := ShardOf(m.Subject(), m.Headers(), m.Data(), r.store.Shards())
		return r.cfg.Poison(r.store.Shard(sh), label)(ctx, m, cause)
	}
}

// DeadLetters returns the database that records the dead letter of a
// message JetStream dropped after MaxDeliver (deadletter.WatchAdvisories):
// its shard's now, or shard 0's for a message the stream no longer holds
// (m nil).
func (r *Runner) DeadLetters(m *jetstream.RawStreamMsg) database.DB {
	if m == nil {
		return r.store.Shard(0)
	}
	return r.store.Shard(ShardOf(m.Subject, m.Header, m.Data, r.store.Shards()))
}

// redrive re-sends, every RedriveAfter/3, the debit of server srv's
// transfers pending for longer than RedriveAfter: the destination answers
// again from its record of the credit, so a lost or dropped message cannot
// leave a saga unfinished. Each round costs one query on the server when
// nothing is stuck (Store.Redrive).
func (r *Runner) redrive(ctx context.Context, srv int) {
	tick.Every(ctx, max(r.cfg.RedriveAfter/3, 100*time.Millisecond), func(ctx context.Context) {
		n, err := r.store.Redrive(ctx, srv, r.cfg.RedriveAfter)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("redrive", "server", srv, "err", err)
		}
		if n > 0 {
			r.log.Info("redrove pending transfers", "server", srv, "count", n)
		}
	})
}
