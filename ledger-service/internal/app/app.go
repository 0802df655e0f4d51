// Package app wires ledger-service from its configuration: the ledger
// database, NATS, the JetStream consumer and the HTTP API. cmd/ledger-service
// and end-to-end tests both boot the service through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/consumer"
	"github.com/walletco/wallet/ledger-service/internal/httpapi"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/web"
)

// App is ledger-service: New binds its resources without waiting for any
// server, Run brings it up and serves until its context ends.
type App struct {
	cfg      config.LedgerService
	log      *slog.Logger
	db       *sqlx.DB
	nc       *nats.Conn
	js       jetstream.JetStream
	store    *mysql.Store
	owners   *shardOwners
	consumer *consumer.Consumer
	health   *stream.Health // the consumer's state
	srv      *http.Server
	ln       net.Listener
	start    service.Start
}

// New opens the database pool, starts connecting to NATS (in the background
// if the broker is down) and binds the HTTP listener on cfg.Ledger.Addr, so
// Addr is known before Run. Close releases what New opened.
func New(cfg config.LedgerService, log *slog.Logger) (_ *App, err error) {
	if log == nil {
		return nil, errors.New("app: logger is required")
	}
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.db, err = database.Open(cfg.Ledger.DSN); err != nil {
		return nil, fmt.Errorf("ledger db: %w", err)
	}
	if a.store, err = mysql.New(a.db); err != nil {
		return nil, err
	}
	if a.nc, err = stream.Connect(cfg.NATS.URL, "ledger-service", log); err != nil {
		return nil, err
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		return nil, err
	}
	web.Collect(stream.NewLag(a.js, consumer.Name))
	if a.consumer, err = consumer.New(a.js, a.store, deadletter.Handler(a.db, consumer.Name), log); err != nil {
		return nil, err
	}
	a.health = stream.NewHealth()
	a.consumer.Health = a.health
	guard, err := auth.FromConfig(cfg.Auth, cfg.HTTP, httpapi.Policy(), log)
	if err != nil {
		return nil, err
	}
	if a.owners, err = openOwners(cfg.Servers, cfg.Shards); err != nil {
		return nil, fmt.Errorf("shards: %w", err)
	}
	h, err := httpapi.New(a.store, guard, a.owners, log, a.ready, a.detail)
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

// ready backs /readyz: started, database answering, NATS connected, the
// consumer running.
func (a *App) ready(ctx context.Context) error {
	if err := a.start.Starting(); err != nil {
		return err
	}
	if st := a.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats is %s", st)
	}
	if err := a.health.Err(); err != nil {
		return err
	}
	if err := a.consumer.Gaps.Err(); err != nil {
		return err // a gap only an operator can pass (ADR 0039)
	}
	return a.store.Ping(ctx)
}

// detail adds the consumer's state, and the gap it waits at if any, to
// /readyz for operators.
func (a *App) detail() map[string]any {
	d := map[string]any{"consumers": a.health.Report()}
	if g, ok := a.consumer.Gaps.Gap(); ok {
		d["gaps"] = []any{g}
	}
	return d
}

// Close releases the NATS connection and the database pool; safe after a
// failed New and after Run.
func (a *App) Close() {
	if a.ln != nil {
		_ = a.ln.Close() // already closed when Run served
	}
	if a.nc != nil {
		a.nc.Close()
	}
	if a.owners != nil {
		a.owners.close()
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Warn("close ledger db", "err", err)
		}
	}
}
