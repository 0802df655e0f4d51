package outbox

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_outbox_published_total",
		Help: "Outbox events published to JetStream and marked published.",
	}, []string{"shard"})
	leaseHeld = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wallet_outbox_lease_held",
		Help: "1 while this relay holds the database server's lease and publishes its shards.",
	}, []string{"server"})
	serverErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_outbox_server_errors_total",
		Help: "Failed lease renewals and failed queries of a database server's outboxes as a whole; retried.",
	}, []string{"server"})
	publishErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_outbox_publish_errors_total",
		Help: "Failed polls or publishes; the rows stay unpublished and are retried.",
	}, []string{"shard"})
	setAsideTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_outbox_set_aside_total",
		Help: "Outbox rows set aside after relay.max_attempts permanent publish failures (never published; see outbox.last_error).",
	}, []string{"shard"})
	deletedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_outbox_deleted_total",
		Help: "Published outbox rows deleted after relay.outbox_retention.",
	}, []string{"shard"})
	batchRows = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wallet_outbox_batch_rows",
		Help:    "Rows read by one non-empty outbox poll.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000},
	}, []string{"shard"})
	// The lag is measured against occurred_at, which the writer sets just
	// before its commit on its own clock: across machines it includes their
	// clock skew.
	publishLag = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wallet_outbox_publish_lag_seconds",
		Help:    "Time from an event's occurred_at (its commit) to JetStream's publish ack.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms .. 33s
	}, []string{"shard"})
)

// shardMetrics are one shard's series, looked up once: the lag is observed
// for every row.
type shardMetrics struct {
	published prometheus.Counter
	errors    prometheus.Counter
	setAside  prometheus.Counter
	deleted   prometheus.Counter
	batchRows prometheus.Observer
	lag       prometheus.Observer
}

func metricsFor(label string) shardMetrics {
	return shardMetrics{
		published: publishedTotal.WithLabelValues(label),
		errors:    publishErrors.WithLabelValues(label),
		setAside:  setAsideTotal.WithLabelValues(label),
		deleted:   deletedTotal.WithLabelValues(label),
		batchRows: batchRows.WithLabelValues(label),
		lag:       publishLag.WithLabelValues(label),
	}
}
