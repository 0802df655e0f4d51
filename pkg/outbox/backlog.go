package outbox

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/walletco/wallet/pkg/database"
)

// Backlog is a Prometheus collector of each shard's unpublished outbox rows
// and the age of the oldest, read from the shard databases when scraped:
// the relay's lag as the database sees it, whichever relay holds the lease
// (or none).
type Backlog struct {
	shards  func() []database.DB // each shard's database now: shards move
	timeout time.Duration
	now     func() time.Time
	rows    *prometheus.Desc
	oldest  *prometheus.Desc
}

// NewBacklog returns the collector for the databases shards returns when
// scraped; register it once.
func NewBacklog(shards func() []database.DB) *Backlog {
	return &Backlog{shards: shards, timeout: 2 * time.Second, now: time.Now,
		rows: prometheus.NewDesc("wallet_outbox_pending_rows",
			"Outbox rows waiting to be published (not set aside), per shard (read when scraped).", []string{"shard"}, nil),
		oldest: prometheus.NewDesc("wallet_outbox_oldest_pending_seconds",
			"Age of the oldest unpublished outbox row, per shard; 0 when none (read when scraped).", []string{"shard"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (b *Backlog) Describe(ch chan<- *prometheus.Desc) {
	ch <- b.rows
	ch <- b.oldest
}

// Collect implements prometheus.Collector. A shard that does not answer in
// time is left out of the scrape (its series go stale) rather than
// reported as empty.
func (b *Backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	for i, db := range b.shards() {
		var r struct {
			N      int64        `db:"n"`
			Oldest sql.NullTime `db:"oldest"`
		}
		// The (published_at, id) index holds the unpublished rows first; rows
		// set aside as poison are not waiting (wallet_outbox_set_aside_total
		// counts them, reconcile lists them).
		if err := db.GetContext(ctx, &r, "SELECT COUNT(*) AS n, MIN(occurred_at) AS oldest FROM outbox WHERE published_at IS NULL AND set_aside_at IS NULL"); err != nil {
			continue
		}
		age := 0.0
		if r.Oldest.Valid {
			age = max(b.now().Sub(r.Oldest.Time).Seconds(), 0)
		}
		shard := strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(b.rows, prometheus.GaugeValue, float64(r.N), shard)
		ch <- prometheus.MustNewConstMetric(b.oldest, prometheus.GaugeValue, age, shard)
	}
}
