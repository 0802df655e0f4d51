package stream

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/pkg/events"
)

// Messages counts messages settled by durable consumers, by consumer and
// outcome: acked, retried (nak with delay, or retried in place) or poison
// (terminated).
var Messages = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "wallet_consumer_messages_total",
	Help: "Messages settled by durable consumers: acked, retried (nak with delay), early (nak'd until an earlier one arrives), terminated as poison, or poison_unrecorded (nak'd with a delay: recording its dead letter failed).",
}, []string{"consumer", "outcome"})

// ApplySeconds observes how long a consumer's handler took for one batch
// (or one event): the apply latency behind a consumer's lag.
var ApplySeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "wallet_consumer_apply_seconds",
	Help:    "Time a durable consumer's handler took to apply one batch of events.",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. 16s
}, []string{"consumer"})

// ErrPermanent marks a failure that no retry can fix: the message is
// terminated, not redelivered. events.ErrMalformed counts as permanent too.
var ErrPermanent = errors.New("permanent failure")

// ErrEarly marks an event that arrived before one ahead of it in the stream
// (a redelivery of the earlier one is still to come, e.g. after a consumer
// crashed holding it). It is nak'd for a later delivery after EarlyDelay
// instead of being retried in place, so that the missing one can arrive.
var ErrEarly = errors.New("event arrived before an earlier one")

// EarlyDelay is how long an early event waits for its next delivery.
const EarlyDelay = time.Second

// Handler applies one event; it must be idempotent (see package inbox).
// Return nil to acknowledge, an error wrapping ErrPermanent or
// events.ErrMalformed to terminate, any other error to retry later.
type Handler func(ctx context.Context, e events.Event) error

// PoisonHandler records a message before it is terminated, where an
// operator will see it. An error means it was not recorded: the message is
// then kept and retried, not terminated unseen.
type PoisonHandler func(ctx context.Context, m jetstream.Msg, err error) error

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
	// Stream is the stream the durable consumer reads; "" is the WALLET
	// stream of before partitions (Name). A partition's consumer names
	// PartitionName(p).
	Stream string
}

// streamOf is the stream opts names.
func (o Options) streamOf() string {
	if o.Stream == "" {
		return Name
	}
	return o.Stream
}

// Consume creates or updates the durable consumer cfg on the WALLET stream
// and feeds its messages to h, one at a time, until ctx ends. A message that
// cannot be decoded, or whose handler fails permanently, is passed to
// opts.Poison and terminated, so it never blocks the messages behind it.
// It is ConsumeBatch with batches of one.
func Consume(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig, h Handler, opts Options, log *slog.Logger) error {
	one := func(ctx context.Context, evts []events.Event) []error {
		errs := make([]error, len(evts))
		for i, e := range evts {
			errs[i] = h(ctx, e)
		}
		return errs
	}
	return ConsumeBatch(ctx, js, cfg, one, BatchOptions{Options: opts, MaxBatch: 1}, log)
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

// Unsettled returns the stored time of the oldest message the durable
// consumer may still be delivered again: the first message after its ack
// floor, or the zero time if every message is settled. It bounds what a
// dedupe table must keep where no fixed horizon can (ADR 0013); a message of
// another consumer's subject there gives an earlier, still safe, bound.
func Unsettled(ctx context.Context, js jetstream.JetStream, durable string) (time.Time, error) {
	return UnsettledOn(ctx, js, Name, durable)
}

// UnsettledOn is Unsettled for a durable consumer of the stream name.
func UnsettledOn(ctx context.Context, js jetstream.JetStream, name, durable string) (time.Time, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return time.Time{}, err
	}
	c, err := s.Consumer(ctx, durable)
	if err != nil {
		return time.Time{}, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if info.NumPending == 0 && info.NumAckPending == 0 {
		return time.Time{}, nil
	}
	// The first stored message at or after floor+1 (messages may have been
	// removed by the stream's limits).
	m, err := s.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(">"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return m.Time, nil
}
