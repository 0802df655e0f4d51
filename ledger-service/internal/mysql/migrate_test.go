package mysql_test

import (
	"context"
	"testing"

	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/deadletter"
)

// Every migration runs again after it completed unrecorded: a process
// stopped between a file's last statement and its record (a SIGTERM during a
// long ALTER) must not crash-loop at the next start. Forgetting every record
// re-runs all files, the ledger's and the shared packages', over their result.
func TestEveryMigrationRunsTwice(t *testing.T) {
	store, db := ledgertest.MustStore(t, deadletter.Migrations())
	if _, err := db.Exec("DELETE FROM schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(context.Background(), deadletter.Migrations()); err != nil {
		t.Fatalf("migrations run again: %v", err)
	}
}
