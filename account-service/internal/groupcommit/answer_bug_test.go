//go:build wallet_bug_answer_before_commit

package groupcommit_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
)

// In a wallet_bug_answer_before_commit build a deposit is answered while
// its transaction is still open; when its connection dies before the
// commit, the deposit the caller was told succeeded is gone.
func TestBugAnswerBeforeCommitLosesAnsweredWork(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{})
	db := f.DBs[0]
	id := accounttest.IDOn(0)
	f.MustOpen(id, "")
	txID := uuid.NewString()
	if _, err := f.Writer.Move(context.Background(), account.MovementRequest{Kind: account.Deposit, AccountID: id,
		TransactionID: txID, Amount: accounttest.USD(t, "5.00")}); err != nil {
		t.Fatal(err)
	}
	if got := f.Balance(id); got != "0.00" {
		t.Fatalf("balance %s when the deposit was answered, want 0.00: it committed first", got)
	}

	// The batch's open transaction on this shard's schema: kill its
	// connection, as a crash of MariaDB or of the service would.
	var thread int64
	err := db.Get(&thread, `SELECT t.trx_mysql_thread_id FROM information_schema.innodb_trx t
		JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id WHERE p.db = DATABASE()`)
	if err != nil {
		t.Fatalf("no open transaction after the answer: %v", err)
	}
	if _, err := db.Exec("KILL ?", thread); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past the batch's wait before committing
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM movements WHERE transaction_id = ?", txID); err != nil || n != 0 || f.Balance(id) != "0.00" {
		t.Fatalf("%d movements (%v), balance %s; want the answered deposit lost", n, err, f.Balance(id))
	}
}
