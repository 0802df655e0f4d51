package deadletter

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
)

// Resolutions of a handled dead letter.
const (
	Replayed  = "replayed"
	Discarded = "discarded"
)

var (
	// ErrNotFound: no dead letter has the id.
	ErrNotFound = errors.New("no such dead letter")
	// ErrHandled: the dead letter was replayed or discarded already.
	ErrHandled = errors.New("dead letter already handled")
)

// Letter is one dead_letters row.
type Letter struct {
	ID         uint64     `db:"id"`
	Consumer   string     `db:"consumer"`
	Subject    string     `db:"subject"`
	Headers    string     `db:"headers"` // JSON of the NATS headers
	Data       string     `db:"data"`
	Reason     string     `db:"error"`
	RecordedAt time.Time  `db:"recorded_at"`
	StreamSeq  *uint64    `db:"stream_seq"`
	HandledAt  *time.Time `db:"handled_at"`
	Resolution *string    `db:"resolution"`
}

// Status is "open", or the resolution of a handled letter.
func (l Letter) Status() string {
	if l.HandledAt == nil || l.Resolution == nil {
		return "open"
	}
	return *l.Resolution
}

const columns = "id, consumer, subject, headers, data, error, recorded_at, stream_seq, handled_at, resolution"

// List returns db's dead letters in id order, the handled ones too if all.
func List(ctx context.Context, db database.DB, all bool) ([]Letter, error) {
	q := "SELECT " + columns + " FROM dead_letters WHERE handled_at IS NULL ORDER BY id"
	if all {
		q = "SELECT " + columns + " FROM dead_letters ORDER BY id"
	}
	var ls []Letter
	if err := db.SelectContext(ctx, &ls, q); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return ls, nil
}

// Get returns dead letter id, or ErrNotFound.
func Get(ctx context.Context, db database.DB, id uint64) (Letter, error) {
	var l Letter
	err := db.GetContext(ctx, &l, "SELECT "+columns+" FROM dead_letters WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return Letter{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return Letter{}, fmt.Errorf("read dead letter %d: %w", id, err)
	}
	return l, nil
}

// Msg rebuilds the original message, with msgID as its Nats-Msg-Id. Its
// CloudEvents id (ce-id) stays the original's: a consumer that applied the
// event before recognises it in its inbox, one that never did applies it.
func (l Letter) Msg(msgID string) (*nats.Msg, error) {
	m := nats.NewMsg(l.Subject)
	if err := json.Unmarshal([]byte(l.Headers), &m.Header); err != nil {
		return nil, fmt.Errorf("dead letter %d: headers: %w", l.ID, err)
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(nats.MsgIdHdr, msgID)
	m.Data = []byte(l.Data)
	return m, nil
}

// Replay re-publishes dead letter id to the stream and marks it replayed.
// msgID is the new message's Nats-Msg-Id: the original's would be dropped
// by the stream's duplicate window while it lasts. Pass one that names the
// dead letter (a second Replay after a crash between publish and mark is
// then dropped as a duplicate too). It answers ErrNotFound or ErrHandled
// without publishing.
func Replay(ctx context.Context, db database.DB, js jetstream.JetStream, id uint64, msgID string) (*jetstream.PubAck, error) {
	l, err := Get(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if l.HandledAt != nil {
		return nil, fmt.Errorf("%w: %d was %s at %s", ErrHandled, id, l.Status(), l.HandledAt.UTC().Format(time.RFC3339))
	}
	m, err := l.Msg(msgID)
	if err != nil {
		return nil, err
	}
	// Publish first, mark after: a crash in between leaves the letter open
	// and a second replay harmless (duplicate window, then the inbox).
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("re-publish dead letter %d: %w", id, err)
	}
	if err := mark(ctx, db, id, Replayed); err != nil {
		return ack, err
	}
	return ack, nil
}

// Discard marks dead letter id handled without replaying it.
func Discard(ctx context.Context, db database.DB, id uint64) error {
	l, err := Get(ctx, db, id)
	if err != nil {
		return err
	}
	if l.HandledAt != nil {
		return fmt.Errorf("%w: %d was %s", ErrHandled, id, l.Status())
	}
	return mark(ctx, db, id, Discarded)
}

// mark records the resolution unless another operator handled the letter
// meanwhile.
func mark(ctx context.Context, db database.DB, id uint64, resolution string) error {
	res, err := db.ExecContext(ctx, `UPDATE dead_letters SET handled_at = NOW(6), resolution = ?
		WHERE id = ? AND handled_at IS NULL`, resolution, id)
	if err != nil {
		return fmt.Errorf("mark dead letter %d %s: %w", id, resolution, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("%w: %d was handled meanwhile", ErrHandled, id)
	}
	return nil
}
