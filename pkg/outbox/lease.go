package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/walletco/wallet/pkg/database"
)

// lease is one relay's claim on one shard's outbox. Only the holder
// publishes, so per-shard order holds with several relays running; a holder
// that dies or stalls loses the lease after its TTL. Should two relays ever
// both publish a row (a stalled holder waking up), JetStream drops the
// second copy by its Nats-Msg-Id.
type lease struct {
	db      database.DB
	owner   string
	ttl     time.Duration
	renewAt time.Time // local time after which the lease is renewed
}

// hold takes or renews the lease and reports whether this relay holds it.
// It writes only when the lease is a third through its TTL, not per poll.
func (l *lease) hold(ctx context.Context) (bool, error) {
	if time.Now().Before(l.renewAt) {
		return true, nil
	}
	res, err := l.db.ExecContext(ctx, `UPDATE outbox_lease
		SET owner = ?, expires_at = NOW(6) + INTERVAL ? MICROSECOND
		WHERE id = 1 AND (owner = ? OR expires_at < NOW(6))`, l.owner, l.ttl.Microseconds(), l.owner)
	if err != nil {
		return false, fmt.Errorf("take lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n == 0 {
		l.renewAt = time.Time{}
		return false, nil
	}
	l.renewAt = time.Now().Add(l.ttl / 3)
	return true, nil
}

// release gives the lease up so another relay can take over at once.
func (l *lease) release(ctx context.Context) {
	_, _ = l.db.ExecContext(ctx, "UPDATE outbox_lease SET expires_at = NOW(6) WHERE id = 1 AND owner = ?", l.owner)
}
