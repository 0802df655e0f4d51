// Package app wires outbox-relay: a pool per database server, the placement
// of the shards on them, NATS, the relay and the health, metrics and
// (operators only) profile endpoints.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/web"
)

// App is a running relay.
type App struct {
	log *slog.Logger
	// shards are the servers' pools and where each shard is now: the
	// relay follows a shard that moved.
	shards *placement.Pools
	nc     *nats.Conn
	js     jetstream.JetStream
	// uses are the streams and buckets Up verifies (Uses).
	uses  []provision.Resource
	start service.Start
	relay *outbox.Relay
	srv   *http.Server
	ln    net.Listener
	// serves is relay.servers: the servers this relay publishes, empty
	// for every one.
	serves []string
}

// Uses are the streams and buckets the relay uses: it verifies them at
// start and refuses to start on a mismatch (ADR 0040). The provision
// command declares them.
func Uses(cfg config.OutboxRelay) []provision.Resource {
	s := provision.SettingsFrom(cfg.NATS, cfg.Relay.LeaseTTL, 0)
	return append(provision.Streams(s), provision.Placement(s), provision.RelayLeases(s))
}

// New opens the shards and NATS; Run verifies the streams. The shard tables are
// account-service's: until they exist the relay logs and retries.
func New(ctx context.Context, cfg config.OutboxRelay, log *slog.Logger) (_ *App, err error) {
	a := &App{log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	layout, err := database.LayoutOf(cfg.Servers, cfg.Shards)
	if err != nil {
		return nil, fmt.Errorf("shards: %w", err)
	}
	if a.shards, err = placement.NewPools(layout, database.Open); err != nil {
		return nil, fmt.Errorf("shards: %w", err)
	}
	// relay.servers names servers as the placement does; a name that is
	// none of them is a typo that would leave a server without a relay.
	for _, name := range cfg.Relay.Servers {
		if !slices.Contains(layout.Names, name) {
			return nil, fmt.Errorf("relay.servers: %q is not a database server; the servers are %s", name, strings.Join(layout.Names, ", "))
		}
	}
	a.serves = cfg.Relay.Servers
	if a.nc, err = stream.Connect(cfg.NATS.URL, "outbox-relay", log); err != nil {
		return nil, err
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		return nil, err
	}
	a.uses = Uses(cfg)
	host, _ := os.Hostname()
	rc := outbox.RelayConfig{Servers: a.servers, Serves: a.serves, Shards: a.shards.Shards(), Partitions: cfg.NATS.Partitions, BatchSize: cfg.Relay.BatchSize, PollInterval: cfg.Relay.PollInterval,
		MaxInFlight: cfg.Relay.MaxInFlight, PublishTimeout: cfg.Relay.PublishTimeout,
		LeaseTTL: cfg.Relay.LeaseTTL, Retention: cfg.Relay.OutboxRetention,
		Owner: fmt.Sprintf("%s/%d", host, os.Getpid()), MaxAttempts: cfg.Relay.MaxAttempts,
		// A stream gone (NATS lost its state) is provision's to make
		// again: the relay says so and keeps its rows.
		Redeclare: func(ctx context.Context) error {
			return provision.Verify(ctx, a.js, provision.Streams(provision.SettingsFrom(cfg.NATS, 0, 0)), 0, a.log)
		}}
	if a.relay, err = outbox.NewRelay(a.js, rc, log); err != nil {
		return nil, err
	}
	web.Collect(outbox.NewBacklog(a.served))
	h, err := handler(cfg, log, a.ready)
	if err != nil {
		return nil, err
	}
	a.srv = web.NewHTTPServer(h, 0)
	if a.ln, err = net.Listen("tcp", cfg.Relay.Addr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Relay.Addr, err)
	}
	a.start.Serve = func(ctx context.Context) error { return web.Serve(ctx, a.srv, a.ln) }
	a.start.Up = func(ctx context.Context) error {
		return provision.Verify(ctx, a.js, a.uses, provision.Wait, a.log)
	}
	a.start.Work = func(ctx context.Context) error {
		go a.shards.FollowWhenStored(ctx, a.js, a.log)
		return a.relay.Run(ctx)
	}
	return a, nil
}

// servers returns the configured database servers, each with the shards
// the placement puts on it now, for the relay and its backlog metric: they
// publish and count a server's shards through its one pool.
func (a *App) servers() []outbox.Server {
	l := a.shards.Layout()
	out := make([]outbox.Server, len(l.Names))
	for srv, name := range l.Names {
		out[srv] = outbox.Server{Name: name, DB: a.shards.Pool(srv)}
	}
	for sh, schema := range l.Schemas { // ascending, as Server.Shards must be
		srv := a.shards.Server(sh)
		out[srv].Shards = append(out[srv].Shards, outbox.Shard{N: sh, Schema: schema})
	}
	return out
}

// served is servers limited to relay.servers: the backlog metric reports
// the servers this relay publishes, so that each node's relay reports its
// own (and scrapes only its own server).
func (a *App) served() []outbox.Server {
	all := a.servers()
	if len(a.serves) == 0 {
		return all
	}
	out := all[:0]
	for _, s := range all {
		if slices.Contains(a.serves, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// handler serves health, metrics and profiles behind the same guard as the
// other services: profiles are for operators' tokens only.
func handler(cfg config.OutboxRelay, log *slog.Logger, ready func(context.Context) error) (http.Handler, error) {
	guard, err := auth.FromConfig(cfg.Auth, cfg.HTTP, auth.HealthPolicy(nil), log)
	if err != nil {
		return nil, err
	}
	r := web.NewRouter(log)
	r.Use(guard.Middleware)
	web.Health(r, log, ready, auth.IsOperator)
	return r, nil
}

func (a *App) ready(ctx context.Context) error {
	if err := a.start.Starting(); err != nil {
		return err
	}
	if st := a.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats is %s", st)
	}
	// One ping per server, not per shard: the shards' tables are
	// account-service's, and the relay retries until they exist. Only the
	// servers it publishes (relay.servers): another's being down is not
	// this relay's to report.
	for _, s := range a.served() {
		if err := s.DB.PingContext(ctx); err != nil {
			return fmt.Errorf("server %s: %w", s.Name, err)
		}
	}
	return nil
}

// Addr is the bound HTTP address.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Run serves health endpoints, declares the stream (retrying until the
// broker, or a forming cluster, accepts it) and relays until ctx ends (see
// service.Start). The shard tables are account-service's: until they exist
// the relay logs and retries.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("outbox-relay running", "addr", a.Addr(), "shards", a.shards.Shards(), "servers", len(a.shards.Layout().Names))
	return a.start.Run(ctx)
}

// Close releases connections; safe after a failed New.
func (a *App) Close() {
	if a.nc != nil {
		// Drain flushes pending publish acks before closing.
		_ = a.nc.Drain()
	}
	if a.shards != nil {
		a.shards.Close()
	}
}
