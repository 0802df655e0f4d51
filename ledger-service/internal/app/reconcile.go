package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/consumer"
	ledgermysql "github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/ledger-service/internal/reconcile"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
)

// Exit statuses of reconcile.
const (
	exitDiscrepancies = service.ExitCode(1)
	exitCouldNotRun   = service.ExitCode(2)
)

// connectTimeout bounds the wait for each database and NATS before a run
// gives up with exit status 2.
const connectTimeout = 5 * time.Second

// ReconcileOptions are reconcile's command-line choices.
type ReconcileOptions struct {
	Check reconcile.Options
	// JSON prints the report as JSON instead of a table.
	JSON bool
}

// Reconcile runs the reconciliation batch job once against the shards and
// the ledger of cfg, records the run in the ledger's reconcile_runs table
// and prints the report to out, progress to progress. It returns nil when
// the system is clean, service.ExitCode(1) when it found discrepancies and
// service.ExitCode(2) when it could not run (the reason printed to progress).
func Reconcile(ctx context.Context, cfg config.LedgerService, opts ReconcileOptions, out, progress io.Writer, log *slog.Logger) error {
	fail := func(err error) error {
		fmt.Fprintf(progress, "reconcile: could not run: %v\n", err)
		return exitCouldNotRun
	}
	// TODO(reconcile, issue 19): one run per partition and the totals; the
	// first partition only until then.
	ledgerDB, _, err := openStore(ctx, cfg.Ledger.Databases[0], "ledger db")
	if err != nil {
		return fail(err)
	}
	defer ledgerDB.Close()
	js, closeNATS, err := connectReady(ctx, cfg.NATS.URL, log)
	if err != nil {
		return fail(err)
	}
	defer closeNATS()
	// Each shard is read on the server that holds it now.
	layout, err := database.LayoutOf(cfg.Servers, cfg.Shards)
	if err != nil {
		return fail(err)
	}
	placed, err := placement.NewPools(layout, database.Open)
	if err != nil {
		return fail(err)
	}
	defer placed.Close()
	if err := placed.PlaceNow(ctx, js, log); err != nil {
		return fail(fmt.Errorf("placement: %w", err))
	}
	shards := placed.All()
	for i, db := range shards {
		if err := waitReady(ctx, db, fmt.Sprintf("shard %d", i)); err != nil {
			return fail(err)
		}
	}

	now := opts.Check.Now
	if now == nil {
		now = time.Now
	}
	id, err := reconcile.Begin(ctx, ledgerDB, now())
	if err != nil {
		return fail(err)
	}
	opts.Check.Progress = progress
	rep, runErr := reconcile.Run(ctx, reconcile.Sources{Shards: shards, Ledger: ledgerDB,
		Settled: reconcile.LedgerSettled(shards, js, consumer.Name, 50*time.Millisecond)}, opts.Check)
	if rep != nil {
		rep.RunID = id
	}
	if err := reconcile.Finish(context.WithoutCancel(ctx), ledgerDB, id, rep, runErr, now()); err != nil {
		log.Error("record reconcile run", "run", id, "err", err)
	}
	if runErr != nil {
		return fail(runErr)
	}
	if opts.JSON {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteTable(out)
	}
	if err != nil {
		return fail(err)
	}
	if rep.Discrepancies() > 0 {
		return exitDiscrepancies
	}
	return nil
}

// openReady opens dsn and waits up to connectTimeout for it to answer.
func openReady(ctx context.Context, dsn, name string) (*sqlx.DB, error) {
	db, err := database.Open(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := waitReady(ctx, db, name); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// waitReady waits for db up to connectTimeout.
func waitReady(ctx context.Context, db database.DB, name string) error {
	wait, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := database.WaitReady(wait, db); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// openStore opens the ledger schema at dsn (waiting for it, see
// openReady) and migrates it; the caller closes the pool.
func openStore(ctx context.Context, dsn, name string) (*sqlx.DB, *ledgermysql.Store, error) {
	db, err := openReady(ctx, dsn, name)
	if err != nil {
		return nil, nil, err
	}
	store, err := ledgermysql.New(db)
	if err == nil {
		err = store.Migrate(ctx, deadletter.Migrations())
	}
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return db, store, nil
}

// connectReady connects to NATS and waits up to connectTimeout for the
// connection: a run needs JetStream to know when the ledger has caught up.
func connectReady(ctx context.Context, url string, log *slog.Logger) (jetstream.JetStream, func(), error) {
	nc, err := stream.Connect(url, "ledger-service reconcile", log)
	if err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(connectTimeout)
	for nc.Status() != nats.CONNECTED {
		if time.Now().After(deadline) || ctx.Err() != nil {
			last := nc.LastError() // e.g. an authorization violation: say so
			nc.Close()
			if last != nil {
				return nil, nil, fmt.Errorf("nats %s: not reachable: %w", url, last)
			}
			return nil, nil, errors.New("nats " + url + ": not reachable")
		}
		time.Sleep(50 * time.Millisecond)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}
