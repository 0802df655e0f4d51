// Command ledger-service keeps the wallet's double-entry ledger: it consumes
// every event of the WALLET stream into a journal and serves balances, as-of
// balances, account history and transfer journals over HTTP.
package main

import (
	"context"
	"log/slog"

	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	service.Main("ledger-service", "the double-entry ledger fed by every event, and its balance API", func(_ context.Context, cfg config.Config, log *slog.Logger) (service.App, error) {
		return app.New(cfg, log)
	})
}
