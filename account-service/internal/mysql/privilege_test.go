package mysql_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/testenv"
)

// privileged is a migrated shard and ledger schema with the services' users
// created by database.GrantStatements (the grants of deploy/grants.sql),
// under names of this test's own.
type privileged struct {
	shard, ledger string // DSNs as the test harness's privileged user
	users         database.Users
}

func grantServiceUsers(t *testing.T) privileged {
	t.Helper()
	dsns := testenv.Databases(t, 2)
	admin := testenv.MustOpen(t, database.WithMultiStatements(dsns[0]))
	store, err := mysql.New([]*sqlx.DB{admin})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Migrate(ctx, deadletter.Migrations()); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`INSERT INTO accounts (account_id, owner_id, currency, balance, created_at, updated_at)
		VALUES ('alice', 'u1', 'USD', 10, NOW(6), NOW(6))`); err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(t.Name()[len(t.Name())-6:])
	p := privileged{shard: dsns[0], ledger: dsns[1], users: database.Users{
		Account: database.Login{User: "t_acc_" + suffix, Password: "acc-pw"},
		Relay:   database.Login{User: "t_rel_" + suffix, Password: "rel-pw"},
		Ledger:  database.Login{User: "t_led_" + suffix, Password: "led-pw"},
	}}
	for _, l := range []database.Login{p.users.Account, p.users.Relay, p.users.Ledger} {
		t.Cleanup(func() { _, _ = admin.Exec("DROP USER IF EXISTS '" + l.User + "'@'%'") })
	}
	for _, stmt := range database.GrantStatements([]string{dbName(t, dsns[0])}, []string{dbName(t, dsns[1])}, "%", p.users) {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return p
}

func dbName(t *testing.T, dsn string) string {
	c, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return c.DBName
}

// as opens dsn as login.
func as(t *testing.T, dsn string, l database.Login) *sqlx.DB {
	t.Helper()
	c, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c.User, c.Passwd = l.User, l.Password
	return testenv.MustOpen(t, database.WithMultiStatements(c.FormatDSN()))
}

// mustDeny runs q and wants MySQL to refuse it for lack of a privilege.
func mustDeny(t *testing.T, db *sqlx.DB, who, q string) {
	t.Helper()
	_, err := db.Exec(q)
	var me *gomysql.MySQLError
	if !errors.As(err, &me) || (me.Number != 1142 && me.Number != 1143 && me.Number != 1044) {
		t.Errorf("%s: %s: err = %v, want access denied", who, q, err)
	}
}

func mustAllow(t *testing.T, db *sqlx.DB, who, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Errorf("%s: %s: %v", who, q, err)
	}
}

// The relay and the ledger cannot touch a balance; no service can change
// the schema; each can do what its service does.
func TestServiceUsersHaveLeastPrivilege(t *testing.T) {
	p := grantServiceUsers(t)
	relay := as(t, p.shard, p.users.Relay)
	ledgerOnShard := as(t, p.shard, p.users.Ledger)
	account := as(t, p.shard, p.users.Account)
	ledger := as(t, p.ledger, p.users.Ledger)

	const steal = "UPDATE accounts SET balance = balance + 1000 WHERE account_id = 'alice'"
	mustDeny(t, relay, "relay", steal)
	mustDeny(t, ledgerOnShard, "ledger", steal)
	mustDeny(t, relay, "relay", "SELECT balance FROM accounts")
	mustDeny(t, relay, "relay", "INSERT INTO movements (idempotency_key) VALUES ('x')")
	mustDeny(t, relay, "relay", "UPDATE outbox SET data = '{}' WHERE id = 1")
	mustDeny(t, ledgerOnShard, "ledger", "INSERT INTO outbox (event_id) VALUES ('x')")
	mustDeny(t, ledgerOnShard, "ledger", "DELETE FROM accounts")
	mustDeny(t, account, "account", "DELETE FROM accounts")
	for who, db := range map[string]*sqlx.DB{"relay": relay, "ledger": ledgerOnShard, "account": account} {
		mustDeny(t, db, who, "DROP TABLE accounts")
		mustDeny(t, db, who, "ALTER TABLE accounts ADD COLUMN x INT")
		mustDeny(t, db, who, "CREATE TABLE x (id INT)")
	}
	mustDeny(t, ledger, "ledger", "DROP TABLE schema_migrations")

	mustAllow(t, relay, "relay", "UPDATE outbox SET published_at = NOW(6), attempts = attempts + 1, last_error = '', set_aside_at = NULL WHERE id = 0")
	mustAllow(t, relay, "relay", "DELETE FROM outbox WHERE id = 0")
	mustAllow(t, relay, "relay", "UPDATE outbox_lease SET expires_at = NOW(6) WHERE id = 1 AND owner = 'nobody'")
	// The ledger reads nothing of account-service's (ADR 0038): owners
	// come from events, reconcile reads through account-service.
	mustDeny(t, ledgerOnShard, "ledger", "UPDATE dead_letters SET handled_at = NOW(6) WHERE id = 0")
	mustDeny(t, ledgerOnShard, "ledger", "SELECT balance FROM accounts")
	mustAllow(t, account, "account", "UPDATE accounts SET version = version WHERE account_id = 'alice'")
	mustAllow(t, account, "account", "DELETE FROM inbox WHERE consumer = 'none'")
	mustAllow(t, account, "account", "DELETE FROM transfers WHERE status = 'refused' AND transaction_id = 'none'") // refusals pruned
	mustAllow(t, account, "account", "DELETE FROM movements WHERE balance_after IS NULL AND transaction_id = 'none'")

	var balance string
	if err := account.Get(&balance, "SELECT balance FROM accounts WHERE account_id = 'alice'"); err != nil || balance != "10.0000" {
		t.Fatalf("alice's balance = %q, %v; want 10.0000 untouched", balance, err)
	}
}

// A service whose user may not run DDL starts on a current schema, and says
// what to do when a migration is pending.
func TestMigrateWithoutDDLRights(t *testing.T) {
	p := grantServiceUsers(t)
	account := as(t, p.shard, p.users.Account)
	store, err := mysql.New([]*sqlx.DB{account})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(context.Background(), deadletter.Migrations()); err != nil {
		t.Fatalf("migrate on a current schema as the service user: %v", err)
	}
	next := fstest.MapFS{"9999_next.sql": &fstest.MapFile{Data: []byte("CREATE TABLE next_thing (id INT);\n")}}
	err = database.Migrate(context.Background(), account, next)
	if err == nil || !strings.Contains(err.Error(), "9999_next.sql are pending") || !strings.Contains(err.Error(), "migrate command") {
		t.Fatalf("pending migration as the service user: err = %v", err)
	}
}
