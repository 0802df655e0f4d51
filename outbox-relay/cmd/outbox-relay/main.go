// Command outbox-relay copies committed outbox rows from every shard to JetStream.
package main

import (
	"context"
	"log/slog"

	"github.com/walletco/wallet/outbox-relay/internal/app"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	service.Main("outbox-relay", "publishes every shard's outbox to the WALLET JetStream stream", func(ctx context.Context, cfg config.Config, log *slog.Logger) (service.App, error) {
		return app.New(ctx, cfg, log)
	})
}
