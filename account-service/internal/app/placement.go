package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
)

// place stores the first placement if none is stored yet (the configured
// one: each shard on the server its DSN names), places the store's shards
// by the placement in force, and returns its follower. Instances starting
// together agree on one map (placement.Store.Bootstrap).
func place(ctx context.Context, js jetstream.JetStream, l database.Layout, store *mysql.Store, log *slog.Logger) (*placement.Follower, error) {
	first, err := configured(l)
	if err != nil {
		return nil, err
	}
	ps, err := openPlacement(ctx, js, log)
	if err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	var f *placement.Follower
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, 2*time.Second) {
		if _, err = ps.Bootstrap(ctx, first); err == nil {
			f, err = ps.Follow(ctx, log)
		}
		if err == nil || ctx.Err() != nil || errors.Is(err, placement.ErrInvalid) {
			break
		}
		log.Warn("placement not readable yet, retrying", "err", err, "in", pause)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	if err != nil {
		if errors.Is(err, placement.ErrInvalid) {
			// Most likely the upgrade's new shards configured before the
			// split that makes them.
			return nil, fmt.Errorf("placement: %w (to go from the shards there are to more, stop the services and run "+
				"account-service shards split: docs/operations.md)", err)
		}
		return nil, fmt.Errorf("placement: %w", err)
	}
	if err := store.Place(f.Current()); err != nil {
		return nil, fmt.Errorf("placement version %d: %w", f.Current().Version, err)
	}
	return f, nil
}

// openPlacement looks the placement bucket up (outbox-relay provision
// declares it, and up verified it), retrying while the broker cannot
// answer yet (a cluster still forming, a node restarting) until ctx ends.
func openPlacement(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*placement.Store, error) {
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, 2*time.Second) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ps, err := placement.Attach(tctx, js)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, placement.ErrNoPlacement) {
			return ps, err
		}
		log.Warn("placement bucket not readable yet, retrying", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// configured is the placement the configuration describes, as version 1.
func configured(l database.Layout) (placement.Map, error) {
	m := placement.Map{Version: 1, Shards: len(l.Schemas), Servers: slices.Sorted(slices.Values(l.Names))}
	for _, srv := range l.Owners {
		m.Owner = append(m.Owner, l.Names[srv])
	}
	if err := m.Validate(); err != nil {
		return placement.Map{}, fmt.Errorf("the configured shards and servers: %w", err)
	}
	return m, nil
}
