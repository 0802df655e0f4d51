package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// runOne does one whole run of cfg: setup, load, settle, checks, the
// baselines. Progress goes to log. An error means the run could not be
// measured at all; a measured run that found something wrong returns a
// Result with Failures.
func runOne(ctx context.Context, cfg Config, log io.Writer) (*Result, error) {
	amount, _ := decimal.NewFromString(cfg.Amount) // validated with the flags
	r := &Result{Scenario: cfg.Name(), Role: cfg.Role, StartedAt: time.Now().UTC(), Flags: cfg.Flags(), Host: hostInfo(), Mode: "closed loop"}
	switch {
	case cfg.Rate > 0:
		r.Mode = "open loop"
	case cfg.Bulk > 0:
		r.Mode = "bulk"
	}
	ledgerDB, err := openDB(cfg.MySQL, "", 2)
	if err != nil {
		return nil, err
	}
	defer ledgerDB.Close()
	servers, err := openServers(cfg.Servers)
	if err != nil {
		return nil, err
	}
	defer closeServers(servers)
	nc, err := nats.Connect(cfg.NATS, nats.Name("wallet-bench"))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	api := NewAPI(cfg.AccountURL, cfg.Token, max(cfg.Clients, cfg.MaxInFlight)+16)
	defer api.Close()

	// Setup, not timed: accounts, deposits, and the ledger caught up with them.
	r.Prefix = runPrefix(r.StartedAt)
	watch, err := NewWatcher(ctx, servers, ledgerDB, js, r.Prefix, shardSchemaLike)
	if err != nil {
		return nil, err
	}
	watch.retrying = func(err error) { fmt.Fprintf(log, "  looking again: %v\n", err) }
	// The partitions' journals (ADR 0038), wallet_ledger_<p> on the -mysql
	// server, when there are any: each holds its own accounts.
	if tables, err := ledgerTables(ctx, ledgerDB); err != nil {
		return nil, err
	} else if len(tables) > 0 {
		watch.Partitioned(tables, nil)
	}
	fmt.Fprintf(log, "[%s] setup: %d accounts with prefix %s\n", r.Scenario, cfg.Accounts, r.Prefix)
	setupStart := time.Now()
	acc, err := setup(ctx, func(string) *API { return api }, r.Prefix, cfg.Accounts, cfg.Shards, amount)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if b, _, err := watch.WaitCaughtUp(ctx, time.Now(), cfg.SettleTimeout, cfg.SettlePoll, log); err != nil || !b.Clear() {
		return nil, fmt.Errorf("setup did not settle (%s): %v", b, err)
	}
	r.SetupSeconds = time.Since(setupStart).Seconds()
	picker, err := NewPicker(acc.IDs, cfg.Shards, cfg.Cross, cfg.Hot)
	if err != nil {
		return nil, err
	}
	r.Shards = len(picker.same)
	if cfg.Hot > 0 {
		r.HotID = picker.HotID()
	}

	// Load, then settle, with the processes watched throughout.
	procs, warnings := stackProcs(cfg.RunDir)
	r.Warnings = append(r.Warnings, warnings...)
	measureLoad(ctx, cfg, r, []Route{{API: api, Picker: picker}}, procs, watch, log)
	if err := measureOutcome(ctx, r, watch, acc); err != nil {
		return nil, err
	}
	if err := runBaselines(ctx, cfg, r, amount, procs, log); err != nil {
		return nil, err
	}
	return r, nil
}

// measureLoad runs the load and waits for the system to catch up, filling
// in r's load, settle and process figures. The open loop sends to the first
// target only.
func measureLoad(ctx context.Context, cfg Config, r *Result, targets []Route, procs []Proc, watch *Watcher, log io.Writer) {
	sampler := StartSampler(procs)
	profiles := func() []Profile { return nil }
	if cfg.Profile {
		services := map[string]string{"account-service": cfg.AccountURL, "ledger-service": cfg.LedgerURL, "outbox-relay": cfg.RelayURL}
		profiles = startProfiles(ctx, services, cfg.Token, profileSeconds(cfg.Duration), cfg.Out, r.fileStem())
	}
	fmt.Fprintf(log, "[%s] load: %s for %s\n", r.Scenario, r.Mode, cfg.Duration)
	var load Load
	switch {
	case cfg.Rate > 0:
		load = openLoop(ctx, targets[0].API, targets[0].Picker, cfg.Rate, cfg.MaxInFlight, cfg.Duration, cfg.Amount)
	case cfg.Bulk > 0:
		load = bulkLoop(ctx, targets, cfg.Clients, cfg.Bulk, cfg.Duration, cfg.Amount)
	default:
		load = closedLoop(ctx, targets, cfg.Clients, cfg.Duration, cfg.Amount)
	}
	r.LoadSeconds = load.End.Sub(load.Start).Seconds()
	r.Requests = load.Requests
	r.Replies = load.Replies
	r.AcceptedPerSecond = float64(load.Replies.Accepted) / r.LoadSeconds
	if load.Replies.Accepted == 0 {
		// Nothing to measure: most likely a route the service lacks or a
		// refused token; the codes say which.
		r.fail("no transfer was accepted (by code: %s)", counts(load.Replies.ByCode))
	}
	fmt.Fprintf(log, "[%s] settle: waiting up to %s for the system to catch up\n", r.Scenario, cfg.SettleTimeout)
	backlog, caught, err := watch.WaitCaughtUp(ctx, load.End, cfg.SettleTimeout, cfg.SettlePoll, log)
	r.Processes = sampler.Stop()
	r.Profiles = profiles()
	r.SettleBacklog = backlog
	r.SettleMillis = caught.Before.Sub(load.End).Milliseconds()
	r.SettleAfterMillis = caught.After.Sub(load.End).Milliseconds()
	r.Settled = err == nil && backlog.Clear()
	if err != nil {
		r.SettleError = err.Error()
		r.fail("settle: %v", err)
	} else if !r.Settled {
		r.fail("the system did not catch up within %s of the load's end: %s", cfg.SettleTimeout, backlog)
	}
}

// runBaselines measures the naive and the set-based loops, unless their
// duration is 0, and works out r's ratios to them.
func runBaselines(ctx context.Context, cfg Config, r *Result, amount decimal.Decimal, procs []Proc, log io.Writer) error {
	if cfg.NaiveDuration > 0 {
		fmt.Fprintf(log, "[%s] naive baseline: %d clients for %s\n", r.Scenario, cfg.NaiveClients, cfg.NaiveDuration)
		b, err := runNaive(ctx, cfg, amount, procs)
		if err != nil {
			return fmt.Errorf("naive baseline: %w", err)
		}
		r.Naive = b
		r.AcceptedVsNaive = ratio(r.AcceptedPerSecond, b.PerSecond)
		r.SettledVsNaive = ratio(r.SettledPerSecond, b.PerSecond)
	}
	if cfg.SetBasedDuration > 0 {
		fmt.Fprintf(log, "[%s] set-based baseline: %d loops of %d transfers per transaction for %s\n",
			r.Scenario, cfg.SetBasedClients, cfg.SetBasedBatch, cfg.SetBasedDuration)
		b, err := runSetBased(ctx, cfg, amount, procs)
		if err != nil {
			return fmt.Errorf("set-based baseline: %w", err)
		}
		r.SetBased = b
		r.AcceptedVsSetBased = ratio(r.AcceptedPerSecond, b.PerSecond)
		r.SettledVsSetBased = ratio(r.SettledPerSecond, b.PerSecond)
	}
	return nil
}

// measureOutcome counts the run's transfers, works out the settled rate and
// the cost per transfer, and checks the money.
func measureOutcome(ctx context.Context, r *Result, watch *Watcher, acc Accounts) error {
	transfers, err := watch.TransfersByStatus(ctx)
	if err != nil {
		return err
	}
	r.Transfers = transfers
	// Settled means applied by the ledger too; until the system has caught
	// up, completed rows in the shards are not that, so no rate is claimed.
	if r.Settled {
		r.SettledPerSecond = float64(transfers["completed"]) / (r.LoadSeconds + float64(r.SettleMillis)/1000)
	}
	var stackCPU float64
	for _, u := range r.Processes {
		if u.Name != "bench" {
			stackCPU += u.CPUSeconds
		}
	}
	if transfers["completed"] > 0 {
		r.StackCPUMsPerSettled = stackCPU * 1000 / float64(transfers["completed"])
	}
	if !r.Settled {
		r.Invariants = Invariants{Why: "the system did not settle, so money may still be in flight"}
		return nil
	}
	balances, err := watch.ShardBalances(ctx)
	if err != nil {
		return err
	}
	r.Invariants = checkMoney(acc, balances)
	if !r.Invariants.OK() {
		r.fail("money invariant: %s", r.Invariants)
	}
	return nil
}
