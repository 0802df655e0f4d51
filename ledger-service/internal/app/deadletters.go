package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/deadletter"
)

// DeadLettersUsage is the dead-letters command's synopsis.
const DeadLettersUsage = "list [--all] | show ID | replay ID | discard ID — the messages the ledger gave up on, " +
	"in every partition's schema (ID is ledger<p>:id, e.g. ledger2:12; the shards' are account-service dead-letters'); " +
	"exit 0 done, 1 not found or refused, 2 usage"

// ParseDeadLetters reads the arguments after "dead-letters".
func ParseDeadLetters(args []string) (deadletter.Command, error) {
	return deadletter.ParseCommand(args, "ledger2:12")
}

// DeadLetters runs one dead-letters command against the partitions'
// schemas of cfg, printing to out and reasons to errOut. The ledger opens
// only its own schemas.
func DeadLetters(ctx context.Context, cfg config.LedgerService, c deadletter.Command, out, errOut io.Writer, log *slog.Logger) error {
	var places []deadletter.Place
	for p, dsn := range cfg.Ledger.Databases {
		places = append(places, deadletter.Place{Name: fmt.Sprintf("ledger%d", p), DSN: dsn})
	}
	connect := func(ctx context.Context) (jetstream.JetStream, func(), error) {
		return connectReady(ctx, cfg.NATS.URL, log)
	}
	return deadletter.Run(ctx, places, c, connect, out, errOut)
}
