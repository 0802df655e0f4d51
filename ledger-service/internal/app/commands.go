package app

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/walletco/wallet/ledger-service/internal/reconcile"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

// Build is New as a service.Builder, for service.Main.
func Build(_ context.Context, cfg config.LedgerService, log *slog.Logger) (service.App, error) {
	return New(cfg, log)
}

// Commands are ledger-service's commands besides serve.
func Commands() []service.Command[config.LedgerService] {
	var schema string
	replay := service.Command[config.LedgerService]{
		Name:    "replay",
		Summary: "rebuild the journal from the WALLET stream into an empty schema (progress on stderr)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&schema, "schema", "", "schema to rebuild into, on the ledger's server; created if missing, must be empty (required)")
		},
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			if schema == "" {
				return fmt.Errorf("%w: --schema is required", service.ErrUsage)
			}
			return Replay(ctx, cfg, schema, os.Stdout, os.Stderr, log)
		},
	}
	var rec ReconcileOptions
	def := reconcile.DefaultOptions()
	reconcile := service.Command[config.LedgerService]{
		Name: "reconcile",
		Summary: "check shards, ledger, sagas, outbox and dead letters against each other once; " +
			"exit 0 clean, 1 discrepancies found, 2 could not run",
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
	var dl DeadLetterCommand
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
	resetPosition := service.Command[config.LedgerService]{
		Name: "reset-position",
		Summary: "forget the ledger's stream position, after the WALLET stream was created anew or lost messages " +
			"and its events were republished; the next start takes the ledger consumer's ack floor",
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			return ResetPosition(ctx, cfg, os.Stdout)
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
