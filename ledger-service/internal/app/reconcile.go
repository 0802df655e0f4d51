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
	ledgermysql "github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/ledger-service/internal/reconcile"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/shardread"
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

// Reconcile runs the reconciliation batch job once against every ledger
// partition of cfg and account-service's read side (ledger.account_service_url),
// records the run in the ledger's reconcile_runs table and prints the report
// to out, progress to progress. It returns nil when the system is clean,
// service.ExitCode(1) when it found discrepancies (each naming its
// partition) and service.ExitCode(2) when it could not run (the reason
// printed to progress). It reads no table of account-service's.
func Reconcile(ctx context.Context, cfg config.LedgerService, opts ReconcileOptions, out, progress io.Writer, log *slog.Logger) error {
	fail := func(err error) error {
		fmt.Fprintf(progress, "reconcile: could not run: %v\n", err)
		return exitCouldNotRun
	}
	parts, record, closeParts, err := reconcilePartitions(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer closeParts()
	js, closeNATS, err := connectReady(ctx, cfg.NATS.URL, log)
	if err != nil {
		return fail(err)
	}
	defer closeNATS()
	token, err := reconcileToken(cfg)
	if err != nil {
		return fail(err)
	}
	shards := shardread.NewClient(cfg.Ledger.AccountServiceURL, token)
	// account-service must answer (and take the token) before a run starts.
	wait, cancel := context.WithTimeout(ctx, connectTimeout)
	_, err = shards.Outbox(wait, 0, time.Time{})
	cancel()
	if err != nil {
		return fail(err)
	}
	src := reconcile.Sources{Partitions: parts, Shards: len(cfg.Shards), Accounts: shards,
		Settled: reconcile.LedgerSettled(shards, len(cfg.Shards), parts, js, 50*time.Millisecond)}
	return RunReconcile(ctx, record, src, opts, out, progress, log)
}

// reconcilePartitions opens every ledger partition (ledger.databases, one
// DSN per partition; partition p applies stream.PartitionName(p)), and the
// schema the runs are recorded in (partition 0's).
func reconcilePartitions(ctx context.Context, cfg config.LedgerService) ([]reconcile.Partition, *sqlx.DB, func(), error) {
	var parts []reconcile.Partition
	var dbs []*sqlx.DB
	closeAll := func() {
		for _, db := range dbs {
			db.Close()
		}
	}
	for p, dsn := range cfg.Ledger.Databases {
		db, _, err := openStore(ctx, dsn, fmt.Sprintf("ledger db of partition %d", p))
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		dbs = append(dbs, db)
		parts = append(parts, reconcile.Partition{N: p, DB: db, Stream: stream.PartitionName(p)})
	}
	return parts, dbs[0], closeAll, nil
}

// reconcileToken is the operator token reconcile sends account-service:
// ledger.reconcile_token, or else one it signs itself with auth.jwt_secret
// (the local stack), valid for longer than any run.
func reconcileToken(cfg config.LedgerService) (string, error) {
	switch {
	case cfg.Ledger.ReconcileToken != "":
		return cfg.Ledger.ReconcileToken, nil
	case cfg.Auth.Disabled:
		return "", nil
	case cfg.Auth.JWTSecret == "":
		return "", errors.New("ledger.reconcile_token (WALLET_LEDGER_RECONCILE_TOKEN) is not set and there is no auth.jwt_secret to sign one: account-service's read side wants an operator's token")
	}
	return auth.Mint(cfg.Auth.JWTSecret, "ledger-service-reconcile", auth.Operator, 12*time.Hour, cfg.Auth.Issuer, cfg.Auth.Audience)
}

// RunReconcile runs reconcile once over src, records the run in record,
// prints the report and returns Reconcile's exit status.
func RunReconcile(ctx context.Context, record *sqlx.DB, src reconcile.Sources, opts ReconcileOptions, out, progress io.Writer, log *slog.Logger) error {
	fail := func(err error) error {
		fmt.Fprintf(progress, "reconcile: could not run: %v\n", err)
		return exitCouldNotRun
	}
	now := opts.Check.Now
	if now == nil {
		now = time.Now
	}
	id, err := reconcile.Begin(ctx, record, now())
	if err != nil {
		return fail(err)
	}
	opts.Check.Progress = progress
	rep, runErr := reconcile.Run(ctx, src, opts.Check)
	if rep != nil {
		rep.RunID = id
	}
	if err := reconcile.Finish(context.WithoutCancel(ctx), record, id, rep, runErr, now()); err != nil {
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
