// Command ledger-service keeps the wallet's double-entry ledger: it consumes
// every event of the WALLET stream into a journal and serves balances, as-of
// balances, account history and transfer journals over HTTP.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ledger-service:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := web.NewLogger("ledger-service", cfg.LogLevel)
	log.Info("starting", "config", cfg.Masked())
	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}
