package nemesis

import (
	"slices"
	"testing"
	"time"
)

func options() Options {
	return Options{Duration: 2 * time.Minute, Short: 2 * time.Second, Long: 8 * time.Second, Pause: 33 * time.Second, PauseRelay: 17 * time.Second,
		Instances: map[Kind]int{KillAccount: 2, KillRelay: 2, KillLedger: 1, KillNATS: 3, KillMariaDB: 2,
			PartitionNATS: 3, CutMariaDB: 2, SlowLink: 4, PauseConsumer: 3, PauseRelay: 2, MoveShard: 4, MoveKillSource: 4}}
}

// The same seed gives the same schedule; another seed another one.
func TestPlanIsReproducible(t *testing.T) {
	a, b := Plan(42, options()), Plan(42, options())
	if !slices.Equal(a, b) {
		t.Fatalf("seed 42 gave two plans:\n%s\n%s", Format(42, a), Format(42, b))
	}
	if c := Plan(43, options()); slices.Equal(a, c) {
		t.Fatalf("seeds 42 and 43 gave the same plan:\n%s", Format(42, a))
	}
}

// Every kind comes at least once, faults do not overlap, targets exist,
// and pauses last Pause (a relay's PauseRelay).
func TestPlanCoversEveryKind(t *testing.T) {
	o := options()
	for seed := range uint64(50) {
		plan := Plan(seed, o)
		seen := map[Kind]bool{}
		end := time.Duration(0)
		for _, f := range plan {
			seen[f.Kind] = true
			if f.At < end {
				t.Fatalf("seed %d: %v starts before the previous fault healed (%s)\n%s", seed, f, end, Format(seed, plan))
			}
			end = f.At + f.For
			if f.Target < 0 || f.Target >= o.Instances[f.Kind] {
				t.Fatalf("seed %d: %v has no such target", seed, f)
			}
			if f.Kind == PauseConsumer && f.For != o.Pause || f.Kind == PauseRelay && f.For != o.PauseRelay {
				t.Fatalf("seed %d: %v: a consumer's pause must last %s, a relay's %s", seed, f, o.Pause, o.PauseRelay)
			}
			if f.Kind == MoveShard && f.For > o.Short {
				t.Fatalf("seed %d: %v: the nemesis waits at most %s after starting a move", seed, f, o.Short)
			}
		}
		if len(seen) != len(o.Instances) {
			t.Fatalf("seed %d: kinds %v, want all %d\n%s", seed, seen, len(o.Instances), Format(seed, plan))
		}
	}
}

// With EveryTarget the first pass hits each instance of each kind.
func TestPlanEveryTarget(t *testing.T) {
	o := options()
	o.EveryTarget = true
	for seed := range uint64(20) {
		plan := Plan(seed, o)
		type hit struct {
			k Kind
			t int
		}
		seen := map[hit]bool{}
		for _, f := range plan {
			seen[hit{f.Kind, f.Target}] = true
		}
		for k, n := range o.Instances {
			for i := range n {
				if !seen[hit{k, i}] {
					t.Fatalf("seed %d: %s #%d never comes\n%s", seed, k, i, Format(seed, plan))
				}
			}
		}
	}
}
