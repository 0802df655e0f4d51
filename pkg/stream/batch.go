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

// BatchSize observes how many messages each handler call of a consumer
// gathered: 1 at low load, growing toward MaxBatch under load.
var BatchSize = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "wallet_consumer_batch_size",
	Help:    "Messages gathered per handler call of a durable consumer.",
	Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
}, []string{"consumer"})

// BatchHandler applies evts together, typically in one transaction, and
// returns one error per event, in order: nil to acknowledge, an error
// wrapping ErrPermanent or events.ErrMalformed to terminate (opts.Poison
// records it), any other error to retry.
type BatchHandler func(ctx context.Context, evts []events.Event) []error

// BatchOptions shape ConsumeBatch.
type BatchOptions struct {
	Options      // Poison, InOrder as for Consume
	MaxBatch int // events per handler call; 0 means 500
	// MaxWait, if set, lets a batch wait that long after its first message
	// for more (until MaxBatch): for consumers whose lag does not hold up a
	// request, such as the ledger, a few milliseconds turn a trickle of
	// one-event transactions into a few larger ones. 0 never waits.
	MaxWait time.Duration
	// Health, if set, records the consumer's state for a readiness check.
	Health *Health
	// Sequenced hands the handler every message, in delivery order, each
	// event with its stream sequence (events.Event.Seq), an undecodable
	// message as an Event holding only Seq and Topic: a handler that applies
	// the stream strictly in sequence must see every position. An
	// undecodable message is terminated with its decode error unless the
	// handler answers a transient error for it (ErrEarly: not its turn yet).
	Sequenced bool
	// BeforeSubscribe, if set, runs before every subscription, the first
	// and each one after the consumer was recreated; its error counts as a
	// failed subscription (retried with back-off, or returned the first
	// time: the only first failure ConsumeBatch returns). The ledger checks there that its position belongs to the
	// stream it is about to read.
	BeforeSubscribe func(ctx context.Context) error
}

// defaultMaxBatch is MaxBatch when BatchOptions leave it 0.
const defaultMaxBatch = 500

// ConsumeBatch declares the durable consumer cfg on the stream opts.Stream and
// feeds its messages to h until ctx ends; the batch being handled settles
// before it returns. A batch is what has already arrived, up to MaxBatch,
// waiting at most MaxWait for more; cfg.MaxAckPending of 4×MaxBatch lets
// batches grow. Undecodable messages go to opts.Poison; the others are
// settled as h says, after h returned. A subscription that ends is recreated
// (ADR 0017); only DeclareConsumer's refusal and BeforeSubscribe's first
// error are returned.
// Its health entry is cfg.Durable (a Health per stream tells the same
// durable on several streams apart); its metrics and log lines are
// labelled ConsumerLabel(opts.Stream, cfg.Durable).
func ConsumeBatch(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig, h BatchHandler, opts BatchOptions, log *slog.Logger) (err error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = AckWait
	}
	// Declared once, explicitly (changes logged, refused ones fail); the
	// loop below creates it again if it disappears.
	_, err = DeclareConsumerOn(ctx, js, opts.streamOf(), cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while the consumer was being declared
		}
		return err
	}
	label := ConsumerLabel(opts.streamOf(), cfg.Durable)
	b := &batcher{stream: opts.streamOf(), name: cfg.Durable, label: label, h: h, opts: opts, log: log.With("consumer", label)}
	opts.Health.set(b.name, b.label, StateStarting, nil)
	defer func() { opts.Health.set(b.name, b.label, StateStopped, err) }() // /readyz shows why it stopped
	// The client library calls the callback for one message at a time; it
	// only hands messages over, so the batch loop below can see everything
	// that is waiting.
	buf := make(chan jetstream.Msg, opts.MaxBatch)
	delay := minRestart
	for first := true; ; first = false {
		started := time.Now()
		err := b.subscribe(ctx, js, cfg, buf)
		if ctx.Err() != nil {
			return nil
		}
		// The first time, the caller's own check refusing to read is
		// returned; anything else (a create or subscribe request timing out
		// while a cluster forms) is retried, or one consumer would stay
		// down in a running service.
		var refused *refusedToSubscribe
		if first && errors.As(err, &refused) {
			return refused.err
		}
		if time.Since(started) > maxRestart {
			delay = minRestart // it ran a good while: a new failure starts the back-off afresh
		}
		consumerRestarts.WithLabelValues(b.label).Inc()
		opts.Health.set(b.name, b.label, StateRestarting, err)
		b.log.Error("consumer stopped, recreating it", "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRestart)
	}
}

// Bounds of the pause before a consumer whose subscription ended is
// created again.
const (
	minRestart = 250 * time.Millisecond
	maxRestart = 30 * time.Second
)

// refusedToSubscribe is BeforeSubscribe's error.
type refusedToSubscribe struct{ err error }

func (e *refusedToSubscribe) Error() string { return e.err.Error() }
func (e *refusedToSubscribe) Unwrap() error { return e.err }

// errSubscriptionClosed says the client library ended a subscription on
// its own (for the server's "consumer deleted", or a closed connection).
var errSubscriptionClosed = errors.New("subscription closed")

// subscribe creates or updates the durable consumer (an existing one keeps
// its start, see keepStart) and handles its messages until ctx ends (it
// returns nil) or the subscription ends (it returns why). Messages still
// buffered are nak'd on the way out.
func (b *batcher) subscribe(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig, buf chan jetstream.Msg) error {
	cons, _, _, err := ensureConsumer(ctx, js, b.stream, cfg)
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", b.label, err)
	}
	if b.opts.BeforeSubscribe != nil {
		if err := b.opts.BeforeSubscribe(ctx); err != nil {
			return &refusedToSubscribe{err}
		}
	}
	// subCtx ends with the subscription: the batch loop then stops and the
	// consumer is recreated.
	subCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	check := make(chan struct{}, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case buf <- m:
		case <-subCtx.Done():
			_ = m.Nak() // shutting down: redeliver it now, not after AckWait
		}
	}, jetstream.PullMaxMessages(max(2*b.opts.MaxBatch, 500)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.log.Warn("consume", "err", err)
			if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				select { // no messages nor heartbeats: is the consumer still there?
				case check <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", b.label, err)
	}
	b.opts.Health.set(b.name, b.label, StateRunning, nil)
	go func() {
		for {
			select {
			case <-cc.Closed():
				cancel(errSubscriptionClosed)
				return
			case <-subCtx.Done():
				return
			case <-check:
				// A consumer lost with the server's state leaves a
				// subscription that only misses heartbeats.
				if _, err := cons.Info(subCtx); errors.Is(err, jetstream.ErrConsumerNotFound) {
					cancel(err)
					return
				}
			}
		}
	}()
	for batch := gather(subCtx, buf, b.opts.MaxBatch, b.opts.MaxWait); batch != nil; batch = gather(subCtx, buf, b.opts.MaxBatch, b.opts.MaxWait) {
		b.handle(subCtx, batch)
	}
	cc.Stop()
	<-cc.Closed()
	for {
		select {
		case m := <-buf:
			_ = m.Nak()
		default:
			if ctx.Err() != nil {
				return nil
			}
			return context.Cause(subCtx)
		}
	}
}

// gather waits for a message, then takes the ones already buffered behind
// it, up to limit, and those arriving within wait. It returns nil once ctx
// ends.
func gather(ctx context.Context, buf <-chan jetstream.Msg, limit int, wait time.Duration) []jetstream.Msg {
	var batch []jetstream.Msg
	select {
	case <-ctx.Done():
		return nil
	case m := <-buf:
		batch = append(batch, m)
	}
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for len(batch) < limit {
		select {
		case m := <-buf:
			batch = append(batch, m)
			continue
		default:
		}
		if deadline == nil {
			return batch
		}
		select {
		case m := <-buf:
			batch = append(batch, m)
		case <-deadline:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// batcher settles the batches of one durable consumer.
type batcher struct {
	stream string // the stream the consumer reads
	name   string // the durable: its Health entry
	label  string // ConsumerLabel: metrics and log
	h      BatchHandler
	opts   BatchOptions
	log    *slog.Logger
}

// handle decodes msgs, terminates the undecodable ones, passes the rest to
// the handler and settles them by its results.
func (b *batcher) handle(ctx context.Context, msgs []jetstream.Msg) {
	BatchSize.WithLabelValues(b.label).Observe(float64(len(msgs)))
	evts := make([]events.Event, 0, len(msgs))
	ok := make([]jetstream.Msg, 0, len(msgs))
	var bad map[int]error // undecodable messages passed on (Sequenced), by index in ok
	for _, m := range msgs {
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		e, err := events.FromMsg(m.Subject(), m.Headers(), m.Data())
		if err != nil && !b.opts.Sequenced {
			b.settle(ctx, m, err)
			continue
		}
		if err != nil {
			if bad == nil {
				bad = map[int]error{}
			}
			bad[len(ok)] = err
			e = events.Event{Topic: m.Subject()}
		}
		e.Seq = seq
		evts, ok = append(evts, e), append(ok, m)
	}
	if len(evts) == 0 {
		return
	}
	errs := b.call(ctx, evts)
	for i, err := range bad {
		if !transient(errs[i]) {
			errs[i] = err
		}
	}
	if b.opts.InOrder {
		b.inOrder(ctx, ok, evts, errs)
		return
	}
	for i, m := range ok {
		b.settle(ctx, m, errs[i])
	}
}

// inOrder settles the messages before the first transient failure and
// hands that one and every one behind it to the handler again, with capped
// exponential back-off, while InProgress holds their ack deadline: nothing
// behind a failure is acknowledged before it. (The handler may see an event
// again that it applied already behind the failure; handlers are idempotent,
// and one that relies on order applies nothing behind a failure anyway.)
// When ctx ends meanwhile, the rest is nak'd for a later delivery.
func (b *batcher) inOrder(ctx context.Context, msgs []jetstream.Msg, evts []events.Event, errs []error) {
	for delay := minRetry; ; delay = min(2*delay, maxRetry) {
		i := 0
		for i < len(msgs) && (!transient(errs[i]) || errors.Is(errs[i], ErrEarly)) {
			b.settle(ctx, msgs[i], errs[i])
			i++
		}
		if i == len(msgs) {
			return
		}
		msgs, evts, errs = msgs[i:], evts[i:], errs[i:]
		if ctx.Err() != nil {
			for j, m := range msgs {
				b.settle(ctx, m, errs[j])
			}
			return
		}
		Messages.WithLabelValues(b.label, "retried").Add(float64(len(msgs)))
		b.log.Warn("handler failed, retrying in place", "subject", msgs[0].Subject(), "messages", len(msgs),
			"delay", delay.String(), "err", errs[0])
		if wait(ctx, delay, msgs) {
			hold(msgs)
			errs = b.call(ctx, evts)
		}
	}
}

// wait sleeps for d while holding msgs' ack deadline (AckWait/3 apart, so
// a back-off as long as AckWait never lets them be redelivered). It reports
// false if ctx ended first.
func wait(ctx context.Context, d time.Duration, msgs []jetstream.Msg) bool {
	hold(msgs)
	done := time.NewTimer(d)
	defer done.Stop()
	tick := time.NewTicker(AckWait / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-done.C:
			return true
		case <-tick.C:
			hold(msgs)
		}
	}
}

// hold resets the ack deadline of messages that are waiting for a retry.
func hold(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.InProgress()
	}
}

// call runs the handler with its own time limit. The transaction outlives a
// shutdown signal: cutting it off would only turn a nearly done batch into
// a redelivery. A handler that answers for the wrong number of events has
// applied nobody knows what: every event is retried.
func (b *batcher) call(ctx context.Context, evts []events.Event) []error {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	start := time.Now()
	errs := b.h(hctx, evts)
	ApplySeconds.WithLabelValues(b.label).Observe(time.Since(start).Seconds())
	if len(errs) != len(evts) {
		err := fmt.Errorf("stream: handler returned %d results for %d events", len(errs), len(evts))
		b.log.Error("bad batch handler", "err", err)
		errs = make([]error, len(evts))
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// settle acknowledges m (err nil), terminates it (a permanent err) or nak's
// it with RetryDelay.
func (b *batcher) settle(ctx context.Context, m jetstream.Msg, err error) {
	switch {
	case err == nil:
		Messages.WithLabelValues(b.label, "acked").Inc()
		if err := m.Ack(); err != nil {
			// The effect is committed; a redelivery is skipped by the inbox.
			b.log.Warn("ack failed", "subject", m.Subject(), "err", err)
		}
	case errors.Is(err, ErrEarly):
		// Not a failure: expected after a crash or reconnect, for as long as
		// the earlier message's AckWait runs; one line per batch would be
		// noise, the metric counts them.
		Messages.WithLabelValues(b.label, "early").Inc()
		if err := m.NakWithDelay(EarlyDelay); err != nil {
			b.log.Warn("nak failed", "subject", m.Subject(), "err", err)
		}
	case !transient(err):
		if b.opts.Poison != nil {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
			rerr := b.opts.Poison(pctx, m, err)
			cancel()
			if rerr != nil {
				// Terminated now, it would be gone with no record of it.
				Messages.WithLabelValues(b.label, "poison_unrecorded").Inc()
				delay := RetryDelay(m)
				b.log.Error("poison message not recorded, will retry", "subject", m.Subject(), "delay", delay.String(),
					"err", err, "record_err", rerr)
				if err := m.NakWithDelay(delay); err != nil {
					b.log.Warn("nak failed", "subject", m.Subject(), "err", err)
				}
				return
			}
		}
		Messages.WithLabelValues(b.label, "poison").Inc()
		b.log.Error("poison message terminated", "subject", m.Subject(), "headers", m.Headers(), "err", err)
		if err := m.Term(); err != nil {
			b.log.Warn("term failed", "subject", m.Subject(), "err", err)
		}
	default:
		Messages.WithLabelValues(b.label, "retried").Inc()
		delay := RetryDelay(m)
		b.log.Warn("handler failed, will retry", "subject", m.Subject(), "delay", delay.String(), "err", err)
		if err := m.NakWithDelay(delay); err != nil {
			b.log.Warn("nak failed", "subject", m.Subject(), "err", err)
		}
	}
}
