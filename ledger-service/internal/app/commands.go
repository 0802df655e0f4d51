package app

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/walletco/wallet/ledger-service/internal/reconcile"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/service"
)

// Build is New as a service.Builder, for service.Main.
func Build(_ context.Context, cfg config.LedgerService, log *slog.Logger) (service.App, error) {
	return New(cfg, log)
}

// Commands are ledger-service's commands besides serve.
func Commands() []service.Command[config.LedgerService] {
	var schema string
	replayPartition := -1
	replay := service.Command[config.LedgerService]{
		Name:    "replay",
		Summary: "rebuild a partition's journal (or every partition's) from its stream WALLET_<p> into an empty schema (progress on stderr)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&schema, "schema", "", "schema to rebuild into, on the partition's server; created if missing, must be empty; "+
				"without --partition every partition p is rebuilt into SCHEMA_p (required)")
			fs.IntVar(&replayPartition, "partition", -1, "the partition to rebuild; -1 (the default) rebuilds every partition")
		},
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			if schema == "" {
				return fmt.Errorf("%w: --schema is required", service.ErrUsage)
			}
			return Replay(ctx, cfg, schema, replayPartition, os.Stdout, os.Stderr, log)
		},
	}
	var rec ReconcileOptions
	def := reconcile.DefaultOptions()
	reconcile := service.Command[config.LedgerService]{
		Name: "reconcile",
		Summary: "check each ledger partition against account-service's shards (its read side) and the totals, " +
			"sagas, outbox and dead letters once; exit 0 clean, 1 discrepancies found (naming the partition), 2 could not run",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&rec.JSON, "json", false, "print the report as JSON instead of a table")
			fs.DurationVar(&rec.Check.PendingAfter, "pending-after", def.PendingAfter, "report cross-shard transfers pending for longer than this")
			fs.DurationVar(&rec.Check.UnpublishedAfter, "unpublished-after", def.UnpublishedAfter, "report outbox events unpublished for longer than this")
			fs.DurationVar(&rec.Check.SettleTimeout, "settle-timeout", def.SettleTimeout, "how long to wait for the ledger to catch up before reporting what still differs")
			fs.IntVar(&rec.Check.Page, "page", def.Page, "rows per keyset page")
		},
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			return Reconcile(ctx, cfg, rec, os.Stdout, os.Stderr, log)
		},
	}
	var dl deadletter.Command
	deadLetters := service.Command[config.LedgerService]{
		Name:    "dead-letters",
		Summary: DeadLettersUsage,
		Args: func(args []string) (err error) {
			dl, err = ParseDeadLetters(args)
			return err
		},
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			return DeadLetters(ctx, cfg, dl, os.Stdout, os.Stderr, log)
		},
	}
	resetPartition := -1
	resetPosition := service.Command[config.LedgerService]{
		Name: "reset-position",
		Summary: "forget a partition's stream position (or every partition's), after its stream WALLET_<p> was created anew or lost messages " +
			"and its events were republished; the next start takes the ledger consumer's ack floor",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&resetPartition, "partition", -1, "the partition; -1 (the default) is every partition")
		},
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			return ResetPosition(ctx, cfg, resetPartition, os.Stdout)
		},
	}
	migrate := service.Command[config.LedgerService]{
		Name:    "migrate",
		Summary: "apply the ledger schema (run as a user that may change the schema; the service's own user may not)",
		Run: func(ctx context.Context, cfg config.LedgerService, _ *slog.Logger) error {
			return Migrate(ctx, cfg)
		},
	}
	return []service.Command[config.LedgerService]{migrate, replay, reconcile, resetPosition, deadLetters,
		GapsCommand(), SkipGapCommand()}
}
