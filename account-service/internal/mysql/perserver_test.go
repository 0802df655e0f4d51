package mysql_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/testenv"
)

// counted is a server pool of one connection, whose session status
// counters therefore count every statement the store sends it.
type counted struct {
	t  *testing.T
	db *sqlx.DB
}

func countedPool(t *testing.T, dsn string) counted {
	db := testenv.MustOpen(t, dsn)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return counted{t: t, db: db}
}

// status reads a session status counter (SHOW STATUS counts as neither a
// SELECT nor a USE).
func (c counted) status(name string) int {
	c.t.Helper()
	var row struct {
		Name  string `db:"Variable_name"`
		Value int    `db:"Value"`
	}
	if err := c.db.Get(&row, "SHOW SESSION STATUS LIKE '"+name+"'"); err != nil {
		c.t.Fatal(err)
	}
	return row.Value
}

// delta runs f and returns how many SELECT and USE statements it sent.
func (c counted) delta(f func()) (selects, uses int) {
	c.t.Helper()
	s0, u0 := c.status("Com_select"), c.status("Com_change_db")
	f()
	return c.status("Com_select") - s0, c.status("Com_change_db") - u0
}

// The redriver's search for stuck transfers and the refusal prune's check
// cost one statement per server whatever the number of shards it holds,
// and enter no shard that has nothing to do. Two pools on the test server
// stand for two servers holding two shards each.
func TestIdleRoundsCostOneQueryPerServer(t *testing.T) {
	dsns := testenv.Databases(t, accounttest.Shards)
	f := accounttest.MustStoreOn(t, dsns, groupcommit.Config{})
	l, err := database.LayoutOf(nil, dsns)
	if err != nil {
		t.Fatal(err)
	}
	pools := []counted{countedPool(t, l.ServerDSNs[0]), countedPool(t, l.ServerDSNs[0])}
	s, err := mysql.NewPlaced([]mysql.Server{{Name: "a", DB: pools[0].db}, {Name: "b", DB: pools[1].db}}, l.Schemas, []int{0, 1, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Something the rounds must look at but not act on yet: a pending
	// transfer and a refusal on every shard.
	for sh := range accounttest.Shards {
		a := idOn(sh)
		f.MustOpen(a, "1.00")
		b := idOn((sh + 1) % accounttest.Shards)
		f.MustTransfer(a, b, "0.50")
		overdraft := account.TransferRequest{TransactionID: uuid.NewString(), From: a, To: b, Amount: accounttest.USD(t, "9.00")}
		if _, err := f.Writer.Transfer(ctx, overdraft); !problem.Is(err, problem.InsufficientFunds) {
			t.Fatalf("overdraft: %v, want a refusal", err)
		}
	}
	for srv, p := range pools {
		selects, uses := p.delta(func() {
			if n, err := s.Redrive(ctx, srv, time.Hour); err != nil || n != 0 {
				t.Fatalf("server %d: redrove %d (%v), want 0", srv, n, err)
			}
		})
		if selects != 1 || uses != 0 {
			t.Errorf("server %d: a redrive round with nothing due sent %d SELECTs and %d USEs, want 1 and 0", srv, selects, uses)
		}
		selects, uses = p.delta(func() {
			if n := s.PruneRefusalsOn(ctx, srv, time.Hour, log); n != 0 {
				t.Fatalf("server %d: pruned %d, want 0", srv, n)
			}
		})
		if selects != 1 || uses != 0 {
			t.Errorf("server %d: a prune round with nothing due sent %d SELECTs and %d USEs, want 1 and 0", srv, selects, uses)
		}
	}
	time.Sleep(time.Millisecond)
	for srv := range pools {
		if n := s.PruneRefusalsOn(ctx, srv, time.Microsecond, log); n != 2 {
			t.Errorf("server %d: pruned %d refusals past a 1µs retention, want its two shards' one each", srv, n)
		}
	}
}

// One redrive round of a server resends the stuck debits of each of its
// shards that has one, each to the destination's shard.
func TestRedriveCoversEveryShardOfTheServer(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	clock := time.Now()
	f.store.Now = func() time.Time { return clock }
	from, to := []int{0, 2}, []int{3, 1}
	var txIDs []string
	for i := range from {
		a := idOn(from[i])
		f.open(a, "5.00")
		f.open(idOn(to[i]), "")
		txIDs = append(txIDs, f.transfer(a, idOn(to[i]), "1.00").TransactionID)
		if _, err := f.shards[from[i]].Exec("UPDATE outbox SET published_at = NOW(6) WHERE published_at IS NULL"); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(time.Minute)
	if n, err := f.store.Redrive(ctx, f.store.Server(0), 30*time.Second); err != nil || n != 2 {
		t.Fatalf("redrove %d (%v), want the stuck debits of shards 0 and 2", n, err)
	}
	for i, sh := range from {
		var topics []string
		if err := f.shards[sh].Select(&topics, "SELECT topic FROM outbox WHERE event_type = 'transfer.debited' AND subject = ?", txIDs[i]); err != nil {
			t.Fatal(err)
		}
		want := events.Topic(events.TransferDebited, to[i])
		if len(topics) != 2 || topics[0] != want || topics[1] != want {
			t.Errorf("shard %d: debits %v, want the original and a redrive to %s", sh, topics, want)
		}
	}
}
