// Package saga runs account-service's side of the cross-shard transfer saga
// on JetStream: one durable pull consumer per shard takes the events that
// shard must act on (transfer.debited to credit, transfer.credited and
// transfer.credit_rejected to settle), a redriver re-sends the debit of
// transfers stuck pending, and a Waiter lets HTTP requests wait for the end.
package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/tick"
)

// Store is the saga's storage: redrives and the operator's record of
// poison messages.
type Store interface {
	Shard(shard int) database.DB
	Redrive(ctx context.Context, server int, olderThan time.Duration) (int, error)
	Servers() int
	Shards() int
}

// Steps applies saga steps in a shard's next group commit
// (groupcommit.Writer.Do).
type Steps interface {
	Do(ctx context.Context, shard int, ops []account.Op) []account.Result
}

// Config tunes the saga consumers. MaxDeliver, RedriveAfter and
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
	// Health, if set, records the consumers' states for /readyz.
	Health *stream.Health
	// Poison records the messages durable terminates in its shard's db
	// (deadletter.Handler); required.
	Poison func(db database.DB, durable string) stream.PoisonHandler
}

// Runner runs the consumers and the redriver.
type Runner struct {
	js    jetstream.JetStream
	store Store
	steps Steps
	cfg   Config
	log   *slog.Logger
}

// NewRunner checks its dependencies.
func NewRunner(js jetstream.JetStream, store Store, steps Steps, cfg Config, log *slog.Logger) (*Runner, error) {
	if js == nil || store == nil || steps == nil || log == nil {
		return nil, errors.New("saga: jetstream, store, steps and logger are required")
	}
	if cfg.MaxDeliver < 1 || cfg.RedriveAfter <= 0 || cfg.InboxRetention <= 0 || cfg.Poison == nil {
		return nil, errors.New("saga: MaxDeliver, RedriveAfter, InboxRetention and Poison must be set")
	}
	return &Runner{js: js, store: store, steps: steps, cfg: cfg, log: log}, nil
}

// ConsumerNames are the durable consumers of n shards' saga steps.
func ConsumerNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = ConsumerConfig(i, 1).Durable
	}
	return names
}

// ConsumerConfig is shard's durable consumer: the saga events addressed to it.
func ConsumerConfig(shard, maxDeliver int) jetstream.ConsumerConfig {
	n := strconv.Itoa(shard)
	return jetstream.ConsumerConfig{
		Durable:     "saga-shard-" + n,
		Description: "account-service: cross-shard transfer steps for shard " + n,
		FilterSubjects: []string{
			events.Topic(events.TransferDebited, shard),
			events.Topic(events.TransferCredited, shard),
			events.Topic(events.TransferCreditRejected, shard),
		},
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       stream.AckWait,
		MaxDeliver:    maxDeliver,
		MaxAckPending: 4096,
	}
}

// Run consumes every shard's saga events and redrives stuck transfers until
// ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, r.store.Shards()+1)
	for sh := range r.store.Shards() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := ConsumerConfig(sh, r.cfg.MaxDeliver)
			// The shard's pool is looked up per message: the shard may have
			// moved to another server since the consumer started.
			poison := func(ctx context.Context, m jetstream.Msg, cause error) error {
				return r.cfg.Poison(r.store.Shard(sh), cfg.Durable)(ctx, m, cause)
			}
			opts := stream.BatchOptions{Options: stream.Options{Poison: poison}, MaxBatch: 256, Health: r.cfg.Health}
			errs[sh] = stream.ConsumeBatch(ctx, r.js, cfg, r.handler(sh), opts, r.log)
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.janitor(sh).Run(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.redrive(ctx)
	}()
	wg.Wait()
	return errors.Join(errs...)
}

// janitor prunes shard's saga inbox. Rows of messages the shard's consumer
// may still be redelivered are kept: a message nak'd or held by a crashed
// process comes again up to MaxDeliver times, 30-60 s apart, and not at all
// while account-service is down, so no fixed horizon covers it.
func (r *Runner) janitor(sh int) inbox.Janitor {
	durable := ConsumerConfig(sh, r.cfg.MaxDeliver).Durable
	return inbox.Janitor{DB: func() database.DB { return r.store.Shard(sh) }, Consumer: account.SagaInbox, Durable: durable,
		Retention: r.cfg.InboxRetention, Log: r.log,
		Floor: func(ctx context.Context) (time.Time, error) { return stream.Unsettled(ctx, r.js, durable) }}
}

// handler applies a batch of shard's saga events in one group commit. An
// event that can never apply (malformed, misrouted, for a transfer the
// shard never recorded) is permanent and terminated; the others are acked
// after their batch committed.
func (r *Runner) handler(sh int) stream.BatchHandler {
	return func(ctx context.Context, evts []events.Event) []error {
		errs := make([]error, len(evts))
		ops := make([]account.Op, 0, len(evts))
		idx := make([]int, 0, len(evts))
		for i, e := range evts {
			op, to, err := account.OpFor(e, r.store.Shards())
			if err == nil && to != sh {
				err = fmt.Errorf("%w: shard %d consumed a step for shard %d", account.ErrMisrouted, sh, to)
			}
			if err != nil {
				errs[i] = permanent(err)
				continue
			}
			ops = append(ops, op)
			idx = append(idx, i)
		}
		for j, res := range r.steps.Do(ctx, sh, ops) {
			errs[idx[j]] = permanent(res.Err)
		}
		return errs
	}
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

// redrive re-sends the debit of transfers pending for longer than
// RedriveAfter: the destination answers again from its record of the credit,
// so a lost or dropped message cannot leave a saga unfinished.
func (r *Runner) redrive(ctx context.Context) {
	tick.Every(ctx, max(r.cfg.RedriveAfter/3, 100*time.Millisecond), func(ctx context.Context) {
		for srv := range r.store.Servers() {
			n, err := r.store.Redrive(ctx, srv, r.cfg.RedriveAfter)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("redrive", "server", srv, "err", err)
			}
			if n > 0 {
				r.log.Info("redrove pending transfers", "server", srv, "count", n)
			}
		}
	})
}
