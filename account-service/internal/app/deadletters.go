package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
)

// DeadLettersCommand lists, shows, replays and discards the dead letters of
// the shards' saga consumers: account-service's own tables, which no other
// service reads (the ledger's are ledger-service dead-letters').
func DeadLettersCommand() service.Command[config.AccountService] {
	var c deadletter.Command
	return service.Command[config.AccountService]{
		Name: "dead-letters",
		Summary: "list [--all] | show ID | replay ID | discard ID — the messages the saga gave up on, on every shard " +
			"(ID is shard<n>:id, e.g. shard2:7); exit 0 done, 1 not found or refused, 2 usage",
		Args: func(args []string) (err error) {
			c, err = deadletter.ParseCommand(args, "shard2:7")
			return err
		},
		Run: func(ctx context.Context, cfg config.AccountService, log *slog.Logger) error {
			shards, err := placedShards(ctx, cfg, log)
			if err != nil {
				return err
			}
			places := make([]deadletter.Place, len(shards))
			for i, dsn := range shards {
				places[i] = deadletter.Place{Name: fmt.Sprintf("shard%d", i), DSN: dsn}
			}
			connect := func(ctx context.Context) (jetstream.JetStream, func(), error) {
				return connectReady(ctx, cfg.NATS.URL, log)
			}
			return deadletter.Run(ctx, places, c, connect, os.Stdout, os.Stderr)
		},
	}
}

// placedShards returns each shard's DSN on the server that holds it now
// (the stored placement), or as configured when NATS does not answer: the
// dead letters of a shard that never moved are still reachable then.
func placedShards(ctx context.Context, cfg config.AccountService, log *slog.Logger) ([]string, error) {
	l, err := database.LayoutOf(cfg.Servers, cfg.Shards)
	if err != nil {
		return nil, err
	}
	js, closeNATS, err := connectReady(ctx, cfg.NATS.URL, log)
	if err != nil {
		log.Warn("NATS not reachable: the shards as configured, which misses those moved since", "err", err)
		return cfg.Shards, nil
	}
	defer closeNATS()
	return placement.DSNs(ctx, js, l, log)
}

// connectReady connects to NATS and waits up to 5 s for the connection.
func connectReady(ctx context.Context, url string, log *slog.Logger) (jetstream.JetStream, func(), error) {
	nc, err := stream.Connect(url, "account-service dead-letters", log)
	if err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for nc.Status() != nats.CONNECTED {
		if time.Now().After(deadline) || ctx.Err() != nil {
			last := nc.LastError()
			nc.Close()
			if last != nil {
				return nil, nil, fmt.Errorf("nats %s: not reachable: %w", config.MaskURLs(url), last)
			}
			return nil, nil, errors.New("nats " + config.MaskURLs(url) + ": not reachable")
		}
		time.Sleep(50 * time.Millisecond)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}
