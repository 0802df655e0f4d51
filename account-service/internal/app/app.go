// Package app wires account-service from its configuration: shard pools,
// migrations, NATS, the HTTP API. cmd/account-service and end-to-end tests
// both boot the service through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/httpapi"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/account-service/internal/saga"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/web"
)

// App is a running account-service.
type App struct {
	log *slog.Logger
	// servers are the pools of the database servers, one each; layout says
	// where the shards are first placed, and placement where they are now.
	servers   []*sqlx.DB
	layout    database.Layout
	placement *placement.Follower
	cfg       config.AccountService
	nc        *nats.Conn
	js        jetstream.JetStream
	store     *mysql.Store
	// uses are the streams and buckets up verifies (Uses).
	uses   []provision.Resource
	start  service.Start
	srv    *http.Server
	ln     net.Listener
	saga   *saga.Runner
	waiter *saga.Waiter
	writer *groupcommit.Writer
	wake   *outbox.Notifier
	// advisories records the saga messages JetStream dropped after
	// MaxDeliver; see watchAdvisories.
	advisories func(ctx context.Context) error
	// pruneRefusals deletes refusals past account.refusal_retention.
	pruneRefusals func(ctx context.Context)
}

// AdvisoryConsumer is account-service's durable consumer on the advisory
// stream (deploy/nats-auth.conf lets only account-service use it).
const AdvisoryConsumer = "dead-letters-account-service"

// Uses are the streams and buckets account-service uses: it verifies them
// at start and refuses to start on a mismatch (ADR 0040). outbox-relay
// provision declares them.
func Uses(cfg config.AccountService) []provision.Resource {
	s := provision.SettingsFrom(cfg.NATS, 0, 0)
	return append(provision.Streams(s), provision.Advisories(s), provision.Placement(s))
}

// New opens the shard pools and NATS (without waiting for either) and binds
// the HTTP listener; Run migrates the shards and verifies the streams.
// Close releases what it opened.
func New(_ context.Context, cfg config.AccountService, log *slog.Logger) (_ *App, err error) {
	a := &App{log: log, cfg: cfg}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	store, servers, layout, err := openStore(cfg.Servers, cfg.Shards)
	a.servers, a.layout = servers, layout
	if err != nil {
		return nil, err
	}
	a.store = store
	if a.nc, err = stream.Connect(cfg.NATS.URL, "account-service", log); err != nil {
		return nil, err
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		return nil, err
	}
	a.uses = Uses(cfg)
	ready := func(ctx context.Context) error {
		if err := a.start.Starting(); err != nil {
			return err
		}
		if st := a.nc.Status(); st != nats.CONNECTED {
			return fmt.Errorf("nats is %s", st)
		}
		if err := a.saga.HealthErr(); err != nil {
			return err
		}
		return store.Ping(ctx)
	}
	a.waiter = saga.NewWaiter()
	a.wake = outbox.NewNotifier(a.nc)
	store.Committed = a.wake.Committed
	if a.writer, err = groupcommit.New(store, store, groupcommit.Config{MaxBatch: cfg.Account.MaxBatch,
		QueueDepth: cfg.Account.QueueDepth}, a.committed, log); err != nil {
		return nil, err
	}
	if a.saga, err = saga.NewRunner(a.js, store, a.writer, saga.Config{MaxDeliver: cfg.Account.SagaMaxDeliver,
		RedriveAfter: cfg.Account.SagaRedriveAfter, InboxRetention: cfg.Account.InboxRetention,
		Poison: deadletter.Handler, Partitions: cfg.NATS.Partitions, Consume: cfg.Account.SagaPartitions}, log); err != nil {
		return nil, err
	}
	web.Collect(stream.NewLag(a.js, saga.Durable).OnStreams(a.saga.Streams()...))
	// A dropped saga message is recorded in the shard that holds its
	// account now.
	owners := map[string]deadletter.Owner{saga.Durable: a.saga.DeadLetters}
	a.advisories = func(ctx context.Context) error {
		return deadletter.WatchAdvisories(ctx, a.js, AdvisoryConsumer, owners, log)
	}
	a.pruneRefusals = func(ctx context.Context) { store.PruneRefusalsEvery(ctx, cfg.Account.RefusalRetention, log) }
	guard, err := auth.FromConfig(cfg.Auth, cfg.HTTP, httpapi.Policy(), log)
	if err != nil {
		return nil, err
	}
	h, err := httpapi.New(store, a.writer, a.waiter, httpapi.Options{TransferWait: cfg.Account.TransferWait,
		ReadyDetail: func() map[string]any { return map[string]any{"consumers": a.saga.Health()} }, Guard: guard}, log, ready)
	if err != nil {
		return nil, err
	}
	a.srv = web.NewHTTPServer(web.UntilUp(a.start.Starting, h), cfg.Account.TransferWait)
	if a.ln, err = web.Listen(cfg.Account.Addr, cfg.Account.MaxConnections, cfg.HTTP.MaxConnectionsPerClient); err != nil {
		return nil, err
	}
	a.start.Serve = func(ctx context.Context) error { return web.Serve(ctx, a.srv, a.ln) }
	a.start.Up, a.start.Work = a.up, a.work
	return a, nil
}

// openStore opens one pool per database server, on which the shards it
// holds commit together, and the store over them. The pools are returned
// even with an error, to be closed.
func openStore(servers, shards []string) (*mysql.Store, []*sqlx.DB, database.Layout, error) {
	l, err := database.LayoutOf(servers, shards)
	if err != nil {
		return nil, nil, l, fmt.Errorf("shards: %w", err)
	}
	dsns := make([]string, len(l.ServerDSNs))
	for i, dsn := range l.ServerDSNs {
		dsns[i] = database.WithMultiStatements(dsn)
	}
	dbs, err := database.OpenAll(dsns)
	if err != nil {
		return nil, nil, l, fmt.Errorf("servers: %w", err)
	}
	srvs := make([]mysql.Server, len(l.Names))
	for i := range srvs {
		srvs[i] = mysql.Server{Name: l.Names[i], DB: dbs[i]}
	}
	store, err := mysql.NewPlaced(srvs, l.Schemas, l.Owners)
	return store, dbs, l, err
}

// committed runs after each group commit: the relays hear that the shards
// have new outbox rows, and requests waiting for a saga that this batch
// settled wake at once instead of at their next poll.
func (a *App) committed(ops []account.Op, res []account.Result) {
	woken := map[int]bool{}
	for _, op := range ops {
		if !woken[op.Shard] {
			woken[op.Shard] = true
			a.wake.Committed(op.Shard)
		}
	}
	for i := range res {
		if res[i].Ended {
			a.waiter.Ended(res[i].Transfer)
		}
	}
}

// Addr is the bound HTTP address (useful when configured as :0).
func (a *App) Addr() string { return a.ln.Addr().String() }

// Run serves HTTP, migrates the shards and declares the stream (waiting
// for the servers), then runs the saga consumer until ctx ends (see
// service.Start).
func (a *App) Run(ctx context.Context) error {
	a.log.Info("account-service listening", "addr", a.Addr())
	return a.start.Run(ctx)
}

// up waits for every database server, verifies the streams, places the
// shards (placement) and migrates them.
func (a *App) up(ctx context.Context) error {
	for i, db := range a.servers {
		if err := database.WaitReady(ctx, db); err != nil {
			return fmt.Errorf("server %s: %w", a.store.ServerName(i), err)
		}
	}
	if err := provision.Verify(ctx, a.js, a.uses, provision.Wait, a.log); err != nil {
		return err
	}
	var err error
	if a.placement, err = place(ctx, a.js, a.layout, a.store, a.log); err != nil {
		return err
	}
	if err := a.store.Migrate(ctx, deadletter.Migrations()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// work runs the saga (its consumer, and per server its inbox janitor and
// redriver), the capture of the consumer's dropped messages and, per
// server, the refusal prune.
func (a *App) work(ctx context.Context) error {
	go func() { _ = a.placement.Run(ctx) }()
	go a.store.Follow(ctx, a.placement, a.log)
	go a.watchAdvisories(ctx)
	go a.pruneRefusals(ctx)
	return a.saga.Run(ctx)
}

// watchAdvisories runs the advisory capture until ctx ends, restarting it
// after a failure: a lost capture costs visibility, not money (the redriver
// still finishes the transfer), so it does not stop the service.
func (a *App) watchAdvisories(ctx context.Context) {
	for ctx.Err() == nil {
		if err := a.advisories(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("max-deliveries advisories: capture failed, restarting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// Close releases connections; safe after a failed New. The group-commit
// writer closes after Run returned, when nothing offers it work any more,
// and commits what is still queued.
func (a *App) Close() {
	if a.writer != nil {
		a.writer.Close()
	}
	if a.nc != nil {
		_ = a.nc.Drain()
	}
	var errs []error
	for _, db := range a.servers {
		errs = append(errs, db.Close())
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("close shards", "err", err)
	}
}
