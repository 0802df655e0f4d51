package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
)

// ResetPosition forgets a partition's stream position (see
// mysql.Store.ResetPosition), or every partition's when partition is -1,
// and says what each was.
func ResetPosition(ctx context.Context, cfg config.LedgerService, partition int, out io.Writer) error {
	parts, err := partitionsOf(cfg, partition)
	if err != nil {
		return err
	}
	for _, p := range parts {
		db, store, err := openStore(ctx, cfg.Ledger.Databases[p], fmt.Sprintf("ledger partition %d", p))
		if err != nil {
			return err
		}
		seq, created, err := store.ResetPosition(ctx)
		db.Close()
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		fmt.Fprintf(out, "forgot partition %d's position (message %d of stream %s created %s); the next start of ledger-service takes its consumer's ack floor\n",
			p, seq, stream.PartitionName(p), created.Format(time.RFC3339Nano))
	}
	return nil
}

// partitionsOf is the partition a command names, or every partition for -1.
func partitionsOf(cfg config.LedgerService, partition int) ([]int, error) {
	n := len(cfg.Ledger.Databases)
	if partition >= n || partition < -1 {
		return nil, fmt.Errorf("%w: --partition %d: the partitions are 0..%d (-1 for all)", service.ErrUsage, partition, n-1)
	}
	if partition >= 0 {
		return []int{partition}, nil
	}
	out := make([]int, n)
	for p := range out {
		out[p] = p
	}
	return out, nil
}
