package mysql_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/testenv"
)

// Two instances of the service over the same shard schemas, which the
// placement calls servers a and b (one MariaDB serves both names here, as
// a move's source and target would): each shard's live copy is the one its
// shard_meta names, unfrozen. A writer whose placement disagrees, or that
// reaches a copy a move froze, is refused with 503 and writes nothing, and
// the other shards of its batch go on.
func TestStaleWriterIsFenced(t *testing.T) {
	dsns := testenv.Databases(t, accounttest.Shards)
	l, err := database.LayoutOf(nil, dsns)
	if err != nil {
		t.Fatal(err)
	}
	dsn := l.ServerDSNs[0]
	open := func() *mysql.Store {
		s, err := mysql.NewPlaced([]mysql.Server{{Name: "a", DB: testenv.MustOpen(t, database.WithMultiStatements(dsn))}, {Name: "b", DB: testenv.MustOpen(t, database.WithMultiStatements(dsn))}},
			l.Schemas, []int{0, 0, 0, 0})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	fresh, stale := open(), open()
	if err := fresh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ids := []string{accounttest.IDOn(0), accounttest.IDOn(1)}
	for _, id := range ids {
		if _, _, err := fresh.Open(ctx, account.OpenRequest{AccountID: id, OwnerID: "o", Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
	}
	dep := func(sh int, id string) account.Op {
		return account.Op{Kind: account.OpMove, Shard: sh, Movement: account.MovementRequest{Kind: account.Deposit,
			AccountID: id, TransactionID: uuid.NewString(), Amount: accounttest.USD(t, "1.00")}}
	}
	apply := func(s *mysql.Store, srv int) []error {
		res, err := s.Apply(ctx, srv, []account.Op{dep(0, ids[0]), dep(1, ids[1])})
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		return []error{res[0].Err, res[1].Err}
	}
	moving := func(err error) bool { return errors.Is(err, mysql.ErrMoving) && problem.Is(err, problem.Unavailable) }

	// A move froze shard 0's copy on a: neither instance writes there.
	shard0 := fresh.Shard(0)
	if _, err := shard0.ExecContext(context.Background(), "UPDATE shard_meta SET frozen = TRUE"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*mysql.Store{fresh, stale} {
		if errs := apply(s, 0); !moving(errs[0]) || errs[1] != nil {
			t.Fatalf("on a frozen copy: %v, want shard 0 refused as moving and shard 1 applied", errs)
		}
	}
	if _, _, err := stale.Open(ctx, account.OpenRequest{AccountID: accounttest.IDOn(0), OwnerID: "o", Currency: "USD"}); !moving(err) {
		t.Fatalf("opening an account on a frozen copy: %v, want moving", err)
	}

	// The move ends: shard 0's live copy is b's, and fresh follows the
	// placement; stale does not yet.
	if _, err := shard0.ExecContext(context.Background(), "UPDATE shard_meta SET server = 'b', frozen = FALSE"); err != nil {
		t.Fatal(err)
	}
	if err := fresh.SetOwners([]int{1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if errs := apply(fresh, 1); errs[0] != nil || !moving(errs[1]) {
		t.Fatalf("fresh on b: %v, want shard 0 applied and shard 1 (still on a) refused", errs)
	}
	if errs := apply(stale, 0); !moving(errs[0]) || errs[1] != nil {
		t.Fatalf("stale on a: %v, want shard 0 refused and shard 1 applied", errs)
	}
	if _, err := stale.SetStatus(ctx, ids[0], account.Frozen); !moving(err) {
		t.Fatalf("a status change by the stale instance: %v, want moving", err)
	}
	a, err := fresh.Get(ctx, ids[0])
	if err != nil || a.Balance.String() != "1" {
		t.Fatalf("shard 0's account: %+v, %v; want the one deposit fresh made", a, err)
	}
	if err := fresh.SetOwners([]int{2, 0, 0, 0}); err == nil {
		t.Fatal("SetOwners accepted a server that does not exist")
	}
}

// A placement that names a server the store has no DSN for, or has another
// shard count, is refused and changes nothing.
func TestPlaceRefusesUnknownServers(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	for _, owner := range [][]string{{"db1", "db1", "db9", "db1"}, {"db1", "db1"}} {
		if err := f.Store.Place(placement.Map{Version: 2, Shards: len(owner), Servers: []string{"db1", "db9"}, Owner: owner}); err == nil {
			t.Errorf("Place(%v) accepted", owner)
		}
	}
	if err := f.Store.Place(placement.Map{Version: 2, Shards: 4, Servers: []string{"db1"}, Owner: []string{"db1", "db1", "db1", "db1"}}); err != nil {
		t.Fatal(err)
	}
}
