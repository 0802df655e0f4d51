// Command outbox-relay copies committed outbox rows from every shard to
// JetStream; "republish" sends recently published rows again after the
// stream lost messages.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/walletco/wallet/outbox-relay/internal/app"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	var since time.Duration
	republish := service.Command{
		Name:    "republish",
		Summary: "publish the rows published within --since again (after the stream lost messages); duplicates are dropped",
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&since, "since", 0, "re-publish rows published within this long, e.g. 10m; at most relay.outbox_retention is kept (required)")
		},
		Run: func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
			if since <= 0 {
				return fmt.Errorf("%w: --since is required", service.ErrUsage)
			}
			return app.Republish(ctx, cfg, since, os.Stdout, log)
		},
	}
	service.Main("outbox-relay", "publishes every shard's outbox to the WALLET JetStream stream", func(ctx context.Context, cfg config.Config, log *slog.Logger) (service.App, error) {
		return app.New(ctx, cfg, log)
	}, republish)
}
