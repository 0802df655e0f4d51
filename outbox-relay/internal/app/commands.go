package app

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

// Build is New as a service.Builder, for service.Main.
func Build(ctx context.Context, cfg config.OutboxRelay, log *slog.Logger) (service.App, error) {
	return New(ctx, cfg, log)
}

// Commands are outbox-relay's commands besides serve.
func Commands() []service.Command[config.OutboxRelay] {
	var since time.Duration
	republish := service.Command[config.OutboxRelay]{
		Name:    "republish",
		Summary: "publish the rows published within --since again (after the stream lost messages); duplicates are dropped",
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&since, "since", 0, "re-publish rows published within this long, e.g. 10m; at most relay.outbox_retention is kept (required)")
		},
		Run: func(ctx context.Context, cfg config.OutboxRelay, log *slog.Logger) error {
			if since <= 0 {
				return fmt.Errorf("%w: --since is required", service.ErrUsage)
			}
			return Republish(ctx, cfg, since, os.Stdout, log)
		},
	}
	var dryRun bool
	prov := service.Command[config.OutboxRelay]{
		Name: "provision",
		Summary: "create or update every stream and bucket of the wallet from the configuration (run as the wallet_admin NATS user, " +
			"in nats.url); --dry-run prints the plan",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&dryRun, "dry-run", false, "print what would be created or changed, change nothing")
		},
		Run: func(ctx context.Context, cfg config.OutboxRelay, log *slog.Logger) error {
			return Provision(ctx, cfg, dryRun, os.Stdout, log)
		},
	}
	return []service.Command[config.OutboxRelay]{republish, prov}
}
