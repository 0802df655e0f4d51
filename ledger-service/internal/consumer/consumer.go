// Package consumer feeds one ledger partition from its JetStream stream
// (WALLET_<p>, ADR 0038) through the durable pull consumer "ledger": one
// consumer applies one stream into one store. The events that have arrived are
// applied in batches, each batch in one database transaction together with
// the events' inbox rows, and acknowledged after the commit, so delivery is
// at least once and the effect exactly once. The loop itself (gathering
// batches, ack, in-order retry, terminate poison) is stream.ConsumeBatch.
package consumer

import (
	"cmp"
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

// Name is the durable consumer's name on each partition's stream.
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

// Applier applies events' effects to the ledger exactly once, in order,
// returning one outcome per effect. Errors wrapping ledger.ErrConflict are
// permanent, ledger.ErrEarly wait for their turn; every other error is taken
// as transient.
type Applier interface {
	ApplyBatch(ctx context.Context, effs []ledger.Effect) []ledger.Outcome
	// StartAt checks the ledger's stream position against the stream
	// (created at created, messages up to last) and sets it to seq if it
	// has none (see mysql.Store.StartAt).
	StartAt(ctx context.Context, seq, last uint64, created time.Time) error
	GapStore
}

// MaxBatch bounds the events applied in one transaction.
const MaxBatch = 500

// Consumer applies the stream's events to the ledger.
type Consumer struct {
	// Health, if set, records the consumer's state for /readyz.
	Health *stream.Health
	// Stream is the stream applied: stream.PartitionName(p) for partition
	// p; "" is the WALLET stream of before partitions (tests).
	Stream string
	js     jetstream.JetStream
	store  Applier
	poison stream.PoisonHandler
	log    *slog.Logger

	// Partition is the event partition Stream carries (ADR 0038): with
	// Stream it names a gap. Gaps reports the gap the consumer waits at
	// (see gaps.go); New sets an empty one, to be shared like Health.
	Partition int
	Gaps      *GapReport
	// BatchWait is how long a batch waits for more events after its first
	// (ledger.batch_wait); 0 is DefaultBatchWait.
	BatchWait time.Duration
}

// New returns a consumer reading js into store; poison records the events
// it terminates (see package deadletter).
func New(js jetstream.JetStream, store Applier, poison stream.PoisonHandler, log *slog.Logger) (*Consumer, error) {
	if js == nil || store == nil || poison == nil || log == nil {
		return nil, errors.New("consumer: jetstream, store, poison handler and logger are required")
	}
	return &Consumer{js: js, store: store, poison: poison, log: log, Gaps: NewGapReport()}, nil
}

// Config is the durable consumer's configuration. MaxDeliver is unlimited so
// the ledger never silently skips an event (ADR 0011); AckWait is short
// because a lost delivery holds back the whole sequence (ADR 0008). No
// BackOff list: the server would time a NakWithDelay out by BackOff instead.
func Config() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:     Name,
		Description: "ledger-service: double-entry journal",
		// Every subject of the stream: the facts and the saga step copies
		// (which book nothing but take their turn in the sequence).
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       10 * time.Second,
		MaxDeliver:    -1,
		// Room for a batch being applied, one gathered behind it and the
		// pull buffer (see stream.ConsumeBatch).
		MaxAckPending: 4 * MaxBatch,
	}
}

// DefaultBatchWait is how long a batch waits for more events after its
// first, unless BatchWait says otherwise: the ledger may lag a few
// milliseconds, and at moderate load it then writes one transaction per
// wait instead of one per event.
const DefaultBatchWait = 20 * time.Millisecond

// Run creates or updates the durable consumer and applies events until ctx
// ends. The batch being applied then finishes before Run returns. Batches
// are applied in order (InOrder): balance_after depends on it.
func (c *Consumer) Run(ctx context.Context) error {
	c.log.Info("ledger consumer running", "stream", c.streamName(), "consumer", Name)
	opts := stream.BatchOptions{Options: stream.Options{InOrder: true, Poison: c.poison, Stream: c.Stream}, MaxBatch: MaxBatch, MaxWait: cmp.Or(c.BatchWait, DefaultBatchWait),
		Sequenced: true, Health: c.Health, BeforeSubscribe: c.startAt}
	return stream.ConsumeBatch(ctx, c.js, Config(), c.apply, opts, c.log)
}

// startAt runs before every subscription (the durable exists by then). It
// gives a ledger without a stream position (a new one, or one that applied
// events before positions were recorded) the durable consumer's ack floor:
// everything at or below it was applied; what was applied above it comes
// again and the inbox recognises it. And it refuses to go on reading a
// stream its position does not belong to — one created anew (NATS state
// lost, another cluster), or one that lost its tail — whose messages it
// would skip as applied (mysql.ErrOtherStream names what to do).
func (c *Consumer) startAt(ctx context.Context) error {
	name := c.streamName()
	s, err := c.js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	sinfo, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	cons, err := c.js.Consumer(ctx, name, Name)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", Name, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", Name, err)
	}
	gapMessages.WithLabelValues(c.partitionLabel()).Add(0) // exported before any gap, for alerts
	return c.store.StartAt(ctx, info.AckFloor.Stream, sinfo.State.LastSeq, sinfo.Created)
}

// streamName is the stream the consumer reads.
func (c *Consumer) streamName() string {
	if c.Stream == "" {
		return stream.Name
	}
	return c.Stream
}

// apply maps events to their ledger effects and applies them together. An
// event that cannot be mapped, or conflicts with the ledger, is permanent
// (retrying cannot make a posting fit its account) and fails alone.
func (c *Consumer) apply(ctx context.Context, evts []events.Event) []error {
	errs := make([]error, len(evts))
	effs := make([]ledger.Effect, len(evts))
	for i, e := range evts {
		eff, err := ledger.FromEvent(e)
		if err != nil {
			errs[i] = err // wraps events.ErrMalformed
			// It still takes its turn in the stream's sequence: set aside
			// before its turn, it would leave a gap no delivery fills.
			eff = ledger.Effect{Seq: e.Seq, Skip: true}
		}
		effs[i] = eff
	}
	early, turns := false, false
	for i, o := range c.store.ApplyBatch(ctx, effs) {
		eff := effs[i]
		turns = turns || (eff.Seq > 0 && o.Err == nil && (o.Applied || eff.Skip))
		switch {
		case eff.Skip && o.Err == nil:
			// its turn taken: errs keeps the malformed error, it is set aside
		case errors.Is(o.Err, ledger.ErrConflict):
			errs[i] = fmt.Errorf("%w: %w", stream.ErrPermanent, o.Err)
		case errors.Is(o.Err, ledger.ErrEarly):
			errs[i] = fmt.Errorf("%w: %w", stream.ErrEarly, o.Err)
			early = true
		case o.Err != nil:
			errs[i] = o.Err
		case o.Applied:
			appliedTotal.WithLabelValues(eff.EventType).Inc()
		default:
			duplicateTotal.WithLabelValues(eff.EventType).Inc()
		}
	}
	switch {
	case early && c.js != nil && c.Gaps != nil:
		c.early(ctx) // is the message it waits for gone?
	case turns && c.Gaps != nil:
		c.passed()
	}
	return errs
}
