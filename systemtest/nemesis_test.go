package systemtest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walletco/wallet/systemtest/nemesis"
)

// make systest sets these; make test runs the short defaults.
var (
	nemesisDuration = flag.Duration("nemesis.duration", 100*time.Second, "how long the nemesis injects faults (every kind comes once even if that takes longer)")
	nemesisSeed     = flag.Uint64("nemesis.seed", 0, "the seed of the fault schedule and the workload (0: drawn from the clock and printed)")
	nemesisClients  = flag.Int("nemesis.clients", 32, "concurrent clients")
	nemesisAccounts = flag.Int("nemesis.accounts", 200, "accounts (both currencies, every tenth frozen and every tenth closed)")
	nemesisKinds    = flag.String("nemesis.kinds", "", "only these kinds of fault, comma separated (e.g. \"kill nats node,partition nats node\"); empty: all")
	nemesisReport   = flag.String("nemesis.report", "", "also write the report to this file")
)

// TestNemesis is the bank test: the fleet runs a workload of careful
// clients while the nemesis crashes, partitions, cuts, slows and pauses
// its parts on a schedule drawn from a seed; afterwards the checker
// verifies every invariant (checker.go). It fails naming the seed, which
// replays the same schedule: make systest SEED=<seed>.
func TestNemesis(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the nemesis run takes minutes")
	}
	seed := *nemesisSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) % 1_000_000_000
	}
	run := nemesisRun{seed: seed, duration: *nemesisDuration, clients: *nemesisClients, accounts: *nemesisAccounts}
	if run.accounts < 20 || run.clients < 1 {
		t.Fatalf("-nemesis.accounts must be at least 20 (some frozen and closed ones among them), -nemesis.clients at least 1")
	}
	run.options = nemesis.Options{Duration: run.duration, Short: 2 * time.Second, Long: 6 * time.Second, Pause: PauseFor, PauseRelay: RelayPauseFor}
	if run.duration >= 10*time.Minute {
		// Long runs hit every instance (each account-service, relay,
		// NATS node and MariaDB server), with longer outages.
		run.options.Long, run.options.EveryTarget = 15*time.Second, true
	}
	var report strings.Builder
	defer func() { // also when the run stops half-way
		if *nemesisReport != "" {
			if err := os.WriteFile(*nemesisReport, []byte(report.String()), 0o644); err != nil {
				t.Error(err)
			}
		}
		t.Log("\n" + report.String())
	}()
	fs := run.do(t, binDir, nil, &report)
	if v := fs.Violated(); len(v) > 0 {
		t.Fatalf("nemesis seed %d: %d invariants violated: %s (replay: make systest SEED=%d DURATION=%s)",
			seed, len(v), strings.Join(v, ", "), seed, run.duration)
	}
}

// PauseFor is how long a consumer's SIGSTOP lasts: 10 s past the saga
// consumers' AckWait and the saga redrive (30 s each), so that another
// instance both gets the paused one's messages again and re-sends its
// pending debits before it wakes up; also well past the ledger's AckWait
// (10 s).
const PauseFor = 40 * time.Second

// RelayPauseFor is how long a relay's SIGSTOP lasts: 10 s past its lease
// (10 s), by when the other relay, which looks every quarter lease, has
// long taken the paused one's shards over. A relay has no AckWait to
// outlast: PauseFor would only add 20 s of waiting to every run.
const RelayPauseFor = 20 * time.Second

// Healthy is how long the clients go on after the last fault healed:
// operations begun then must all get a definitive answer.
const Healthy = 15 * time.Second

// nemesisRun is one run of the bank test.
type nemesisRun struct {
	seed     uint64
	duration time.Duration
	clients  int
	accounts int
	options  nemesis.Options
	env      []string            // extra environment for every service
	first    map[string][]string // extra environment for an instance's first start
}

// do runs the fleet, the workload and plan (nil: drawn from the seed),
// checks, writes the report to rep as it goes and returns what the
// checker found.
func (r nemesisRun) do(t *testing.T, bin string, plan []nemesis.Fault, rep *strings.Builder) *Findings {
	t.Helper()
	fmt.Fprintf(rep, "nemesis seed %d (replay: make systest SEED=%d DURATION=%s)\n", r.seed, r.seed, r.duration)
	t.Logf("nemesis seed %d", r.seed)
	began := time.Now()
	f := NewFleet(t, bin, r.env...)
	f.FirstStart = r.first
	f.StartAll()
	if plan == nil {
		r.options.Instances = f.FaultTargets()
		if *nemesisKinds != "" {
			kinds := strings.Split(*nemesisKinds, ",")
			for _, k := range kinds {
				if _, ok := r.options.Instances[nemesis.Kind(k)]; !ok {
					t.Fatalf("-nemesis.kinds: no fault kind %q", k)
				}
			}
			for k := range r.options.Instances {
				if !slices.Contains(kinds, string(k)) {
					delete(r.options.Instances, k)
				}
			}
		}
		plan = nemesis.Plan(r.seed, r.options)
	}
	rep.WriteString(nemesis.Format(r.seed, plan))
	w, err := NewWorkload(f, r.seed, r.accounts)
	if err != nil {
		t.Fatal(err)
	}
	setup := time.Since(began)

	start := time.Now()
	w.Start(r.clients)
	injected := f.Inject(plan, start, t.Logf)
	faultsEnded := time.Now()
	time.Sleep(Healthy)
	w.Stop()
	stopped := time.Now()

	fs := newFindings()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	quiet, why := f.waitQuiet(ctx, 5*time.Minute)
	quiescence := time.Since(faultsEnded)
	if why != "" {
		fs.Add(InvQuiescence, "not quiescent %s after the last fault: %s", quiescence.Round(time.Second), why)
	}
	ops := w.Ops()
	checkAvailable(ops, faultsEnded, fs)
	h, err := f.Check(ctx, w, ops, injected, fs)
	if err != nil {
		t.Fatalf("nemesis seed %d: the checker could not run: %v", r.seed, err)
	}

	tally := TallyOps(ops)
	fmt.Fprintf(rep, "workload: %d clients, %d accounts (%s), set up in %s; faults for %s; clients stopped %s after the last fault healed\n",
		r.clients, len(w.Accounts), strings.Join(Currencies, ", "), setup.Round(time.Second),
		faultsEnded.Sub(start).Round(time.Second), stopped.Sub(faultsEnded).Round(time.Millisecond))
	rep.WriteString(tally.String())
	rep.WriteString(faultSummary(injected))
	rep.WriteString(moveSummary(injected))
	rep.WriteString(throughput(ops, injected, start, faultsEnded))
	if quiet {
		fmt.Fprintf(rep, "quiescence: %s after the last fault healed, %s after the clients stopped\n",
			quiescence.Round(time.Millisecond), (quiescence - stopped.Sub(faultsEnded)).Round(time.Millisecond))
	}
	fmt.Fprintf(rep, "checked: %d stream events (read %s), %d accounts, %d operations\n", h.Events, h.Via, len(h.accounts), len(ops))
	fmt.Fprintf(rep, "placement version %d: %s\n", h.Placed.Version, placedSummary(h.Placed))
	for _, m := range h.Money {
		fmt.Fprintf(rep, "ledger money: %s\n", m)
	}
	for _, l := range h.Leftover {
		fmt.Fprintf(rep, "  left behind: %s\n", l)
	}
	rep.WriteString(f.errorSummary())
	rep.WriteString(fs.String())
	return fs
}

// checkAvailable: once the last fault healed, the system serves again:
// operations begun after it all got a definitive answer, and some were
// acknowledged.
func checkAvailable(ops []*Op, healed time.Time, fs *Findings) {
	acked := 0
	for _, op := range ops {
		if op.Start.Before(healed) {
			continue
		}
		switch op.Outcome {
		case Acked:
			acked++
		case Unknown:
			fs.Add(InvRecovery, "%s %s begun %s after the last fault got no answer in %s (%d attempts: %v)",
				op.Kind, op.TxID, op.Start.Sub(healed).Round(time.Millisecond), op.End.Sub(op.Start).Round(time.Second), op.Attempts, op.Retried)
		}
	}
	if acked == 0 {
		fs.Add(InvRecovery, "no operation begun after the last fault was acknowledged")
	}
}

// waitQuiet polls Quiet until it answers "" twice in a row, a second
// apart, or timeout passes.
func (f *Fleet) waitQuiet(ctx context.Context, timeout time.Duration) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		why := f.Quiet(ctx)
		if why == "" {
			time.Sleep(time.Second)
			if why = f.Quiet(ctx); why == "" {
				return true, ""
			}
		}
		if time.Now().After(deadline) {
			return false, why
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// faultSummary counts the faults injected by kind and lists them.
func faultSummary(injected []Injected) string {
	byKind := map[string]int{}
	var b strings.Builder
	for _, in := range injected {
		byKind[string(in.Kind)]++
	}
	fmt.Fprintf(&b, "faults injected: %d (%s)\n", len(injected), counts(byKind))
	for _, in := range injected {
		fmt.Fprintf(&b, "  %-42s %-30s %6s  %s %s\n", in.Kind, in.Target, in.Healed.Sub(in.Began).Round(100*time.Millisecond), in.Note, errOrEmpty(in.Err))
	}
	return b.String()
}

// throughput reports acknowledged operations per second while faults
// were in force and between them.
func throughput(ops []*Op, injected []Injected, start, end time.Time) string {
	var during, between int
	// The time some fault was in force: moves overlap the faults after
	// them, so the intervals are merged.
	spans := make([]Injected, len(injected))
	copy(spans, injected)
	slices.SortFunc(spans, func(a, b Injected) int { return a.Began.Compare(b.Began) })
	var faulty time.Duration
	var upTo time.Time
	for _, in := range spans {
		from := in.Began
		if from.Before(upTo) {
			from = upTo
		}
		if in.Healed.After(from) {
			faulty += in.Healed.Sub(from)
			upTo = in.Healed
		}
	}
	inFault := func(t time.Time) bool {
		for _, in := range injected {
			if !t.Before(in.Began) && !t.After(in.Healed) {
				return true
			}
		}
		return false
	}
	for _, op := range ops {
		if op.Outcome != Acked || op.End.Before(start) || op.End.After(end) {
			continue
		}
		if inFault(op.End) {
			during++
		} else {
			between++
		}
	}
	quiet := end.Sub(start) - faulty
	return fmt.Sprintf("throughput: %.0f acknowledged ops/s during faults (%s), %.0f between them (%s)\n",
		rate(during, faulty), faulty.Round(time.Second), rate(between, quiet), quiet.Round(time.Second))
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
