// Package consumer feeds the ledger from the WALLET JetStream stream through
// the durable pull consumer "ledger". Each event is applied in one database
// transaction together with its inbox row and acknowledged after the commit,
// so delivery is at least once and the effect exactly once.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
)

// Name is the durable consumer's name on the WALLET stream.
const Name = "ledger"

// applyTimeout bounds one event's transaction. It stays below AckWait so
// JetStream never redelivers an event still in progress.
const applyTimeout = 20 * time.Second

// Applier applies an event's effect to the ledger exactly once. applied is
// false for an event applied before. Errors wrapping ledger.ErrConflict are
// permanent; every other error is taken as transient.
type Applier interface {
	Apply(ctx context.Context, eff ledger.Effect) (applied bool, err error)
}

// Consumer applies the stream's events to the ledger.
type Consumer struct {
	js    jetstream.JetStream
	store Applier
	log   *slog.Logger
}

// New returns a consumer reading js into store.
func New(js jetstream.JetStream, store Applier, log *slog.Logger) (*Consumer, error) {
	if js == nil || store == nil || log == nil {
		return nil, errors.New("consumer: jetstream, store and logger are required")
	}
	return &Consumer{js: js, store: store, log: log}, nil
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
	cons, err := c.js.CreateOrUpdateConsumer(ctx, stream.Name, Config())
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", Name, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { c.handle(ctx, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.log.Warn("ledger consumer", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", Name, err)
	}
	c.log.Info("ledger consumer running", "stream", stream.Name, "consumer", Name)
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return nil
}
