package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/pkg/events"
)

// Messages counts messages settled by durable consumers, by consumer and
// outcome: acked, retried (nak with delay) or poison (terminated).
var Messages = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "wallet_consumer_messages_total",
	Help: "Messages settled by durable consumers: acked, retried (nak with delay) or terminated as poison.",
}, []string{"consumer", "outcome"})

// ErrPermanent marks a failure that no retry can fix: the message is
// terminated, not redelivered. events.ErrMalformed counts as permanent too.
var ErrPermanent = errors.New("permanent failure")

// Handler applies one event; it must be idempotent (see package inbox).
// Return nil to acknowledge, an error wrapping ErrPermanent or
// events.ErrMalformed to terminate, any other error to retry later.
type Handler func(ctx context.Context, e events.Event) error

// PoisonHandler records a terminated message where an operator will see it.
type PoisonHandler func(ctx context.Context, m jetstream.Msg, err error)

// Bounds of the delay before a failed message is redelivered, and of one
// handler call; the latter stays below AckWait so JetStream never redelivers
// a message still being handled.
const (
	minRetry      = 250 * time.Millisecond
	maxRetry      = 30 * time.Second
	handleTimeout = 20 * time.Second
	// AckWait is the redelivery time-out of a message nobody settled.
	AckWait = 30 * time.Second
)

// Options shape how Consume settles messages.
type Options struct {
	// Poison, if set, records a terminated message for an operator.
	Poison PoisonHandler
	// InOrder retries a transient failure in place, with back-off, holding
	// back the messages behind it: for consumers whose results depend on
	// order (the ledger's balance_after history). Otherwise the message is
	// nak'd with a delay and later ones go ahead (the saga steps).
	InOrder bool
}

// Consume creates or updates the durable consumer cfg on the WALLET stream
// and feeds its messages to h until ctx ends. A message that cannot be
// decoded, or whose handler fails permanently, is passed to opts.Poison and
// terminated, so it never blocks the messages behind it.
func Consume(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig, h Handler, opts Options, log *slog.Logger) error {
	if cfg.AckWait == 0 {
		cfg.AckWait = AckWait
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, Name, cfg)
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
	}
	log = log.With("consumer", cfg.Durable)
	cc, err := cons.Consume(func(m jetstream.Msg) { handle(ctx, m, cfg.Durable, h, opts, log) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			log.Warn("consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Durable, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return nil
}

func handle(ctx context.Context, m jetstream.Msg, name string, h Handler, opts Options, log *slog.Logger) {
	e, err := events.FromMsg(m.Subject(), m.Headers(), m.Data())
	if err == nil {
		err = call(ctx, h, e)
	}
	for delay := minRetry; opts.InOrder && transient(err) && ctx.Err() == nil; delay = min(2*delay, maxRetry) {
		Messages.WithLabelValues(name, "retried").Inc()
		log.Warn("handler failed, retrying in place", "subject", m.Subject(), "delay", delay.String(), "err", err)
		_ = m.InProgress() // hold the ack deadline while we wait
		select {
		case <-ctx.Done():
		case <-time.After(delay):
			_ = m.InProgress()
			err = call(ctx, h, e)
		}
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	switch {
	case err == nil:
		Messages.WithLabelValues(name, "acked").Inc()
		if err := m.Ack(); err != nil {
			// The effect is committed; a redelivery is skipped by the inbox.
			log.Warn("ack failed", "subject", m.Subject(), "err", err)
		}
	case !transient(err):
		Messages.WithLabelValues(name, "poison").Inc()
		log.Error("poison message terminated", "subject", m.Subject(), "headers", m.Headers(), "err", err)
		if opts.Poison != nil {
			opts.Poison(hctx, m, err)
		}
		if err := m.Term(); err != nil {
			log.Warn("term failed", "subject", m.Subject(), "err", err)
		}
	default:
		Messages.WithLabelValues(name, "retried").Inc()
		delay := RetryDelay(m)
		log.Warn("handler failed, will retry", "subject", m.Subject(), "delay", delay.String(), "err", err)
		if err := m.NakWithDelay(delay); err != nil {
			log.Warn("nak failed", "subject", m.Subject(), "err", err)
		}
	}
}

// call runs h with its own time limit. The transaction outlives a shutdown
// signal: cutting it off would only turn a nearly done event into a
// redelivery.
func call(ctx context.Context, h Handler, e events.Event) error {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	return h(hctx, e)
}

func transient(err error) bool {
	return err != nil && !errors.Is(err, ErrPermanent) && !errors.Is(err, events.ErrMalformed)
}

// RetryDelay doubles with each delivery of m, from 250ms up to 30s.
func RetryDelay(m jetstream.Msg) time.Duration {
	n := uint64(1)
	if md, err := m.Metadata(); err == nil {
		n = md.NumDelivered
	}
	d := minRetry
	for i := uint64(1); i < n && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}
