package mysql_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/pkg/problem"
)

// Refusals are deleted once older than the retention; younger ones and
// every success stay. A retry of a pruned refusal is judged afresh, which
// is why the retention must outlast every retry a client may send.
func TestPruneRefusalsAfterRetention(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	f.Store.Now = func() time.Time { return time.UnixMicro(now.Load()) }
	advance := func(d time.Duration) { now.Add(d.Microseconds()) }
	ctx := context.Background()
	src, dst := accounttest.IDOn(0), accounttest.IDOn(0)
	f.MustOpen(src, "1.00")
	f.MustOpen(dst, "")
	usd := accounttest.USD(t, "5.00")
	oldTr := account.TransferRequest{TransactionID: uuid.NewString(), From: src, To: dst, Amount: usd}
	oldWd := account.MovementRequest{Kind: account.Withdrawal, AccountID: src, TransactionID: uuid.NewString(), Amount: usd}
	okTr := account.TransferRequest{TransactionID: uuid.NewString(), From: src, To: dst, Amount: accounttest.USD(t, "0.50")}
	newWd := account.MovementRequest{Kind: account.Withdrawal, AccountID: src, TransactionID: uuid.NewString(), Amount: usd}
	apply := func(ops ...account.Op) []account.Result {
		t.Helper()
		res, err := f.Store.Apply(ctx, 0, ops)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tr := func(r account.TransferRequest) account.Op { return account.Op{Kind: account.OpTransfer, Transfer: r} }
	mv := func(r account.MovementRequest) account.Op { return account.Op{Kind: account.OpMove, Movement: r} }

	res := apply(tr(oldTr), mv(oldWd), tr(okTr))
	if !problem.Is(res[0].Err, problem.InsufficientFunds) || !problem.Is(res[1].Err, problem.InsufficientFunds) || res[2].Err != nil {
		t.Fatalf("answered %v, %v, %v; want two refusals and a success", res[0].Err, res[1].Err, res[2].Err)
	}
	advance(23 * time.Hour)
	if res := apply(mv(newWd)); !problem.Is(res[0].Err, problem.InsufficientFunds) {
		t.Fatalf("answered %v, want a refusal", res[0].Err)
	}
	advance(time.Hour + time.Second)
	n, err := f.Store.PruneRefusals(ctx, 0, 24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want the 2 refusals older than 24h", n, err)
	}
	var left struct {
		Transfers int `db:"transfers"`
		Refused   int `db:"refused"`
		Movements int `db:"movements"`
	}
	if err := f.DBs[0].Get(&left, `SELECT (SELECT COUNT(*) FROM transfers) AS transfers,
		(SELECT COUNT(*) FROM movements WHERE refusal IS NOT NULL) AS refused,
		(SELECT COUNT(*) FROM movements WHERE refusal IS NULL) AS movements`); err != nil {
		t.Fatal(err)
	}
	if left.Transfers != 1 || left.Refused != 1 || left.Movements != 1 {
		t.Errorf("left %+v; want the success, the younger refusal and the deposit", left)
	}
	if n, err := f.Store.PruneRefusals(ctx, 0, 24*time.Hour); err != nil || n != 0 {
		t.Errorf("pruned again %d (%v), want 0", n, err)
	}
	// Past the retention the key is free: the same request is decided anew.
	if _, err := f.DBs[0].Exec("UPDATE accounts SET balance = 10 WHERE account_id = ?", src); err != nil {
		t.Fatal(err)
	}
	if res := apply(tr(oldTr), mv(newWd)); res[0].Err != nil || res[0].Transfer.Status != account.Completed || !problem.Is(res[1].Err, problem.InsufficientFunds) {
		t.Errorf("after pruning answered %v (%s) and %v; want the transfer decided anew and the younger refusal replayed", res[0].Err, res[0].Transfer.Status, res[1].Err)
	}
}
