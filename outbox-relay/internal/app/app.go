// Package app wires outbox-relay: shard pools, NATS, the relay loop and the
// health and metrics endpoints.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/web"
)

// App is a running relay.
type App struct {
	log    *slog.Logger
	shards []*sqlx.DB
	nc     *nats.Conn
	relay  *outbox.Relay
	srv    *http.Server
	ln     net.Listener
}

// New opens the shards and NATS and declares the stream. The shard tables are
// account-service's: until they exist the relay logs and retries.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *App, err error) {
	a := &App{log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if a.shards, err = database.OpenAll(cfg.Shards); err != nil {
		return nil, fmt.Errorf("shards: %w", err)
	}
	var js jetstream.JetStream
	if a.nc, js, err = stream.Open(startCtx, cfg.NATS.URL, "outbox-relay",
		stream.Config{Replicas: cfg.NATS.Replicas, DuplicateWindow: cfg.NATS.DuplicateWindow,
			MaxAge: cfg.NATS.MaxAge, MaxBytes: cfg.NATS.MaxBytes}, log); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	rc := outbox.RelayConfig{BatchSize: cfg.Relay.BatchSize, PollInterval: cfg.Relay.PollInterval,
		MaxInFlight: cfg.Relay.MaxInFlight, PublishTimeout: cfg.Relay.PublishTimeout,
		LeaseTTL: cfg.Relay.LeaseTTL, Retention: cfg.Relay.OutboxRetention, Owner: fmt.Sprintf("%s/%d", host, os.Getpid()),
		MaxAttempts: cfg.Relay.MaxAttempts}
	if cfg.Relay.TestStallAfterPublish {
		rc.BeforeMark = func() {
			log.Warn("test hook: stalled after publish, before marking rows published")
			select {}
		}
	}
	if a.relay, err = outbox.NewRelay(a.shards, js, rc, log); err != nil {
		return nil, err
	}
	web.Collect(outbox.NewBacklog(a.shards))
	r := web.NewRouter(log)
	web.Health(r, log, a.ready)
	a.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	if a.ln, err = net.Listen("tcp", cfg.Relay.Addr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Relay.Addr, err)
	}
	return a, nil
}

func (a *App) ready(ctx context.Context) error {
	if st := a.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats is %s", st)
	}
	for i, db := range a.shards {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return nil
}

// Addr is the bound HTTP address.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Run relays and serves health endpoints until ctx ends.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("outbox-relay running", "addr", a.Addr(), "shards", len(a.shards))
	errc := make(chan error, 1)
	go func() { errc <- web.Serve(ctx, a.srv, a.ln) }()
	err := a.relay.Run(ctx)
	return errors.Join(err, <-errc)
}

// Close releases connections; safe after a failed New.
func (a *App) Close() {
	if a.nc != nil {
		// Drain flushes pending publish acks before closing.
		_ = a.nc.Drain()
	}
	for _, db := range a.shards {
		_ = db.Close()
	}
}
