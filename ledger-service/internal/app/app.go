// Package app wires ledger-service from its configuration: a schema per
// event partition, NATS, the partitions' leases and consumers, and the HTTP
// API. cmd/ledger-service
// and end-to-end tests both boot the service through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/consumer"
	"github.com/walletco/wallet/ledger-service/internal/httpapi"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/web"
)

// App is ledger-service: New binds its resources without waiting for any
// server, Run brings it up and serves until its context ends.
type App struct {
	cfg    config.LedgerService
	log    *slog.Logger
	parts  []*part // by event partition: every schema, held or not
	nc     *nats.Conn
	js     jetstream.JetStream
	holder *holder
	srv    *http.Server
	ln     net.Listener
	start  service.Start
}

// New opens a pool per partition schema (ledger.databases), starts
// connecting to NATS (in the background if the broker is down) and binds the
// HTTP listener on cfg.Ledger.Addr, so Addr is known before Run. It opens
// no connection to a shard: the shard count only places an account in its
// partition. Close releases what New opened.
func New(cfg config.LedgerService, log *slog.Logger) (_ *App, err error) {
	if log == nil {
		return nil, errors.New("app: logger is required")
	}
	if len(cfg.Ledger.Databases) != cfg.NATS.Partitions || len(cfg.Shards) == 0 {
		return nil, fmt.Errorf("app: ledger.databases (%d) must name one schema per partition (nats.partitions %d), and shards must be set",
			len(cfg.Ledger.Databases), cfg.NATS.Partitions)
	}
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	rd := reads{shards: len(cfg.Shards), partitions: cfg.NATS.Partitions}
	for p, dsn := range cfg.Ledger.Databases {
		pt := &part{p: p, health: stream.NewHealth(), gaps: consumer.NewGapReport()}
		a.parts = append(a.parts, pt)
		if pt.db, err = database.Open(dsn); err != nil {
			return nil, fmt.Errorf("ledger db of partition %d: %w", p, err)
		}
		if pt.store, err = mysql.New(pt.db); err != nil {
			return nil, err
		}
		rd.stores = append(rd.stores, pt.store)
	}
	if a.nc, err = stream.Connect(cfg.NATS.URL, "ledger-service", log); err != nil {
		return nil, err
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		return nil, err
	}
	streams := make([]string, len(a.parts))
	for i, pt := range a.parts {
		streams[i] = pt.stream()
	}
	web.Collect(stream.NewLag(a.js, consumer.Name).OnStreams(streams...))
	a.holder = newHolder(a.js, len(a.parts), cfg.Ledger.Partitions, cfg.Ledger.LeaseTTL, cfg.NATS.Replicas, log,
		func(ctx context.Context, p int) { a.runPartition(ctx, a.parts[p]) })
	guard, err := auth.FromConfig(cfg.Auth, cfg.HTTP, httpapi.Policy(), log)
	if err != nil {
		return nil, err
	}
	h, err := httpapi.New(rd, guard, rd, log, a.ready, a.detail)
	if err != nil {
		return nil, err
	}
	a.srv = web.NewHTTPServer(web.UntilUp(a.start.Starting, h), 0)
	if a.ln, err = web.Listen(cfg.Ledger.Addr, cfg.Ledger.MaxConnections, cfg.HTTP.MaxConnectionsPerClient); err != nil {
		return nil, err
	}
	a.start.Serve = func(ctx context.Context) error { return web.Serve(ctx, a.srv, a.ln) }
	a.start.Up, a.start.Work = a.up, a.consume
	return a, nil
}

// Addr is the bound HTTP address, e.g. 127.0.0.1:54321 when configured as :0.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Held returns the partitions this instance applies now.
func (a *App) Held() []int { return a.holder.Held() }

// ready backs /readyz: started, NATS connected, the first lease round done,
// every partition this instance holds running, and every schema answering
// (reads go to all of them).
func (a *App) ready(ctx context.Context) error {
	if err := a.start.Starting(); err != nil {
		return err
	}
	if st := a.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats is %s", st)
	}
	if !a.holder.started() {
		return errors.New("partition leases not taken yet")
	}
	for _, p := range a.holder.Held() {
		if err := a.parts[p].health.Err(); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		if err := a.parts[p].gaps.Err(); err != nil {
			return err // a gap only an operator can pass (ADR 0039); it names the partition
		}
	}
	for _, pt := range a.parts {
		if err := pt.store.Ping(ctx); err != nil {
			return fmt.Errorf("partition %d: %w", pt.p, err)
		}
	}
	return nil
}

// detail adds to /readyz the partitions held, their consumers' state and
// the gaps they wait at.
func (a *App) detail() map[string]any {
	held := a.holder.Held()
	consumers := map[string]any{}
	var gaps []any
	for _, p := range held {
		consumers[stream.PartitionName(p)] = a.parts[p].health.Report()
		if g, ok := a.parts[p].gaps.Gap(); ok {
			gaps = append(gaps, g)
		}
	}
	d := map[string]any{"instance": a.holder.id, "partitions_held": held, "consumers": consumers}
	if len(gaps) > 0 {
		d["gaps"] = gaps
	}
	return d
}

// Close releases the NATS connection and the database pools; safe after a
// failed New and after Run.
func (a *App) Close() {
	if a.ln != nil {
		_ = a.ln.Close() // already closed when Run served
	}
	if a.nc != nil {
		a.nc.Close()
	}
	for _, pt := range a.parts {
		if pt.db != nil {
			if err := pt.db.Close(); err != nil {
				a.log.Warn("close ledger db", "partition", pt.p, "err", err)
			}
		}
	}
}
