package database

import (
	"fmt"
	"strings"
)

// The MySQL users of the services. Each may change only the data its
// service writes; none may run DDL (docs/adr/0021).
// Migrations run beforehand, as a user that may (the services' migrate
// commands), because MySQL grants on a table only once it exists.
const (
	AccountUser = "wallet_account"
	RelayUser   = "wallet_relay"
	LedgerUser  = "wallet_ledger"
)

// Login is a MySQL user name and its password.
type Login struct{ User, Password string }

// Users are the services' MySQL logins.
type Users struct{ Account, Relay, Ledger Login }

// DefaultUsers are the standard user names with the given passwords.
func DefaultUsers(account, relay, ledger string) Users {
	return Users{Login{AccountUser, account}, Login{RelayUser, relay}, Login{LedgerUser, ledger}}
}

// GrantStatements returns the SQL that creates (or re-passwords) the
// services' users on host ('%' for any) and grants them what they need on
// the shard schemas and the ledger's schemas, one per event partition. It
// is safe to run again. The one
// source of these grants: deploy/grants.sql is its output for the default
// schemas (TestGrantsFileIsCurrent), and the tests apply it directly.
func GrantStatements(shards, ledgers []string, host string, users Users) []string {
	user := func(l Login) string { return "'" + quote(l.User) + "'@'" + host + "'" }
	account, relay, led := user(users.Account), user(users.Relay), user(users.Ledger)
	var out []string
	for _, l := range []Login{users.Account, users.Relay, users.Ledger} {
		out = append(out,
			fmt.Sprintf("CREATE USER IF NOT EXISTS %s IDENTIFIED BY '%s'", user(l), quote(l.Password)),
			fmt.Sprintf("ALTER USER %s IDENTIFIED BY '%s'", user(l), quote(l.Password)))
	}
	for _, s := range shards {
		s = "`" + s + "`"
		out = append(out,
			// account-service writes accounts, movements, transfers, the
			// outbox, inbox and dead letters; it deletes only pruned inbox rows
			// and refusals.
			fmt.Sprintf("GRANT SELECT, INSERT, UPDATE ON %s.* TO %s", s, account),
			fmt.Sprintf("GRANT DELETE ON %s.`inbox` TO %s", s, account),
			fmt.Sprintf("GRANT DELETE ON %s.`transfers` TO %s", s, account),
			fmt.Sprintf("GRANT DELETE ON %s.`movements` TO %s", s, account),
			// outbox-relay reads the outbox, marks rows published or failed,
			// deletes them after the retention and holds the shard's lease:
			// no access to accounts or any other table.
			fmt.Sprintf("GRANT SELECT, DELETE, UPDATE (published_at, attempts, last_error, set_aside_at) ON %s.`outbox` TO %s", s, relay),
			fmt.Sprintf("GRANT SELECT, UPDATE ON %s.`outbox_lease` TO %s", s, relay))
		// ledger-service gets nothing on the shards: it learns owners from
		// events and reconcile reads through account-service (ADR 0038).
	}
	for _, l := range ledgers {
		out = append(out, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.* TO %s", l, led))
	}
	return out
}

// quote escapes a password for a single-quoted SQL string.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s)
}
