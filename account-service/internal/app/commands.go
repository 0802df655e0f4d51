package app

import (
	"context"
	"log/slog"

	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

// Build is New as a service.Builder, for service.Main.
func Build(ctx context.Context, cfg config.AccountService, log *slog.Logger) (service.App, error) {
	return New(ctx, cfg, log)
}

// Commands are account-service's commands besides serve.
func Commands() []service.Command[config.AccountService] {
	return []service.Command[config.AccountService]{{
		Name:    "migrate",
		Summary: "apply the shard schema to every shard (run as a user that may change the schema; the service's own user may not)",
		Run: func(ctx context.Context, cfg config.AccountService, _ *slog.Logger) error {
			return Migrate(ctx, cfg)
		},
	}, TokenCommand(), ShardsCommand(), DeadLettersCommand()}
}
