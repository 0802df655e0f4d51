package mysql_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/pkg/problem"
)

// Where no account lock orders two copies of a request, the refusal still
// cannot stand beside a success under the same key: it takes the row the
// success takes, so the later of the two collides on the primary key and
// its batch runs again, replaying the other. The other copy is played by a
// raw transaction that has inserted its row and not committed yet, as
// another instance's batch would have.
func TestRefusalCollidesWithASuccessUnderItsKey(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	db := f.DBs[0]
	frozen, other := accounttest.IDOn(0), accounttest.IDOn(0)
	f.MustOpen(frozen, "")
	f.MustOpen(other, "")
	if _, err := f.Store.SetStatus(context.Background(), frozen, account.Frozen); err != nil {
		t.Fatal(err)
	}
	usd := accounttest.USD(t, "1.00")
	now := time.Now().UTC()

	for _, tc := range []struct {
		name string
		op   account.Op
		want problem.Code // what the losing copy answers
	}{
		{
			// One movement key sent for two accounts: the deposit to the
			// frozen account would be refused, the other's succeeded.
			name: "movement key used for two accounts",
			op: func() account.Op {
				return account.Op{Kind: account.OpMove, Movement: account.MovementRequest{Kind: account.Deposit,
					AccountID: frozen, TransactionID: uuid.NewString(), Amount: usd}}
			}(),
			want: problem.IdempotencyConflict,
		},
		{
			// A transfer from an account that did not exist when this copy
			// read it; the other copy ran after it was opened.
			name: "source opened meanwhile",
			op: account.Op{Kind: account.OpTransfer, Transfer: account.TransferRequest{
				TransactionID: uuid.NewString(), From: accounttest.IDOn(0), To: other, Amount: usd}},
			want: "", // the other copy's success, replayed
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q string
			var args []any
			if tc.op.Kind == account.OpMove {
				m := tc.op.Movement
				q = `INSERT INTO movements (transaction_id, request_hash, kind, account_id, amount, currency, balance_after, version, created_at)
					VALUES (?, ?, 'deposit', ?, 1, 'USD', 1, 1, ?)`
				args = []any{m.TransactionID, "another request", other, now}
			} else {
				r := tc.op.Transfer
				q = `INSERT INTO transfers (transaction_id, request_hash, from_account, to_account, amount, currency,
					from_shard, to_shard, status, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 'USD', 0, 0, 'completed', ?, ?)`
				args = []any{r.TransactionID, r.Hash(), r.From, r.To, now, now}
			}
			tx, err := db.Beginx()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.Exec(q, args...); err != nil {
				t.Fatal(err)
			}
			done := make(chan account.Result, 1)
			go func() {
				res, err := f.Store.Apply(context.Background(), 0, []account.Op{tc.op})
				if err != nil {
					res = []account.Result{{Err: err}}
				}
				done <- res[0]
			}()
			// The batch waits on the other copy's key: at its insert of the
			// refusal, or at its locking read of the transfer.
			time.Sleep(300 * time.Millisecond)
			select {
			case r := <-done:
				t.Fatalf("the batch answered %v before the other copy committed: it did not collide", r.Err)
			default:
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if got := problem.CodeOf(r.Err); r.Err == nil && tc.want != "" || r.Err != nil && got != tc.want {
				t.Fatalf("the batch answered %v, want %q", r.Err, tc.want)
			}
			var refused int
			if err := db.Get(&refused, `SELECT (SELECT COUNT(*) FROM transfers WHERE refusal IS NOT NULL) +
				(SELECT COUNT(*) FROM movements WHERE refusal IS NOT NULL)`); err != nil || refused != 0 {
				t.Errorf("%d refusals stored (%v), want none beside the success", refused, err)
			}
		})
	}
}

// Refusals stored before they were kept as the domain's decision (the
// problem's members under extra) still replay as they were first answered,
// and a new refusal is stored as its code, detail and params.
func TestOlderRefusalRowsReplay(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	db := f.DBs[0]
	ctx := context.Background()
	alice, bob := accounttest.IDOn(0), accounttest.IDOn(0)
	f.MustOpen(alice, "1.00")
	f.MustOpen(bob, "")
	usd := accounttest.USD(t, "9.00")
	tr := account.TransferRequest{TransactionID: uuid.NewString(), From: alice, To: bob, Amount: usd}
	wd := account.MovementRequest{Kind: account.Withdrawal, AccountID: alice, TransactionID: uuid.NewString(), Amount: usd}
	old := `{"code":"insufficient_funds","detail":"account ` + alice + ` cannot pay 9.00 USD","extra":{"available":"1.00","requested":"9.00"}}`
	if _, err := db.Exec(`INSERT INTO transfers (transaction_id, request_hash, from_account, to_account, amount, currency, from_shard, to_shard,
		status, reason, refusal, created_at, updated_at) VALUES (?, ?, ?, ?, 9, 'USD', 0, 0, 'refused', 'insufficient_funds', ?, NOW(6), NOW(6))`,
		tr.TransactionID, tr.Hash(), alice, bob, old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO movements (transaction_id, request_hash, kind, account_id, amount, currency, refusal, created_at)
		VALUES (?, ?, 'withdrawal', ?, 9, 'USD', ?, NOW(6))`, wd.TransactionID, wd.Hash(), alice, old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE accounts SET balance = 50 WHERE account_id = ?", alice); err != nil {
		t.Fatal(err) // enough now: the stored refusal must still stand
	}
	fresh := account.MovementRequest{Kind: account.Withdrawal, AccountID: alice, TransactionID: uuid.NewString(), Amount: accounttest.USD(t, "90.00")}
	res, err := f.Store.Apply(ctx, 0, []account.Op{{Kind: account.OpTransfer, Transfer: tr},
		{Kind: account.OpMove, Movement: wd}, {Kind: account.OpMove, Movement: fresh}})
	if err != nil {
		t.Fatal(err)
	}
	want := problem.New(problem.InsufficientFunds, "account %s cannot pay 9.00 USD", alice).With("available", "1.00").With("requested", "9.00")
	for i, r := range res[:2] {
		if !reflect.DeepEqual(r.Err, want) {
			t.Errorf("op %d replayed %#v, want %#v", i, r.Err, want)
		}
	}
	var stored string
	if err := db.QueryRow("SELECT refusal FROM movements WHERE transaction_id = ?", fresh.TransactionID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	wantStored := `{"code":"insufficient_funds","detail":"account ` + alice + ` cannot pay 90.00 USD","params":{"available":"50.00","requested":"90.00"}}`
	if stored != wantStored {
		t.Errorf("stored %s, want %s", stored, wantStored)
	}
}
