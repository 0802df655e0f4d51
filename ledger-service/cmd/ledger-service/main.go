// Command ledger-service keeps the wallet's double-entry ledger: it consumes
// every event of the WALLET stream into a journal and serves balances, as-of
// balances, account history and transfer journals over HTTP; "replay"
// rebuilds the journal from the stream into an empty schema.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	var schema string
	replay := service.Command{
		Name:    "replay",
		Summary: "rebuild the journal from the WALLET stream into an empty schema (progress on stderr)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&schema, "schema", "", "schema to rebuild into, on the ledger's server; created if missing, must be empty (required)")
		},
		Run: func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
			if schema == "" {
				return fmt.Errorf("%w: --schema is required", service.ErrUsage)
			}
			return app.Replay(ctx, cfg, schema, os.Stdout, os.Stderr, log)
		},
	}
	service.Main("ledger-service", "the double-entry ledger fed by every event, and its balance API",
		func(_ context.Context, cfg config.Config, log *slog.Logger) (service.App, error) {
			return app.New(cfg, log)
		}, replay)
}
