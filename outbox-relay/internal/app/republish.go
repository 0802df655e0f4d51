package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/stream"
)

// Republish publishes every shard's rows published within since again, as
// facts and saga steps as the relay does (see outbox.Republish), and prints one line per shard to out. It runs beside
// the serving relays.
func Republish(ctx context.Context, cfg config.OutboxRelay, since time.Duration, out io.Writer, log *slog.Logger) error {
	if since > cfg.Relay.OutboxRetention {
		log.Warn("--since is longer than relay.outbox_retention: older rows are deleted already",
			"since", since, "outbox_retention", cfg.Relay.OutboxRetention)
	}
	layout, err := database.LayoutOf(cfg.Servers, cfg.Shards)
	if err != nil {
		return fmt.Errorf("shards: %w", err)
	}
	shards, err := placement.NewPools(layout, database.Open)
	if err != nil {
		return fmt.Errorf("shards: %w", err)
	}
	defer shards.Close()
	nc, err := stream.Connect(cfg.NATS.URL, "outbox-relay republish", log)
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := shards.PlaceNow(ctx, js, log); err != nil {
		return fmt.Errorf("placement: %w", err)
	}
	total := outbox.Republished{}
	all := shards.All()
	for i, db := range all {
		route := outbox.Route{Shard: i, Shards: len(all), Partitions: cfg.NATS.Partitions}
		r, err := outbox.Republish(ctx, db, js, route, since, cfg.Relay.BatchSize, cfg.Relay.PublishTimeout)
		fmt.Fprintf(out, "shard %d: %d events published again, %d of them still in the stream (dropped as duplicates)\n", i, r.Sent, r.Duplicates)
		total.Sent += r.Sent
		total.Duplicates += r.Duplicates
		if err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	fmt.Fprintf(out, "total: %d events published again, %d new to the stream\n", total.Sent, total.Sent-total.Duplicates)
	return nil
}
