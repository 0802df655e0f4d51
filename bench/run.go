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

// runOne does one whole run of cfg: setup, load, settle, checks, naive
// baseline. Progress goes to log. An error means the run could not be
// measured at all; a measured run that found something wrong returns a
// Result with Failures.
func runOne(ctx context.Context, cfg Config, log io.Writer) (*Result, error) {
	amount, _ := decimal.NewFromString(cfg.Amount) // validated with the flags
	r := &Result{Scenario: cfg.Name(), StartedAt: time.Now().UTC(), Flags: cfg.Flags(), Host: hostInfo(), Mode: "closed loop"}
	if cfg.Rate > 0 {
		r.Mode = "open loop"
	}
	db, err := openDB(cfg.MySQL, "", 4)
	if err != nil {
		return nil, err
	}
	defer db.Close()
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
	fmt.Fprintf(log, "[%s] setup: %d accounts with prefix %s\n", r.Scenario, cfg.Accounts, r.Prefix)
	setupStart := time.Now()
	acc, err := setup(ctx, api, r.Prefix, cfg.Accounts, amount)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	watch := &Watcher{db: db, js: js, prefix: r.Prefix}
	if b, _, err := watch.WaitCaughtUp(ctx, cfg.SettleTimeout, log); err != nil || !b.Clear() {
		return nil, fmt.Errorf("setup did not settle (%s): %v", b, err)
	}
	r.SetupSeconds = time.Since(setupStart).Seconds()
	picker, err := NewPicker(acc.IDs, cfg.Cross, cfg.Hot)
	if err != nil {
		return nil, err
	}
	if cfg.Hot > 0 {
		r.HotID = picker.HotID()
	}

	// Load, then settle, with the processes watched throughout.
	procs, warnings := stackProcs(cfg.RunDir)
	r.Warnings = append(r.Warnings, warnings...)
	sampler := StartSampler(procs)
	profiles := func() []Profile { return nil }
	if cfg.Profile {
		services := map[string]string{"account-service": cfg.AccountURL, "ledger-service": cfg.LedgerURL, "outbox-relay": cfg.RelayURL}
		profiles = startProfiles(ctx, services, cfg.Token, profileSeconds(cfg.Duration), cfg.Out, r.fileStem())
	}
	fmt.Fprintf(log, "[%s] load: %s for %s\n", r.Scenario, r.Mode, cfg.Duration)
	var load Load
	if cfg.Rate > 0 {
		load = openLoop(ctx, api, picker, cfg.Rate, cfg.MaxInFlight, cfg.Duration, cfg.Amount)
	} else {
		load = closedLoop(ctx, api, picker, cfg.Clients, cfg.Duration, cfg.Amount)
	}
	r.LoadSeconds = load.End.Sub(load.Start).Seconds()
	r.Replies = load.Replies
	r.AcceptedPerSecond = float64(load.Replies.Accepted) / r.LoadSeconds
	fmt.Fprintf(log, "[%s] settle: waiting up to %s for the system to catch up\n", r.Scenario, cfg.SettleTimeout)
	backlog, caughtAt, err := watch.WaitCaughtUp(ctx, cfg.SettleTimeout, log)
	r.Processes = sampler.Stop()
	r.Profiles = profiles()
	r.SettleBacklog = backlog
	r.SettleMillis = caughtAt.Sub(load.End).Milliseconds()
	r.Settled = err == nil && backlog.Clear()
	if err != nil {
		r.SettleError = err.Error()
		r.fail("settle: %v", err)
	} else if !r.Settled {
		r.fail("the system did not catch up within %s of the load's end: %s", cfg.SettleTimeout, backlog)
	}

	if err := measureOutcome(ctx, r, watch, acc); err != nil {
		return nil, err
	}
	if cfg.NaiveDuration > 0 {
		fmt.Fprintf(log, "[%s] naive baseline: %d clients for %s\n", r.Scenario, cfg.Clients, cfg.NaiveDuration)
		naive, err := runNaive(ctx, cfg, amount, procs)
		if err != nil {
			return nil, fmt.Errorf("naive baseline: %w", err)
		}
		r.Naive = naive
		r.AcceptedVsNaive = ratio(r.AcceptedPerSecond, naive.PerSecond)
		r.SettledVsNaive = ratio(r.SettledPerSecond, naive.PerSecond)
	}
	return r, nil
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
