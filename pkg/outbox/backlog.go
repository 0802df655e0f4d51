package outbox

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Backlog is a Prometheus collector of each shard's unpublished outbox rows
// and the age of the oldest, read from the database servers when scraped,
// one query per server: the relay's lag as the database sees it, whichever
// relay holds the lease (or none).
type Backlog struct {
	servers func() []Server // the shards on each server now: shards move
	timeout time.Duration
	now     func() time.Time
	rows    *prometheus.Desc
	oldest  *prometheus.Desc
}

// NewBacklog returns the collector of the shards servers places when
// scraped (see RelayConfig.Servers); register it once.
func NewBacklog(servers func() []Server) *Backlog {
	return &Backlog{servers: servers, timeout: 2 * time.Second, now: time.Now,
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

// Collect implements prometheus.Collector. A server whose query fails (no
// answer in time, a shard's table missing) has its shards left out of the
// scrape (their series go stale) rather than reported as empty.
func (b *Backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	for _, srv := range b.servers() {
		if len(srv.Shards) == 0 || srv.check() != nil {
			continue
		}
		var rows []struct {
			Shard  int          `db:"shard"`
			N      int64        `db:"n"`
			Oldest sql.NullTime `db:"oldest"`
		}
		// The (published_at, id) index holds the unpublished rows first; rows
		// set aside as poison are not waiting (wallet_outbox_set_aside_total
		// counts them, reconcile lists them).
		if err := srv.DB.SelectContext(ctx, &rows, unionAll(srv.Shards, func(sh Shard) string {
			return "SELECT " + strconv.Itoa(sh.N) + " AS shard, COUNT(*) AS n, MIN(occurred_at) AS oldest FROM " +
				outboxTable(sh) + " WHERE published_at IS NULL AND set_aside_at IS NULL"
		})); err != nil {
			continue
		}
		for _, r := range rows {
			age := 0.0
			if r.Oldest.Valid {
				age = max(b.now().Sub(r.Oldest.Time).Seconds(), 0)
			}
			shard := strconv.Itoa(r.Shard)
			ch <- prometheus.MustNewConstMetric(b.rows, prometheus.GaugeValue, float64(r.N), shard)
			ch <- prometheus.MustNewConstMetric(b.oldest, prometheus.GaugeValue, age, shard)
		}
	}
}
