package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/replay"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/stream"
)

var schemaName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// Replay rebuilds the ledger from the WALLET stream into schema, on the
// server of cfg.Ledger.DSN: it creates the schema if missing, migrates it,
// refuses one that already holds a journal or is the live ledger's, and
// prints progress to progress and a summary to out.
func Replay(ctx context.Context, cfg config.LedgerService, schema string, out, progress io.Writer, log *slog.Logger) error {
	dsn, err := mysql.ParseDSN(cfg.Ledger.DSN)
	if err != nil {
		return fmt.Errorf("ledger.dsn: %w", err)
	}
	if !schemaName.MatchString(schema) || schema == dsn.DBName {
		return fmt.Errorf("--schema must name a schema ([A-Za-z0-9_]{1,64}) other than the live ledger's (%q), got %q", dsn.DBName, schema)
	}
	if err := createSchema(ctx, *dsn, schema); err != nil {
		return err
	}
	dsn.DBName = schema
	db, store, err := openStore(ctx, dsn.FormatDSN(), "schema "+schema)
	if err != nil {
		return err
	}
	defer db.Close()
	var journals int
	if err := db.GetContext(ctx, &journals, "SELECT COUNT(*) FROM journal_transactions"); err != nil {
		return err
	}
	if journals > 0 {
		return fmt.Errorf("schema %s already holds %d journal transactions: replay needs an empty one", schema, journals)
	}
	skips, skipped, err := liveSkips(ctx, cfg.Ledger.DSN)
	if err != nil {
		return err
	}
	nc, err := stream.Connect(cfg.NATS.URL, "ledger-service replay", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	sum, err := replay.Run(ctx, js, store, replay.Options{Progress: progress, Every: time.Second, Skipped: skipped})
	if err != nil {
		return fmt.Errorf("replay into %s: %w", schema, err)
	}
	fmt.Fprintf(out, "replayed %d events into %s in %s: %d applied, %d duplicates skipped, %d set aside (%.0f events/s)\n",
		sum.Events, schema, sum.Elapsed.Round(time.Millisecond), sum.Applied, sum.Duplicates, sum.SetAside,
		float64(sum.Events)/max(sum.Elapsed.Seconds(), 1e-9))
	reportReplayGaps(out, sum)
	return store.CopySkips(ctx, skips)
}

// createSchema creates schema on dsn's server unless it exists.
func createSchema(ctx context.Context, dsn mysql.Config, schema string) error {
	dsn.DBName = ""
	db, err := database.Open(dsn.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+schema+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}
