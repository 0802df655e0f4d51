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

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
)

// Store is the saga's storage: the steps and the operator's record of
// poison messages.
type Store interface {
	Credit(ctx context.Context, e events.Event) error
	Settle(ctx context.Context, e events.Event) error
	Shard(shard int) *sqlx.DB
	Redrive(ctx context.Context, shard int, olderThan time.Duration) (int, error)
	Shards() int
}

// Config tunes the saga consumers.
type Config struct {
	// MaxDeliver bounds redeliveries of one message; a message that keeps
	// failing is then dropped by JetStream and its transfer redriven.
	MaxDeliver int
	// RedriveAfter is how long a transfer may stay pending before its debit
	// is sent again.
	RedriveAfter time.Duration
}

// Runner runs the consumers and the redriver.
type Runner struct {
	js    jetstream.JetStream
	store Store
	cfg   Config
	log   *slog.Logger
}

// NewRunner checks its dependencies.
func NewRunner(js jetstream.JetStream, store Store, cfg Config, log *slog.Logger) (*Runner, error) {
	if js == nil || store == nil || log == nil {
		return nil, errors.New("saga: jetstream, store and logger are required")
	}
	if cfg.MaxDeliver == 0 || cfg.RedriveAfter <= 0 {
		return nil, errors.New("saga: MaxDeliver and RedriveAfter must be set")
	}
	return &Runner{js: js, store: store, cfg: cfg, log: log}, nil
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
		MaxAckPending: 1000,
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
			errs[sh] = stream.Consume(ctx, r.js, ConsumerConfig(sh, r.cfg.MaxDeliver), r.handle, stream.Options{Poison: deadletter.Handler(r.store.Shard(sh), ConsumerConfig(sh, 0).Durable, r.log)}, r.log)
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

func (r *Runner) handle(ctx context.Context, e events.Event) error {
	switch e.Type {
	case events.TransferDebited:
		return r.store.Credit(ctx, e)
	case events.TransferCredited, events.TransferCreditRejected:
		return r.store.Settle(ctx, e)
	default:
		return fmt.Errorf("%w: saga cannot handle %s", stream.ErrPermanent, e.Type)
	}
}

// redrive re-sends the debit of transfers pending for longer than
// RedriveAfter: the destination answers again from its record of the credit,
// so a lost or dropped message cannot leave a saga unfinished.
func (r *Runner) redrive(ctx context.Context) {
	tick := time.NewTicker(max(r.cfg.RedriveAfter/3, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for sh := range r.store.Shards() {
			n, err := r.store.Redrive(ctx, sh, r.cfg.RedriveAfter)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("redrive", "shard", sh, "err", err)
			}
			if n > 0 {
				r.log.Info("redrove pending transfers", "shard", sh, "count", n)
			}
		}
	}
}
