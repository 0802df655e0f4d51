package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/events"
)

var (
	appliedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_ledger_events_applied_total",
		Help: "Events applied to the ledger, by event type.",
	}, []string{"type"})
	duplicateTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_ledger_events_duplicate_total",
		Help: "Redelivered events the inbox recognised and skipped, by event type.",
	}, []string{"type"})
	poisonTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "wallet_ledger_events_poison_total",
		Help: "Events terminated because they can never be applied (malformed or conflicting).",
	})
	retryTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "wallet_ledger_events_retried_total",
		Help: "Events negatively acknowledged after a transient failure, to be redelivered.",
	})
)

// Bounds of the delay before a failed event is redelivered.
const (
	minRetry = 250 * time.Millisecond
	maxRetry = 30 * time.Second
)

// handle applies one message and settles it: ack when applied or already
// applied, term when it can never apply, nak with a growing delay otherwise.
func (c *Consumer) handle(ctx context.Context, m jetstream.Msg) {
	// The transaction outlives a shutdown signal: cutting it off would only
	// turn a nearly done event into a redelivery.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	eff, applied, err := c.apply(actx, m)
	switch {
	case err == nil:
		if applied {
			appliedTotal.WithLabelValues(eff.EventType).Inc()
		} else {
			duplicateTotal.WithLabelValues(eff.EventType).Inc()
		}
		if err := m.Ack(); err != nil {
			// The effect is committed; a redelivery will be skipped by the inbox.
			c.log.Warn("ack failed", "subject", m.Subject(), "event_id", eff.EventID, "err", err)
		}
	case permanent(err):
		poisonTotal.Inc()
		c.log.Error("poison event terminated", "subject", m.Subject(), "headers", m.Headers(), "err", err)
		if err := m.Term(); err != nil {
			c.log.Warn("term failed", "subject", m.Subject(), "err", err)
		}
	default:
		retryTotal.Inc()
		delay := retryDelay(m)
		c.log.Warn("apply failed, will retry", "subject", m.Subject(), "delay", delay.String(), "err", err)
		if err := m.NakWithDelay(delay); err != nil {
			c.log.Warn("nak failed", "subject", m.Subject(), "err", err)
		}
	}
}

func (c *Consumer) apply(ctx context.Context, m jetstream.Msg) (ledger.Effect, bool, error) {
	e, err := events.FromMsg(m.Subject(), m.Headers(), m.Data())
	if err != nil {
		return ledger.Effect{}, false, err
	}
	eff, err := ledger.FromEvent(e)
	if err != nil {
		return eff, false, err
	}
	applied, err := c.store.Apply(ctx, eff)
	return eff, applied, err
}

func permanent(err error) bool {
	return errors.Is(err, events.ErrMalformed) || errors.Is(err, ledger.ErrConflict)
}

// retryDelay doubles with each delivery of m, from minRetry up to maxRetry.
func retryDelay(m jetstream.Msg) time.Duration {
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
