// Command account-service serves the wallet's account and transfer API and
// runs its side of the cross-shard transfer saga.
package main

import (
	"context"
	"log/slog"

	"github.com/walletco/wallet/account-service/internal/app"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	service.Main("account-service", "accounts, deposits, withdrawals and transfers over HTTP, and its side of the cross-shard saga", func(ctx context.Context, cfg config.Config, log *slog.Logger) (service.App, error) {
		return app.New(ctx, cfg, log)
	}, service.Command{
		Name:    "migrate",
		Summary: "apply the shard schema to every shard (run as a user that may change the schema; the service's own user may not)",
		Run: func(ctx context.Context, cfg config.Config, _ *slog.Logger) error {
			return app.Migrate(ctx, cfg)
		},
	}, app.TokenCommand())
}
