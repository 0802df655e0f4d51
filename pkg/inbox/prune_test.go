package inbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func mustInbox(t *testing.T) *sqlx.DB {
	t.Helper()
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if err := database.Migrate(context.Background(), db, inbox.Migrations()); err != nil {
		t.Fatal(err)
	}
	return db
}

// insert records n events of consumer processed age ago.
func insert(t *testing.T, db *sqlx.DB, consumer string, n int, age time.Duration) {
	t.Helper()
	for range n {
		if _, err := db.Exec("INSERT INTO inbox (consumer, event_id, processed_at) VALUES (?, ?, NOW(6) - INTERVAL ? MICROSECOND)",
			consumer, uuid.NewString(), age.Microseconds()); err != nil {
			t.Fatal(err)
		}
	}
}

func count(t *testing.T, db *sqlx.DB, consumer string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM inbox WHERE consumer = ?", consumer); err != nil {
		t.Fatal(err)
	}
	return n
}

// Prune deletes one consumer's rows older than the retention, more than one
// batch of them, and keeps the younger ones and other consumers' rows.
func TestPruneDeletesExpiredRows(t *testing.T) {
	db := mustInbox(t)
	insert(t, db, "saga", inbox.PruneBatch+20, time.Hour)
	insert(t, db, "saga", 7, 0)
	insert(t, db, "other", 3, time.Hour)
	n, err := inbox.Prune(context.Background(), db, "saga", time.Minute, time.Time{})
	if err != nil || n != inbox.PruneBatch+20 {
		t.Fatalf("Prune = %d, %v; want %d", n, err, inbox.PruneBatch+20)
	}
	if got := count(t, db, "saga"); got != 7 {
		t.Fatalf("saga keeps %d rows, want the 7 young ones", got)
	}
	if got := count(t, db, "other"); got != 3 {
		t.Fatalf("another consumer's rows were deleted: %d of 3 left", got)
	}
}

// A message that may still be redelivered was stored at floor: rows processed
// since floor - retention may be its own and are kept, however old.
func TestPruneKeepsRowsAfterTheUnsettledFloor(t *testing.T) {
	db := mustInbox(t)
	insert(t, db, "saga", 4, 3*time.Hour)
	insert(t, db, "saga", 5, 90*time.Minute)
	var now time.Time
	if err := db.Get(&now, "SELECT NOW(6)"); err != nil {
		t.Fatal(err)
	}
	floor := now.Add(-2 * time.Hour) // the oldest unacknowledged message
	n, err := inbox.Prune(context.Background(), db, "saga", 30*time.Minute, floor)
	if err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want the 4 rows older than floor - retention", n, err)
	}
	if got := count(t, db, "saga"); got != 5 {
		t.Fatalf("%d rows left, want 5", got)
	}
}

// The janitor deletes nothing while it cannot tell which messages may come
// again.
func TestJanitorKeepsRowsWithoutAFloor(t *testing.T) {
	db := mustInbox(t)
	insert(t, db, "saga", 3, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	calls := 0
	inbox.Janitor{DB: func() database.DB { return db }, Consumer: "saga", Durable: "saga-shard-0", Retention: time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Floor: func(context.Context) (time.Time, error) { calls++; return time.Time{}, fmt.Errorf("no consumer") }}.Run(ctx)
	if calls == 0 || count(t, db, "saga") != 3 {
		t.Fatalf("floor asked %d times, %d rows left; want rows kept", calls, count(t, db, "saga"))
	}
}

// A janitor of a server's schemas finds, in one query, the schemas with
// rows to delete, and prunes only those: the rows past the retention go,
// the younger ones, those of another consumer and the schemas with nothing
// due stay untouched.
func TestJanitorPrunesEverySchemaOfAServer(t *testing.T) {
	dsns := testenv.Databases(t, 3)
	var schemas []string
	var dbs []*sqlx.DB
	for _, dsn := range dsns {
		db := testenv.MustOpen(t, dsn)
		if err := database.Migrate(context.Background(), db, inbox.Migrations()); err != nil {
			t.Fatal(err)
		}
		var name string
		if err := db.Get(&name, "SELECT DATABASE()"); err != nil {
			t.Fatal(err)
		}
		dbs, schemas = append(dbs, db), append(schemas, name)
	}
	insert(t, dbs[0], "saga", 3, time.Hour)
	insert(t, dbs[0], "saga", 2, time.Second)
	insert(t, dbs[1], "saga", 2, time.Second)
	insert(t, dbs[1], "other", 2, time.Hour)
	insert(t, dbs[2], "saga", 1, time.Hour)
	pool := testenv.MustOpen(t, dsns[0]) // its default schema is not the point: every name is qualified

	ctx := context.Background()
	due, err := inbox.Due(ctx, pool, schemas, "saga", time.Minute, time.Time{})
	if err != nil || fmt.Sprint(due) != "[0 2]" {
		t.Fatalf("Due = %v, %v; want [0 2]", due, err)
	}
	j := inbox.Janitor{Schemas: func() (*sqlx.DB, []string) { return pool, schemas }, Consumer: "saga", Durable: "saga",
		Retention: time.Minute, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n, err := j.Round(ctx, time.Time{}); err != nil || n != 4 {
		t.Fatalf("Round = %d, %v; want the 4 rows past the retention", n, err)
	}
	if a, b, o, c := count(t, dbs[0], "saga"), count(t, dbs[1], "saga"), count(t, dbs[1], "other"), count(t, dbs[2], "saga"); a != 2 || b != 2 || o != 2 || c != 0 {
		t.Fatalf("left %d, %d (+%d of another consumer), %d; want 2, 2 (+2), 0", a, b, o, c)
	}
	if due, err := inbox.Due(ctx, pool, schemas, "saga", time.Minute, time.Time{}); err != nil || len(due) != 0 {
		t.Fatalf("Due after the round = %v, %v; want none", due, err)
	}
}
