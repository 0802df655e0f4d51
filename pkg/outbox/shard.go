package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
)

// markTimeout bounds one mark statement. It runs detached from the relay's
// context so that a graceful stop still marks what JetStream acknowledged.
const markTimeout = 30 * time.Second

// shardRelay publishes one shard's outbox in chunks of at most MaxInFlight
// rows, marking the previous chunk while the next is published. That is safe
// because a mark covers only acknowledged rows and starts after the previous
// mark committed, the next poll starts after the last mark, and a chunk goes
// out only once the previous one was acknowledged: rows reach the stream in id
// order, and a crash leaves only acknowledged-but-unmarked rows, re-published
// within the duplicate window (ADR 0002, 0006).
type shardRelay struct {
	cfg RelayConfig
	js  jetstream.JetStream
	// db is the pool of the server that holds the shard, table the shard's
	// outbox there (see outboxTable): no statement enters a schema first.
	db    database.DB
	table string
	shard int
	route Route // where its rows are published
	m     shardMetrics
	log   *slog.Logger
	// beforeMark is Relay.beforeMark: nil but in crash tests.
	beforeMark func()

	// again is set by a step that set a row aside: the rows behind it are
	// waiting, so the next poll follows at once.
	again bool

	marking int        // rows of the running mark statement
	marked  chan error // that statement's result; nil when none runs
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
	Attempts   int       `db:"attempts"`
}

func (r row) event() events.Event {
	return events.Event{ID: r.EventID, Type: r.EventType, Topic: r.Topic, Source: r.Source,
		Subject: r.Subject, Time: r.OccurredAt, Data: []byte(r.Data)}
}

// step reads one batch, publishes and marks it. It returns how many rows it
// marked; no mark is left running.
func (s *shardRelay) step(ctx context.Context) (int, error) {
	s.again = false
	rows, err := s.read(ctx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	s.m.batchRows.Observe(float64(len(rows)))
	// One deadline for the whole batch keeps a step, and so the time between
	// two lease renewals, within PublishTimeout.
	deadline := time.NewTimer(s.cfg.PublishTimeout)
	defer deadline.Stop()
	marked := 0
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), s.cfg.MaxInFlight)]
		rows = rows[len(chunk):]
		acked, pubErr := s.publish(ctx, chunk, deadline.C)
		if acked > 0 && s.beforeMark != nil {
			s.beforeMark() // the previous chunk's mark may still run
		}
		n, err := s.flush()
		marked += n
		if err != nil {
			return marked, errors.Join(pubErr, err) // this chunk is published again
		}
		if acked > 0 {
			s.startMark(ctx, chunk[:acked])
		}
		if pubErr != nil {
			n, err := s.flush()
			if err == nil && acked < len(chunk) && s.permanent(ctx, chunk[acked], pubErr) {
				// Only the first refused row counts: the ones behind it were
				// not published, or are published again after it.
				return marked + n, s.attempted(ctx, chunk[acked], pubErr)
			}
			return marked + n, errors.Join(fmt.Errorf("shard %d: publish: %w", s.shard, pubErr), err)
		}
	}
	n, err := s.flush()
	return marked + n, err
}

// read selects the oldest unpublished rows.
func (s *shardRelay) read(ctx context.Context) ([]row, error) {
	var rows []row
	err := s.db.SelectContext(ctx, &rows, `SELECT id, event_id, event_type, topic, source, subject, data, occurred_at, attempts
		FROM `+s.table+` WHERE published_at IS NULL AND set_aside_at IS NULL ORDER BY id LIMIT ?`, s.cfg.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("shard %d: read outbox: %w", s.shard, err)
	}
	return rows, nil
}

// publish sends rows asynchronously, each on every subject of its route
// (fact and saga step), waits for their acks and returns how many leading
// rows JetStream acknowledged on all their subjects; the error, if any, is
// why the row after them was not.
func (s *shardRelay) publish(ctx context.Context, rows []row, deadline <-chan time.Time) (int, error) {
	futures := make([][]jetstream.PubAckFuture, 0, len(rows))
	var pubErr error
	for _, rw := range rows {
		fs, err := publishAsync(s.js, s.route, rw)
		if err != nil {
			pubErr = err // a row published on part of its subjects only is not counted
			break
		}
		futures = append(futures, fs)
	}
	for i, fs := range futures {
		for _, f := range fs {
			if err := s.awaitAck(ctx, f, deadline); err != nil {
				return i, err
			}
		}
		s.m.lag.Observe(time.Since(rows[i].OccurredAt).Seconds())
	}
	return len(futures), pubErr
}

func (s *shardRelay) awaitAck(ctx context.Context, f jetstream.PubAckFuture, deadline <-chan time.Time) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-deadline:
		return fmt.Errorf("publish ack time-out after %v", s.cfg.PublishTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startMark marks rows published in the background; flush waits for it.
func (s *shardRelay) startMark(ctx context.Context, rows []row) {
	s.marking, s.marked = len(rows), make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	go func(done chan<- error) {
		defer cancel()
		// One autocommit statement: all of the chunk is marked or none.
		_, err := s.db.ExecContext(ctx, "UPDATE "+s.table+" SET published_at = NOW(6) WHERE id IN ("+idList(rows)+")")
		done <- err
	}(s.marked)
}

// flush waits for the running mark, if any, and returns how many rows it
// marked.
func (s *shardRelay) flush() (int, error) {
	if s.marked == nil {
		return 0, nil
	}
	err := <-s.marked
	n := s.marking
	s.marking, s.marked = 0, nil
	if err != nil {
		return 0, fmt.Errorf("shard %d: mark published: %w", s.shard, err)
	}
	s.m.published.Add(float64(n))
	return n, nil
}

func idList(rows []row) string {
	var b strings.Builder
	for i, rw := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(rw.ID, 10))
	}
	return b.String()
}
