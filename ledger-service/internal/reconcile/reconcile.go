// Package reconcile is the reconciliation batch job: it checks each ledger
// partition, account-service's shards and the plumbing between them against
// each other, then the totals over every partition, and reports every
// discrepancy it finds, naming the partition (and shard) it lies in.
//
// The ledger is one journal per event partition (ADR 0038), each in its own
// schema, each balancing by itself: a cross-partition transfer leaves its
// source partition through that partition's @in_flight:<CUR> (its clearing
// account) and arrives through the destination's. account-service's shards
// are read only through account-service's read side (pkg/shardread), never
// their tables.
//
// It reads while the system keeps running: each partition's ledger checks
// in one snapshot, shard accounts page by page, re-checking a difference
// once the ledger has settled (Sources.Settled) against a shard that has
// not changed meanwhile. Keyset pagination keeps memory bounded by a page.
// The checks are listed in docs/design.md, "Reconciliation".
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/progress"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/shardread"
)

// Partition is one ledger partition: its number and its schema.
type Partition struct {
	N  int
	DB database.DB
	// Stream is the JetStream stream the partition applies
	// (stream.PartitionName(N)); Settled waits on it.
	Stream string
}

// ShardReader is account-service's read side (shardread.Client).
type ShardReader interface {
	Summary(ctx context.Context, shard int, pendingBefore time.Time) (shardread.Summary, error)
	Accounts(ctx context.Context, shard int, after string, limit int) (shardread.Accounts, error)
	Lookup(ctx context.Context, shard int, ids []string) ([]shardread.Account, error)
	Outbox(ctx context.Context, shard int, unpublishedBefore time.Time) (shardread.Outbox, error)
}

// Sources are what a run reads, and how it waits for the ledger.
type Sources struct {
	// Partitions are every ledger partition, in order: Partitions[p].N == p,
	// and their number is nats.partitions.
	Partitions []Partition
	// Shards is the number of logical shards; shard sh feeds partition
	// events.Partition(sh, Shards, len(Partitions)).
	Shards int
	// Accounts reads account-service's shards.
	Accounts ShardReader
	// Settled returns once every partition of the ledger has applied every
	// event the shards had committed when it was called (LedgerSettled
	// builds one).
	Settled func(ctx context.Context) error
}

// partitionOf returns the partition shard sh feeds.
func (s Sources) partitionOf(sh int) int { return events.Partition(sh, s.Shards, len(s.Partitions)) }

// shardsOf returns the shards that feed partition p, in order.
func (s Sources) shardsOf(p int) []int {
	var out []int
	for sh := range s.Shards {
		if s.partitionOf(sh) == p {
			out = append(out, sh)
		}
	}
	return out
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
	if len(src.Partitions) == 0 || src.Shards <= 0 || src.Accounts == nil || src.Settled == nil {
		return nil, errors.New("reconcile: partitions, shards, the account-service reader and Settled are required")
	}
	if src.Shards%len(src.Partitions) != 0 {
		return nil, fmt.Errorf("reconcile: %d partitions do not divide %d shards", len(src.Partitions), src.Shards)
	}
	for i, p := range src.Partitions {
		if p.N != i || p.DB == nil {
			return nil, fmt.Errorf("reconcile: partition %d is missing or out of order", i)
		}
	}
	opts = opts.withDefaults()
	start := opts.Now()
	r := &run{src: src, opts: opts, rep: newReport(start), summaries: map[int]shardread.Summary{}, money: map[moneyKey]*partitionMoney{}}
	for _, p := range src.Partitions {
		steps := []struct {
			name string
			fn   func(context.Context, Partition) error
		}{
			{"ledger", r.ledger},
			{"accounts", r.accounts},
			{"money", r.partitionMoney},
		}
		for _, s := range steps {
			if err := s.fn(ctx, p); err != nil {
				return r.rep, fmt.Errorf("reconcile %s %s: %w", partitionName(p.N), s.name, err)
			}
		}
	}
	r.totals()
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"sagas", r.staleSagas},
		{"outbox", r.staleOutbox},
		{"dead letters", r.deadLetters},
	} {
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
	// summaries are each shard's summary as first read, for the checks of
	// what is stuck (stale sagas, dead letters).
	summaries map[int]shardread.Summary
	// money is each partition's money per currency, as compared with its
	// shards, for the totals.
	money map[moneyKey]*partitionMoney
}

// meter starts a progress meter for task.
func (r *run) meter(task, unit string, total uint64) *progress.Meter {
	return progress.New(r.opts.Progress, "reconcile "+task, unit, r.opts.Every, total)
}

// partitionName names partition p in findings: every finding says which
// partition it lies in.
func partitionName(p int) string { return fmt.Sprintf("partition %d", p) }

// shardName names shard sh, and the partition it feeds, in findings.
func (r *run) shardName(sh int) string {
	return fmt.Sprintf("partition %d, shard %d", r.src.partitionOf(sh), sh)
}

// totalName is where the findings about the totals over every partition lie.
const totalName = "total"
