// Package consumer feeds the ledger from the WALLET JetStream stream through
// the durable pull consumer "ledger". Each event is applied in one database
// transaction together with its inbox row and acknowledged after the commit,
// so delivery is at least once and the effect exactly once. The loop itself
// (ack, nak with back-off, terminate poison) is stream.Consume.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
)

// Name is the durable consumer's name on the WALLET stream.
const Name = "ledger"

var (
	appliedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_ledger_events_applied_total",
		Help: "Events applied to the ledger, by event type.",
	}, []string{"type"})
	duplicateTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_ledger_events_duplicate_total",
		Help: "Redelivered events the inbox recognised and skipped, by event type.",
	}, []string{"type"})
)

// Applier applies an event's effect to the ledger exactly once. applied is
// false for an event applied before. Errors wrapping ledger.ErrConflict are
// permanent; every other error is taken as transient.
type Applier interface {
	Apply(ctx context.Context, eff ledger.Effect) (applied bool, err error)
}

// Consumer applies the stream's events to the ledger.
type Consumer struct {
	js     jetstream.JetStream
	store  Applier
	poison stream.PoisonHandler
	log    *slog.Logger
}

// New returns a consumer reading js into store; poison records the events
// it terminates (see package deadletter).
func New(js jetstream.JetStream, store Applier, poison stream.PoisonHandler, log *slog.Logger) (*Consumer, error) {
	if js == nil || store == nil || poison == nil || log == nil {
		return nil, errors.New("consumer: jetstream, store, poison handler and logger are required")
	}
	return &Consumer{js: js, store: store, poison: poison, log: log}, nil
}

// Config is the durable consumer's configuration.
//
// MaxDeliver is unlimited on purpose: JetStream drops a message after
// MaxDeliver attempts, and a ledger that silently skips an event after a long
// database outage no longer agrees with the shards. Events that can never
// apply are terminated explicitly instead.
//
// There is no BackOff list: the server offsets a NakWithDelay from AckWait
// but times it out by BackOff[deliveries], so with BackOff a 500ms delay on
// a second delivery became half a minute. Transient failures pace themselves
// through NakWithDelay; AckWait covers a crashed or hung process.
func Config() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       Name,
		Description:   "ledger-service: double-entry journal",
		FilterSubject: events.StreamSubjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1000,
	}
}

// Run creates or updates the durable consumer and applies events until ctx
// ends. The event being applied then finishes before Run returns.
func (c *Consumer) Run(ctx context.Context) error {
	c.log.Info("ledger consumer running", "stream", stream.Name, "consumer", Name)
	return stream.Consume(ctx, c.js, Config(), c.apply, stream.Options{InOrder: true, Poison: c.poison}, c.log)
}

// apply maps an event to its ledger effect and applies it. A conflict is
// permanent: retrying cannot make a posting fit its account.
func (c *Consumer) apply(ctx context.Context, e events.Event) error {
	eff, err := ledger.FromEvent(e)
	if err == nil {
		var applied bool
		applied, err = c.store.Apply(ctx, eff)
		if err == nil {
			if applied {
				appliedTotal.WithLabelValues(eff.EventType).Inc()
			} else {
				duplicateTotal.WithLabelValues(eff.EventType).Inc()
			}
			return nil
		}
	}
	if errors.Is(err, ledger.ErrConflict) {
		return fmt.Errorf("%w: %w", stream.ErrPermanent, err)
	}
	return err
}
