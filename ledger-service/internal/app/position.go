package app

import (
	"context"
	"fmt"
	"io"
	"time"

	ledgermysql "github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/config"
)

// ResetPosition forgets the live ledger's stream position (see
// mysql.Store.ResetPosition) and says what it was.
func ResetPosition(ctx context.Context, cfg config.Config, out io.Writer) error {
	db, err := openReady(ctx, cfg.Ledger.DSN, "ledger db")
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := ledgermysql.New(db)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	seq, created, err := store.ResetPosition(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "forgot the ledger's position (message %d of the stream created %s); the next start of ledger-service takes its consumer's ack floor\n",
		seq, created.Format(time.RFC3339Nano))
	return nil
}
