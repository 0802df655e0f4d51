// Package deadletter keeps the messages a consumer gave up on in a
// dead_letters table next to the consumer's own data, where an operator
// finds them, lists them, and replays or discards them. stream.Consume calls
// a PoisonHandler (Handler makes one); WatchAdvisories records the messages
// JetStream itself dropped after a consumer's MaxDeliver.
package deadletter

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/stream"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the dead_letters table's migrations, for database.Migrate.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Recorded counts dead letters written, by consumer.
var Recorded = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "wallet_dead_letters_total",
	Help: "Messages recorded in a dead_letters table (terminated by a consumer, or dropped by JetStream after MaxDeliver), by consumer.",
}, []string{"consumer"})

// Record stores a terminated message and why it was terminated.
func Record(ctx context.Context, db database.DB, consumer string, m jetstream.Msg, cause error) error {
	var seq *uint64
	if md, err := m.Metadata(); err == nil {
		seq = &md.Sequence.Stream
	}
	return insert(ctx, db, consumer, m.Subject(), m.Headers(), m.Data(), seq, reason(cause))
}

// maxReason bounds the recorded cause to well within its TEXT column.
const maxReason = 8 << 10

// reason is cause's text as the error column can hold it: valid UTF-8 (a
// cause may quote the malformed payload) and at most maxReason bytes.
func reason(cause error) string {
	s := strings.ToValidUTF8(cause.Error(), "\uFFFD")
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "") + "… (truncated)"
	}
	return s
}

// insert records one dead letter; a second record of the same stream
// message for the same consumer is ignored.
func insert(ctx context.Context, db database.DB, consumer, subject string, h nats.Header, data []byte, seq *uint64, reason string) error {
	hj, _ := json.Marshal(h)
	if data == nil {
		data = []byte{} // a message dropped from the stream: no data, not NULL
	}
	// Not INSERT IGNORE: that would also turn a too long value into a
	// warning and a truncated record.
	res, err := db.ExecContext(ctx, `INSERT INTO dead_letters (consumer, subject, headers, data, error, stream_seq)
		VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id`, consumer, subject, string(hj), data, reason, seq)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		Recorded.WithLabelValues(consumer).Inc()
	}
	return nil
}

// Handler returns a stream.PoisonHandler that records into db. A failure to
// record is returned, so the message is retried rather than terminated.
func Handler(db database.DB, consumer string) stream.PoisonHandler {
	return func(ctx context.Context, m jetstream.Msg, cause error) error {
		if err := Record(ctx, db, consumer, m, cause); err != nil {
			return fmt.Errorf("record dead letter for %s: %w", consumer, err)
		}
		return nil
	}
}
