package stream

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Lag is a Prometheus collector of durable consumers' backlog on the WALLET
// stream, read from JetStream when scraped: messages not delivered yet,
// delivered and not acknowledged, and redelivered.
type Lag struct {
	js        jetstream.JetStream
	streams   []string // Name unless set by OnStreams
	consumers []string
	timeout   time.Duration
	pending   *prometheus.Desc
	ackWait   *prometheus.Desc
	redeliver *prometheus.Desc
}

// NewLag returns the collector for the named durable consumers; register
// it once.
func NewLag(js jetstream.JetStream, consumers ...string) *Lag {
	label := []string{"consumer"}
	return &Lag{js: js, streams: []string{Name}, consumers: consumers, timeout: 2 * time.Second,
		pending: prometheus.NewDesc("wallet_consumer_pending_messages",
			"Stream messages the consumer has not been delivered yet (read when scraped).", label, nil),
		ackWait: prometheus.NewDesc("wallet_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not acknowledged yet (read when scraped).", label, nil),
		redeliver: prometheus.NewDesc("wallet_consumer_redelivered_messages",
			"Messages delivered more than once and not acknowledged yet (read when scraped).", label, nil),
	}
}

// OnStreams makes l read its consumers on each of the streams names
// instead of the WALLET stream: the partitions' durables (ADR 0038). A
// consumer is labelled ConsumerLabel(stream, durable), durable@stream.
func (l *Lag) OnStreams(names ...string) *Lag {
	l.streams = names
	return l
}

// Describe implements prometheus.Collector.
func (l *Lag) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.pending
	ch <- l.ackWait
	ch <- l.redeliver
}

// Collect implements prometheus.Collector; a consumer JetStream does not
// describe in time is left out of the scrape.
func (l *Lag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	for _, st := range l.streams {
		for _, name := range l.consumers {
			l.collect(ctx, ch, st, name)
		}
	}
}

func (l *Lag) collect(ctx context.Context, ch chan<- prometheus.Metric, st, durable string) {
	name := ConsumerLabel(st, durable)
	c, err := l.js.Consumer(ctx, st, durable)
	if err != nil {
		return
	}
	info, err := c.Info(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(l.pending, prometheus.GaugeValue, float64(info.NumPending), name)
	ch <- prometheus.MustNewConstMetric(l.ackWait, prometheus.GaugeValue, float64(info.NumAckPending), name)
	ch <- prometheus.MustNewConstMetric(l.redeliver, prometheus.GaugeValue, float64(info.NumRedelivered), name)
}
