// Package accounttest holds account-service's test fixture: the store over
// four fresh shard schemas of the test MariaDB with its group-commit writer,
// and helpers to open and fund accounts. Only tests import it.
package accounttest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/testenv"
)

// Shards is how many shard schemas a fixture has.
const Shards = 4

// Fixture is a migrated store and its writer.
type Fixture struct {
	t      testing.TB
	Store  *mysql.Store
	Writer *groupcommit.Writer
	DBs    []*sqlx.DB
}

// MustStore returns a fixture on fresh shard schemas; they are dropped and
// the writer closed when the test ends. cfg tunes the writer; see Writer.
func MustStore(t testing.TB, cfg groupcommit.Config) *Fixture {
	t.Helper()
	return MustStoreOn(t, testenv.Databases(t, Shards), cfg)
}

// MustStoreOn is MustStore on the given Shards DSNs (through a
// testenv.Proxy, for instance).
func MustStoreOn(t testing.TB, dsns []string, cfg groupcommit.Config) *Fixture {
	t.Helper()
	var dbs []*sqlx.DB
	for _, dsn := range dsns {
		dbs = append(dbs, testenv.MustOpen(t, dsn))
	}
	// The shards on one server commit together, as in the service.
	l, err := database.LayoutOf(nil, dsns)
	if err != nil {
		t.Fatal(err)
	}
	var servers []mysql.Server
	for i, dsn := range l.ServerDSNs {
		servers = append(servers, mysql.Server{Name: l.Names[i], DB: testenv.MustOpen(t, database.WithMultiStatements(dsn))})
	}
	s, err := mysql.NewPlaced(servers, l.Schemas, l.Owners)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	w, err := groupcommit.New(s, s, Writer(cfg), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return &Fixture{t: t, Store: s, Writer: w, DBs: dbs}
}

// Writer is cfg with the fields a test left zero at account-service's
// configured defaults (config.Defaults): groupcommit requires every value,
// and most tests do not care which.
func Writer(cfg groupcommit.Config) groupcommit.Config {
	d := config.Defaults[config.AccountService]().Account
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = d.MaxBatch
	}
	if cfg.QueueDepth == 0 {
		cfg.QueueDepth = d.QueueDepth
	}
	return cfg
}

// IDOn returns a fresh account id that lives on shard sh.
func IDOn(sh int) string {
	for {
		if id := "acc-" + uuid.NewString()[:8]; shard.Of(id, Shards) == sh {
			return id
		}
	}
}

// USD parses a USD amount or fails the test.
func USD(t testing.TB, s string) money.Amount {
	t.Helper()
	a, err := money.Parse(s, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// MustOpen opens a USD account id and, unless deposit is empty, deposits it.
func (f *Fixture) MustOpen(id, deposit string) {
	f.t.Helper()
	ctx := context.Background()
	if _, _, err := f.Store.Open(ctx, account.OpenRequest{AccountID: id, OwnerID: "o", Currency: "USD"}); err != nil {
		f.t.Fatal(err)
	}
	if deposit != "" {
		if _, err := f.Writer.Move(ctx, account.MovementRequest{Kind: account.Deposit, AccountID: id,
			TransactionID: uuid.NewString(), Amount: USD(f.t, deposit)}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// MustTransfer transfers amount USD under a fresh transaction id.
func (f *Fixture) MustTransfer(from, to, amount string) account.Transfer {
	f.t.Helper()
	tr, err := f.Writer.Transfer(context.Background(), account.TransferRequest{TransactionID: uuid.NewString(),
		From: from, To: to, Amount: USD(f.t, amount)})
	if err != nil {
		f.t.Fatal(err)
	}
	return tr
}

// Balance reads an account's balance as a string with the currency's
// decimals, or fails the test.
func (f *Fixture) Balance(id string) string {
	f.t.Helper()
	a, err := f.Store.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return money.Format(a.Balance, a.Currency)
}
