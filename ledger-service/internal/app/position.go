package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/walletco/wallet/pkg/config"
)

// ResetPosition forgets the live ledger's stream position (see
// mysql.Store.ResetPosition) and says what it was.
func ResetPosition(ctx context.Context, cfg config.LedgerService, out io.Writer) error {
	db, store, err := openStore(ctx, cfg.Ledger.DSN, "ledger db")
	if err != nil {
		return err
	}
	defer db.Close()
	seq, created, err := store.ResetPosition(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "forgot the ledger's position (message %d of the stream created %s); the next start of ledger-service takes its consumer's ack floor\n",
		seq, created.Format(time.RFC3339Nano))
	return nil
}
