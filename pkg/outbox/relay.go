package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
)

var (
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_outbox_published_total",
		Help: "Outbox events published to JetStream and marked published.",
	}, []string{"shard"})
	leaseHeld = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wallet_outbox_lease_held",
		Help: "1 while this relay holds the shard's lease and publishes it.",
	}, []string{"shard"})
	publishErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_outbox_publish_errors_total",
		Help: "Failed polls or publishes; the rows stay unpublished and are retried.",
	}, []string{"shard"})
)

// RelayConfig tunes a Relay.
type RelayConfig struct {
	BatchSize    int           // rows per poll
	PollInterval time.Duration // pause after an empty poll
	// Owner names this relay instance in the lease table; LeaseTTL is how
	// long its lease on a shard lasts without renewal.
	Owner    string
	LeaseTTL time.Duration
	// BeforeMark, if set, runs after a batch is acknowledged by JetStream and
	// before its rows are marked published. Crash tests use it to stop the
	// relay at the worst moment; production leaves it nil.
	BeforeMark func()
}

// Relay copies committed outbox rows of every shard to JetStream, in id order
// per shard, with Nats-Msg-Id = event id: a row re-published after a crash is
// dropped by the stream's duplicate window.
type Relay struct {
	shards []*sqlx.DB
	js     jetstream.JetStream
	cfg    RelayConfig
	log    *slog.Logger
}

// NewRelay returns a relay over shards (index = shard number).
func NewRelay(shards []*sqlx.DB, js jetstream.JetStream, cfg RelayConfig, log *slog.Logger) (*Relay, error) {
	if len(shards) == 0 || js == nil || log == nil {
		return nil, errors.New("outbox relay: shards, jetstream and logger are required")
	}
	if cfg.BatchSize < 1 || cfg.PollInterval <= 0 || cfg.LeaseTTL <= 0 || cfg.Owner == "" {
		return nil, errors.New("outbox relay: batch size, poll interval, lease TTL and owner are required")
	}
	return &Relay{shards: shards, js: js, cfg: cfg, log: log}, nil
}

// Run relays every shard until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range r.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runShard(ctx, i)
		}()
	}
	wg.Wait()
	return nil
}

func (r *Relay) runShard(ctx context.Context, shard int) {
	label := strconv.Itoa(shard)
	l := &lease{db: r.shards[shard], owner: r.cfg.Owner, ttl: r.cfg.LeaseTTL}
	defer l.release(context.WithoutCancel(ctx))
	failures := 0
	for ctx.Err() == nil {
		held, err := l.hold(ctx)
		n := 0
		if held && err == nil {
			leaseHeld.WithLabelValues(label).Set(1)
			n, err = r.RelayOnce(ctx, shard)
		} else {
			leaseHeld.WithLabelValues(label).Set(0)
		}
		wait := time.Duration(0)
		switch {
		case err != nil && ctx.Err() == nil:
			publishErrors.WithLabelValues(label).Inc()
			failures++
			wait = min(time.Duration(failures)*100*time.Millisecond, 5*time.Second)
			r.log.Warn("outbox relay", "shard", shard, "err", err, "retry_in", wait)
		case !held:
			wait = r.cfg.LeaseTTL / 4 // another relay publishes this shard
		case n == 0:
			failures = 0
			wait = r.cfg.PollInterval
		default:
			failures = 0
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

type row struct {
	ID         uint64    `db:"id"`
	EventID    string    `db:"event_id"`
	EventType  string    `db:"event_type"`
	Topic      string    `db:"topic"`
	Source     string    `db:"source"`
	Subject    string    `db:"subject"`
	Data       string    `db:"data"`
	OccurredAt time.Time `db:"occurred_at"`
}

func (r row) event() events.Event {
	return events.Event{ID: r.EventID, Type: r.EventType, Topic: r.Topic, Source: r.Source,
		Subject: r.Subject, Time: r.OccurredAt, Data: []byte(r.Data)}
}

// RelayOnce publishes one batch of shard's unpublished rows and marks the
// acknowledged prefix published. It returns how many rows it marked.
func (r *Relay) RelayOnce(ctx context.Context, shard int) (int, error) {
	db := r.shards[shard]
	var rows []row
	err := db.SelectContext(ctx, &rows, `SELECT id, event_id, event_type, topic, source, subject, data, occurred_at
		FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?`, r.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("shard %d: read outbox: %w", shard, err)
	}
	if len(rows) == 0 {
		return 0, nil
	}

	futures := make([]jetstream.PubAckFuture, 0, len(rows))
	var pubErr error
	for _, rw := range rows {
		f, err := r.js.PublishMsgAsync(rw.event().Msg(), jetstream.WithMsgID(rw.EventID))
		if err != nil {
			pubErr = err
			break
		}
		futures = append(futures, f)
	}
	acked := 0
	timeout := time.After(10 * time.Second)
wait:
	for _, f := range futures {
		select {
		case <-f.Ok():
			acked++
		case err := <-f.Err():
			pubErr = errors.Join(pubErr, err)
			break wait
		case <-timeout:
			pubErr = errors.Join(pubErr, errors.New("publish ack time-out"))
			break wait
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}

	// Only the acknowledged prefix is marked, so a failed row is retried
	// before anything behind it and per-shard order is kept.
	if acked > 0 {
		if r.cfg.BeforeMark != nil {
			r.cfg.BeforeMark()
		}
		if err := markPublished(ctx, db, rows[:acked]); err != nil {
			return 0, fmt.Errorf("shard %d: %w", shard, err)
		}
		publishedTotal.WithLabelValues(strconv.Itoa(shard)).Add(float64(acked))
	}
	if pubErr != nil {
		return acked, fmt.Errorf("shard %d: publish: %w", shard, pubErr)
	}
	return acked, nil
}

func markPublished(ctx context.Context, db *sqlx.DB, rows []row) error {
	ids := make([]string, len(rows))
	for i, rw := range rows {
		ids[i] = strconv.FormatUint(rw.ID, 10)
	}
	q := "UPDATE outbox SET published_at = NOW(6) WHERE id IN (" + strings.Join(ids, ",") + ")"
	return database.InTx(ctx, db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, q)
		return err
	})
}
