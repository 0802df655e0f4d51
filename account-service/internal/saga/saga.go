// Package saga runs account-service's side of the cross-shard transfer saga
// on JetStream: one durable pull consumer, pulled by every instance, takes
// the events every shard must act on (transfer.debited to credit,
// transfer.credited and transfer.credit_rejected to settle) and applies
// each in the group commit of the shard that holds its account now; one
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
	"strings"
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
	// Health, if set, records the consumer's state for /readyz.
	Health *stream.Health
	// Poison records the messages the consumer terminates in the database
	// of the shard they belong to now (deadletter.Handler); required.
	Poison func(db database.DB, durable string) stream.PoisonHandler
	// Patience is how long a batch waits for a server's steps before it
	// lets them go (see handle); 0 means the default, 2s. Tests shorten it.
	Patience time.Duration
}

// Durable is the consumer of every shard's saga steps.
const Durable = "saga"

// legacyPrefix names the previous release's consumers, one per shard
// (saga-shard-N), which Run replaces by Durable.
const legacyPrefix = "saga-shard-"

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
	return &Runner{js: js, store: store, steps: steps, cfg: cfg, log: log, stuck: map[int]time.Time{}}, nil
}

// ConsumerConfig is the durable consumer of every shard's saga steps: the
// three saga event types, whatever shard their subject names (an event
// published before the shard count grew names the old count's shard).
func ConsumerConfig(maxDeliver int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:     Durable,
		Description: "account-service: cross-shard transfer steps of every shard",
		FilterSubjects: []string{
			anyShard(events.TransferDebited),
			anyShard(events.TransferCredited),
			anyShard(events.TransferCreditRejected),
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

// anyShard is events.Topic for every shard.
func anyShard(eventType string) string { return "wallet." + eventType + ".*" }

// Run replaces the previous release's per-shard consumers (migrate), then
// consumes every shard's saga events, prunes the inboxes and redrives
// stuck transfers until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	cfg := ConsumerConfig(r.cfg.MaxDeliver)
	if r.migrateUntilDone(ctx, cfg); ctx.Err() != nil {
		return nil
	}
	var wg sync.WaitGroup
	var err error
	wg.Go(func() {
		opts := stream.BatchOptions{Options: stream.Options{Poison: r.poison}, MaxBatch: maxBatch, Health: r.cfg.Health}
		err = stream.ConsumeBatch(ctx, r.js, cfg, r.handle, opts, r.log)
	})
	for srv := range r.store.Servers() {
		wg.Go(func() { r.janitor(srv).Run(ctx) })
		wg.Go(func() { r.redrive(ctx, srv) })
	}
	wg.Wait()
	return err
}

// migrateUntilDone retries migrate until it succeeds or ctx ends: NATS may
// not answer yet when the service starts, and consuming before the old
// consumers' position is taken over could skip what they left unacked.
func (r *Runner) migrateUntilDone(ctx context.Context, cfg jetstream.ConsumerConfig) {
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 30*time.Second) {
		err := r.migrate(ctx, cfg)
		if err == nil || ctx.Err() != nil {
			return
		}
		r.log.Warn("replacing the per-shard saga consumers failed, retrying", "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// migrate replaces the previous release's consumers, one per shard
// (saga-shard-N), by Durable. If Durable does not exist yet, it is created
// to start one past the lowest ack floor among them, so that no message
// one of them had not acknowledged is skipped; the messages after that
// floor which the others had acknowledged come again, and the inbox (keyed
// by the event id, whichever consumer delivers it) and the business keys
// make them no-ops. Then the old consumers are deleted. Instances that
// start together may both migrate: Durable is created once (a second,
// different creation is refused and ignored) and a consumer deleted twice
// is no error. Without old consumers, Durable is left to ConsumeBatch,
// which creates it to deliver every message.
func (r *Runner) migrate(ctx context.Context, cfg jetstream.ConsumerConfig) error {
	s, err := r.js.Stream(ctx, stream.Name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream.Name, err)
	}
	var legacy []string
	names := s.ConsumerNames(ctx)
	for name := range names.Name() {
		if isLegacy(name) {
			legacy = append(legacy, name)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list consumers: %w", err)
	}
	if len(legacy) == 0 {
		return nil
	}
	_, err = s.Consumer(ctx, Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		start, err := startOf(ctx, s, legacy)
		if err != nil {
			return err
		}
		at := cfg
		at.DeliverPolicy, at.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
		if _, err := s.CreateConsumer(ctx, at); err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
			return fmt.Errorf("create consumer %s: %w", Durable, err)
		}
		r.log.Info("created the saga consumer at the per-shard consumers' position", "consumer", Durable, "start_seq", start, "replaces", legacy)
	case err != nil:
		return fmt.Errorf("look up consumer %s: %w", Durable, err)
	}
	for _, name := range legacy {
		if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("delete consumer %s: %w", name, err)
		}
	}
	r.log.Info("deleted the per-shard saga consumers", "consumers", legacy)
	return nil
}

// isLegacy reports whether name is one of the previous release's
// per-shard saga consumers (saga-shard-N).
func isLegacy(name string) bool {
	n, ok := strings.CutPrefix(name, legacyPrefix)
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// startOf returns the first stream sequence the one consumer must deliver
// to miss nothing the consumers named legacy have not acknowledged: one
// past the lowest of their ack floors. A consumer with nothing pending and
// nothing unacknowledged has settled every message of its subjects stored
// before its state was read, so it holds the start back no further than
// the stream's last sequence read before (an idle shard's floor may be
// hours old).
func startOf(ctx context.Context, s jetstream.Stream, legacy []string) (uint64, error) {
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream.Name, err)
	}
	floor := info.State.LastSeq
	for _, name := range legacy {
		c, err := s.Consumer(ctx, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue // another instance migrated meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("consumer %s: %w", name, err)
		}
		ci := c.CachedInfo()
		if ci.NumPending > 0 || ci.NumAckPending > 0 {
			floor = min(floor, ci.AckFloor.Stream)
		}
	}
	return floor + 1, nil
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
		Floor: func(ctx context.Context) (time.Time, error) { return stream.Unsettled(ctx, r.js, Durable) }}
}

// group is the steps of a batch one shard applies.
type group struct {
	shard int
	ops   []account.Op
	at    []int // the events' indexes in the batch
	res   []account.Result
	done  chan struct{} // closed once res is set
}

// handle applies a batch of saga events, of any shards: each shard's in
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
func (r *Runner) handle(ctx context.Context, evts []events.Event) []error {
	errs := make([]error, len(evts))
	byShard := map[int]*group{}
	var groups []*group
	for i, e := range evts {
		op, sh, err := account.OpFor(e, r.store.Shards())
		if err != nil {
			errs[i] = permanent(err)
			continue
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

// poison records a message the consumer terminates in the database of the
// shard it belongs to now.
func (r *Runner) poison(ctx context.Context, m jetstream.Msg, cause error) error {
	sh := ShardOf(m.Subject(), m.Headers(), m.Data(), r.store.Shards())
	return r.cfg.Poison(r.store.Shard(sh), Durable)(ctx, m, cause)
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
