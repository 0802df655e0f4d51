package groupcommit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
)

func deposit(t *testing.T, sh int, id, amount string) account.Op {
	return account.Op{Kind: account.OpMove, Shard: sh, Movement: account.MovementRequest{Kind: account.Deposit,
		AccountID: id, TransactionID: uuid.NewString(), Amount: accounttest.USD(t, amount)}}
}

// The fixture's four shards live on one server: one Apply takes operations
// on all of them in one transaction, so a failure in any shard undoes the
// others' changes, and a schema that records another shard number is
// refused (the fence) instead of written to.
func TestShardsOfOneServerCommitTogether(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	if f.Store.Servers() != 1 || f.Store.Server(3) != 0 {
		t.Fatalf("the fixture's shards are on %d servers, want all on server 0", f.Store.Servers())
	}
	ids := make([]string, accounttest.Shards)
	for sh := range ids {
		ids[sh] = accounttest.IDOn(sh)
		f.MustOpen(ids[sh], "")
	}
	ctx := context.Background()
	// Out of shard order on purpose: Apply locks shard by shard, ascending.
	ops := []account.Op{deposit(t, 3, ids[3], "3.00"), deposit(t, 0, ids[0], "1.00"), deposit(t, 2, ids[2], "2.00"), deposit(t, 1, ids[1], "4.00")}
	res, err := f.Store.Apply(ctx, 0, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Movement.TransactionID != ops[i].Movement.TransactionID {
			t.Fatalf("result %d: %+v, want the movement of operation %d", i, r, i)
		}
	}
	for sh, want := range []string{"1.00", "4.00", "2.00", "3.00"} {
		if got := f.Balance(ids[sh]); got != want {
			t.Errorf("shard %d balance %s, want %s", sh, got, want)
		}
	}

	// Shard 2's schema now claims to be shard 7.
	if _, err := f.DBs[2].Exec("UPDATE shard_meta SET shard = 7 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	_, err = f.Store.Apply(ctx, 0, []account.Op{deposit(t, 0, ids[0], "5.00"), deposit(t, 2, ids[2], "5.00")})
	if !errors.Is(err, account.ErrMisrouted) {
		t.Fatalf("apply on a schema that records another shard: %v, want misrouted", err)
	}
	if f.Balance(ids[0]) != "1.00" || f.Balance(ids[2]) != "2.00" {
		t.Fatalf("balances %s / %s after a failed transaction, want 1.00 / 2.00", f.Balance(ids[0]), f.Balance(ids[2]))
	}
	// Through the writer, the fenced shard's operation fails alone.
	if _, err := f.Writer.Move(ctx, deposit(t, 2, ids[2], "1.00").Movement); !errors.Is(err, account.ErrMisrouted) {
		t.Fatalf("deposit on the fenced shard: %v, want misrouted", err)
	}
	if _, err := f.Writer.Move(ctx, deposit(t, 0, ids[0], "1.00").Movement); err != nil {
		t.Fatalf("deposit on another shard of the server: %v", err)
	}
	if _, err := f.Store.Apply(ctx, 1, []account.Op{deposit(t, 0, ids[0], "5.00")}); !errors.Is(err, account.ErrMisrouted) {
		t.Fatalf("apply on a server that does not exist: %v, want misrouted", err)
	}
}
