// Package reconcile is the reconciliation batch job: it checks the shards,
// the ledger and the plumbing between them against each other and reports
// every discrepancy it finds.
//
// It reads while the system keeps running: the ledger's checks in one
// snapshot, shard accounts page by page, re-checking a difference once the
// ledger has settled (Sources.Settled). Keyset pagination keeps memory
// bounded by a page. The checks are listed in docs/design.md, "Reconciliation".
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/progress"
	"github.com/walletco/wallet/pkg/database"
)

// Sources are the databases a run reads, and how it waits for the ledger.
type Sources struct {
	// Shards are the account shards, in shard order.
	Shards []database.DB
	// Ledger is the live ledger's schema.
	Ledger database.DB
	// Settled returns once the ledger has applied every event the shards
	// had committed when it was called (LedgerSettled builds one).
	Settled func(ctx context.Context) error
}

// Options tune a run; zero values take the defaults, which are given once,
// in withDefaults: "ledger-service reconcile" shows them as its flags'
// defaults (DefaultOptions), and tests leave what they do not test zero.
type Options struct {
	// PendingAfter is the age of a pending cross-shard transfer reported as
	// stale. Default 10m (the saga redrives after 30s).
	PendingAfter time.Duration
	// UnpublishedAfter is the age of an unpublished outbox row reported as
	// stale. Default 1m (the relay publishes within milliseconds).
	UnpublishedAfter time.Duration
	// SettleTimeout bounds each wait for the ledger to catch up. Default 1m.
	SettleTimeout time.Duration
	// Page is the keyset page size. Default 1000.
	Page int
	// Rounds is how many times an account that keeps changing is checked
	// again before it is reported unverified. Default 5.
	Rounds int
	// MaxSuspects is how many accounts may await a re-check before the run
	// re-checks them, which bounds memory. Default 10,000.
	MaxSuspects int
	// Progress, if set, receives progress lines about every Every.
	Progress io.Writer
	Every    time.Duration
	// Now is the clock thresholds are measured against. Default time.Now.
	Now func() time.Time
}

// DefaultOptions is Options with every default filled in.
func DefaultOptions() Options { return Options{}.withDefaults() }

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PendingAfter, 10*time.Minute)
	def(&o.UnpublishedAfter, time.Minute)
	def(&o.SettleTimeout, time.Minute)
	if o.Page <= 0 {
		o.Page = 1000
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.MaxSuspects <= 0 {
		o.MaxSuspects = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Run checks everything once and returns the report. An error means the run
// could not finish (a database unreachable, a query failing): the report is
// then incomplete and must not be read as clean.
func Run(ctx context.Context, src Sources, opts Options) (*Report, error) {
	if len(src.Shards) == 0 || src.Ledger == nil || src.Settled == nil {
		return nil, errors.New("reconcile: shards, ledger and Settled are required")
	}
	opts = opts.withDefaults()
	start := opts.Now()
	r := &run{src: src, opts: opts, rep: newReport(start)}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"ledger", r.ledger},
		{"accounts", r.accounts},
		{"sagas", r.staleSagas},
		{"outbox", r.staleOutbox},
		{"dead letters", r.deadLetters},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return r.rep, fmt.Errorf("reconcile %s: %w", s.name, err)
		}
	}
	r.rep.Elapsed = opts.Now().Sub(start).Round(time.Millisecond).String()
	return r.rep, nil
}

// run is one reconciliation in progress.
type run struct {
	src  Sources
	opts Options
	rep  *Report
	// unpaired are the transaction ids whose transfer steps do not pair
	// up, for the in-flight check.
	unpaired []string
}

// meter starts a progress meter for task.
func (r *run) meter(task, unit string, total uint64) *progress.Meter {
	return progress.New(r.opts.Progress, "reconcile "+task, unit, r.opts.Every, total)
}

func shardName(i int) string { return fmt.Sprintf("shard %d", i) }

const ledgerName = "ledger"
