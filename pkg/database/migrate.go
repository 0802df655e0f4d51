package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Migrate applies the *.sql files of migrations, in name order, that db has
// not recorded in schema_migrations. Files hold statements separated by a
// semicolon at the end of a line. MySQL commits DDL implicitly, so each file
// should be one change that is safe to re-run if a crash interrupts it
// (CREATE TABLE IF NOT EXISTS). A named lock keeps concurrent starts apart.
//
// A schema that is current is only read, so a service whose user may not
// run DDL starts; if migrations are pending and the user may not apply
// them, the error says to run the migrate step first.
func Migrate(ctx context.Context, db DB, migrations fs.FS) error {
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(names) == 0 {
		return errors.New("migrate: no *.sql files at the root of the migrations FS")
	}
	sort.Strings(names)
	pending, err := pendingMigrations(ctx, db, names)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	if err := apply(ctx, db, migrations, names); err != nil {
		if denied(err) {
			return fmt.Errorf("migrations %s are pending and this user may not apply them: run the service's migrate command as the migration user first: %w",
				strings.Join(pending, ", "), err)
		}
		return err
	}
	return nil
}

// pendingMigrations returns the names schema_migrations does not record;
// all of them if the table does not exist yet.
func pendingMigrations(ctx context.Context, db DB, names []string) ([]string, error) {
	var done []string
	if err := db.SelectContext(ctx, &done, "SELECT version FROM schema_migrations"); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1146 { // ER_NO_SUCH_TABLE
			return names, nil
		}
		return nil, fmt.Errorf("migrate: read applied: %w", err)
	}
	applied := make(map[string]bool, len(done))
	for _, v := range done {
		applied[v] = true
	}
	var pending []string
	for _, n := range names {
		if !applied[n] {
			pending = append(pending, n)
		}
	}
	return pending, nil
}

// denied reports a MySQL "command denied" error: the user lacks a privilege.
func denied(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1044, 1045, 1142, 1143, 1227: // db, login, table, column, operation access denied
		return true
	}
	return false
}

func apply(ctx context.Context, db DB, migrations fs.FS, names []string) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()

	var got int
	if err := conn.GetContext(ctx, &got, "SELECT GET_LOCK(CONCAT('wallet_migrate_', DATABASE()), 60)"); err != nil || got != 1 {
		return fmt.Errorf("migrate: take lock (got %d): %w", got, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(CONCAT('wallet_migrate_', DATABASE()))") //nolint:errcheck

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version VARCHAR(255) NOT NULL PRIMARY KEY,
		applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
	) ENGINE=InnoDB`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var done []string
	if err := conn.SelectContext(ctx, &done, "SELECT version FROM schema_migrations"); err != nil {
		return fmt.Errorf("migrate: read applied: %w", err)
	}
	applied := make(map[string]bool, len(done))
	for _, v := range done {
		applied[v] = true
	}
	for _, name := range names {
		if applied[name] {
			continue
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		for _, stmt := range splitStatements(string(body)) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s: %w", name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES (?)", name); err != nil {
			return fmt.Errorf("migrate %s: record: %w", name, err)
		}
	}
	return nil
}

func splitStatements(sql string) []string {
	var out []string
	for _, part := range strings.Split(sql, ";\n") {
		if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), ";")); s != "" && !onlyComments(s) {
			out = append(out, s)
		}
	}
	return out
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}
