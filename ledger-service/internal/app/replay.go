package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/replay"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/stream"
)

var schemaName = regexp.MustCompile(`^[A-Za-z0-9_]{1,60}$`)

// Replay rebuilds ledger partitions from their streams: partition p (its
// stream WALLET_<p>) into schema on the server of ledger.databases[p], or,
// with partition -1, every partition p into schema_<p>. Each target is
// created if missing and migrated; one that already holds a journal or is
// a live partition's schema is refused. Progress goes to progress, a
// summary line per partition to out.
func Replay(ctx context.Context, cfg config.LedgerService, schema string, partition int, out, progress io.Writer, log *slog.Logger) error {
	parts, err := partitionsOf(cfg, partition)
	if err != nil {
		return err
	}
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("--schema must name a schema ([A-Za-z0-9_]{1,60}), got %q", schema)
	}
	live := map[string]bool{}
	for i, d := range cfg.Ledger.Databases {
		dsn, err := mysql.ParseDSN(d)
		if err != nil {
			return fmt.Errorf("ledger.databases[%d]: %w", i, err)
		}
		live[dsn.DBName] = true
	}
	targets := map[int]string{}
	for _, p := range parts {
		targets[p] = schema
		if partition < 0 {
			targets[p] = schema + "_" + strconv.Itoa(p)
		}
		if live[targets[p]] {
			return fmt.Errorf("--schema: %s is a live partition's schema; replay needs another", targets[p])
		}
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
	for _, p := range parts {
		if err := replayOne(ctx, js, cfg.Ledger.Databases[p], p, targets[p], out, progress); err != nil {
			return err
		}
	}
	return nil
}

func replayOne(ctx context.Context, js jetstream.JetStream, liveDSN string, p int, schema string, out, progress io.Writer) error {
	dsn, err := mysql.ParseDSN(liveDSN)
	if err != nil {
		return err
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
	skips, skipped, err := liveSkips(ctx, liveDSN)
	if err != nil {
		return err
	}
	sum, err := replay.Run(ctx, js, store, replay.Options{Stream: stream.PartitionName(p), Progress: progress, Every: time.Second, Skipped: skipped})
	if err != nil {
		return fmt.Errorf("replay partition %d into %s: %w", p, schema, err)
	}
	fmt.Fprintf(out, "replayed %d events of partition %d into %s in %s: %d applied, %d duplicates skipped, %d set aside (%.0f events/s)\n",
		sum.Events, p, schema, sum.Elapsed.Round(time.Millisecond), sum.Applied, sum.Duplicates, sum.SetAside,
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
