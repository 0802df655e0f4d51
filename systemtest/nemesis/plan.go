// Package nemesis draws the fault schedule of a system test from a seed:
// which process or link fails, when, and for how long. The same seed gives
// the same schedule, so a failing run can be replayed; every kind of fault
// the run can inject comes at least once.
package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kind is one kind of fault.
type Kind string

// The faults of issue 11's nemesis, and issue 18's move. Target numbers
// the instance (which account-service, relay, NATS node or MariaDB
// server; for MoveShard, which logical shard).
const (
	KillAccount   Kind = "kill account-service" // SIGKILL, restart after For
	KillRelay     Kind = "kill outbox-relay"
	KillLedger    Kind = "kill ledger-service"
	KillNATS      Kind = "kill nats node"
	KillMariaDB   Kind = "kill mariadb server"
	PartitionNATS Kind = "partition nats node" // cut from the other nodes, healed after For
	CutMariaDB    Kind = "cut account-service from a mariadb server"
	SlowLink      Kind = "slow link"                // added latency on a link for For
	PauseConsumer Kind = "pause a consumer process" // SIGSTOP longer than the consumers' AckWait
	PauseRelay    Kind = "pause outbox-relay"       // SIGSTOP longer than the relay's lease
	// MoveShard moves a logical shard to another MariaDB server with the
	// real "account-service shards move" while the load goes on. Unlike
	// the others it is not healed before the next fault: its For is how
	// long the nemesis waits before going on, and the move runs on in the
	// background, so that later faults (kills, partitions) may hit any of
	// its steps.
	MoveShard Kind = "move a logical shard"
	// MoveKillSource moves a logical shard and kills its source MariaDB
	// server just after the mover freezes it, for For: the moment a
	// random kill seldom hits (the freeze lasts some 100 ms) and the one
	// the rollback must survive. It is healed like the others: the mover
	// ended and the server answers again.
	MoveKillSource Kind = "move a shard and kill its source when frozen"
	// KillAnswered kills the account-service instance that has just
	// answered a deposit or withdrawal, the moment its client has the
	// answer, and restarts it after For; it does so again, a few times at
	// most, until an operation so answered is missing from its shard. A
	// build that answers before it commits loses work only in that
	// moment, which a kill at a random time may miss (the
	// answer_before_commit bug's test); on correct binaries nothing is
	// ever missing. Plan does not draw it unless Instances has it.
	KillAnswered Kind = "kill account-service just after it answered"
)

// Fault is one scheduled fault.
type Fault struct {
	At     time.Duration // from the start of the run
	Kind   Kind
	Target int           // instance number, 0-based
	For    time.Duration // how long the fault lasts before it is healed
}

func (f Fault) String() string {
	return fmt.Sprintf("%8s  %-42s #%d for %s", f.At.Round(time.Millisecond), f.Kind, f.Target, f.For.Round(time.Millisecond))
}

// Options shape a plan.
type Options struct {
	// Duration is how long faults are injected; the checker waits for
	// quiescence after it.
	Duration time.Duration
	// Instances says how many targets each kind has (a kind missing or at
	// 0 is never drawn).
	Instances map[Kind]int
	// Short and Long bound how long a crash, cut or slow link lasts.
	Short, Long time.Duration
	// Pause is how long a consumer's SIGSTOP lasts: longer than the
	// consumers' AckWait, so that another instance takes the paused one's
	// work over before it wakes up and carries on.
	Pause time.Duration
	// PauseRelay is how long a relay's SIGSTOP lasts: longer than its
	// lease, for the same reason (0: Pause).
	PauseRelay time.Duration
	// EveryTarget makes the first pass hit every instance of every kind
	// (each account-service, each NATS node, …), not just every kind.
	EveryTarget bool
}

// Plan draws the schedule for seed: every kind once (every instance of
// every kind with EveryTarget), in an order the seed shuffles, then further faults drawn at random, one at a time (a fault is
// healed before the next begins, so that the checker can tell which one a
// violation followed; a move only waits its For, 0 to Short, and runs on),
// until Duration is used up. The first pass covers
// every kind even if that takes longer than Duration. The same seed and
// options always give the same plan.
func Plan(seed uint64, o Options) []Fault {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var kinds []Kind
	for k, n := range o.Instances {
		if n > 0 {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds) // map order is random; the seed alone must decide
	type hit struct {
		kind   Kind
		target int
	}
	var first []hit
	for _, k := range kinds {
		if o.EveryTarget {
			for t := range o.Instances[k] {
				first = append(first, hit{k, t})
			}
		} else {
			first = append(first, hit{k, rng.IntN(o.Instances[k])})
		}
	}
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	var plan []Fault
	at := time.Duration(0)
	for i := 0; ; i++ {
		h := hit{kinds[rng.IntN(len(kinds))], 0}
		h.target = rng.IntN(o.Instances[h.kind])
		if i < len(first) {
			h = first[i]
		}
		last := o.Short + time.Duration(rng.Int64N(int64(o.Long-o.Short)+1))
		switch h.kind {
		case PauseConsumer:
			last = o.Pause
		case PauseRelay:
			last = o.Pause
			if o.PauseRelay > 0 {
				last = o.PauseRelay
			}
		case MoveShard:
			last = time.Duration(rng.Int64N(int64(o.Short) + 1))
		}
		gap := o.Short/2 + time.Duration(rng.Int64N(int64(o.Short)+1))
		if at+gap+last > o.Duration && i >= len(first) {
			return plan
		}
		at += gap
		plan = append(plan, Fault{At: at, Kind: h.kind, Target: h.target, For: last})
		at += last
	}
}

// Format prints a plan with its seed, for the run's report.
func Format(seed uint64, plan []Fault) string {
	var b strings.Builder
	fmt.Fprintf(&b, "nemesis seed %d: %d faults\n", seed, len(plan))
	for _, f := range plan {
		fmt.Fprintln(&b, "  "+f.String())
	}
	return b.String()
}
