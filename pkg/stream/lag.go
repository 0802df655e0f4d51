package stream

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Lag is a Prometheus collector of durable consumers' backlog on the
// partitions' streams, read from JetStream when scraped: messages not delivered yet,
// delivered and not acknowledged, and redelivered.
type Lag struct {
	js        jetstream.JetStream
	consumers []Durable
	timeout   time.Duration
	pending   *prometheus.Desc
	ackWait   *prometheus.Desc
	redeliver *prometheus.Desc
}

// Durable names a durable consumer on a stream.
type Durable struct{ Stream, Name string }

// NewLag returns the collector for the durable consumers, each labelled
// ConsumerLabel(Stream, Name); register it once.
func NewLag(js jetstream.JetStream, consumers ...Durable) *Lag {
	label := []string{"consumer"}
	return &Lag{js: js, consumers: consumers, timeout: 2 * time.Second,
		pending: prometheus.NewDesc("wallet_consumer_pending_messages",
			"Stream messages the consumer has not been delivered yet (read when scraped).", label, nil),
		ackWait: prometheus.NewDesc("wallet_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not acknowledged yet (read when scraped).", label, nil),
		redeliver: prometheus.NewDesc("wallet_consumer_redelivered_messages",
			"Messages delivered more than once and not acknowledged yet (read when scraped).", label, nil),
	}
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
	for _, d := range l.consumers {
		name := ConsumerLabel(d.Stream, d.Name)
		c, err := l.js.Consumer(ctx, d.Stream, d.Name)
		if err != nil {
			continue
		}
		info, err := c.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(l.pending, prometheus.GaugeValue, float64(info.NumPending), name)
		ch <- prometheus.MustNewConstMetric(l.ackWait, prometheus.GaugeValue, float64(info.NumAckPending), name)
		ch <- prometheus.MustNewConstMetric(l.redeliver, prometheus.GaugeValue, float64(info.NumRedelivered), name)
	}
}
