package main

import (
	"bytes"
	"strings"
	"testing"
)

// suiteResults is a suite's results with the given figures: the single run
// settles 2,000/s at 2.5× naive, the others as set.
func suiteResults() []*Result {
	naive := Baseline{Ran: true, PerSecond: 800}
	set := Baseline{Ran: true, PerSecond: 10_000}
	run := func(role Role, settled float64) *Result {
		return &Result{Scenario: string(role), Role: role, Settled: true, SettledPerSecond: settled, SettleMillis: 120,
			Naive: naive, SetBased: set, SettledVsNaive: settled / naive.PerSecond, SettledVsSetBased: settled / set.PerSecond}
	}
	open := run(RoleOpen, 1400)
	open.Replies.Latency = Latency{Count: 1000, P50: 8, P99: 42}
	return []*Result{run(RoleSingle, 2000), run(RoleCross50, 1700), run(RoleHot, 1500), run(RoleBulk, 6000), open, run(RoleOverload, 900)}
}

func targetFor(t *testing.T, targets []Target, what, scenario string) Target {
	t.Helper()
	for _, tg := range targets {
		if strings.HasPrefix(tg.What, what) && tg.Scenario == scenario {
			return tg
		}
	}
	t.Fatalf("no target %q for %q in %+v", what, scenario, targets)
	return Target{}
}

func TestJudgeMarksEachTarget(t *testing.T) {
	rs := suiteResults()
	rs[5].SettleMillis = 1800 // the overload's ledger was late
	got := judge(rs, true)
	if len(got) != len(targetSpecs)+len(rs) {
		t.Fatalf("%d targets, want %d", len(got), len(targetSpecs)+len(rs))
	}
	for _, c := range []struct {
		what, scenario string
		value          float64
		met            bool
	}{
		{"single requests", "single", 2.5, false}, // < 3.6
		{"half cross-shard", "cross50", 2.125, true},
		{"half on one hot account", "hot", 0.75, false}, // 1500 / 2000
		{"bulk requests", "bulk", 0.6, true},            // 6000 / 10000
		{"open loop", "open", 42, true},
		{"ledger caught up", "single", 120, true},
		{"ledger caught up", "overload", 1800, false},
	} {
		tg := targetFor(t, got, c.what, c.scenario)
		if !tg.Measured || tg.Met != c.met || tg.Value < c.value-1e-9 || tg.Value > c.value+1e-9 {
			t.Errorf("%s/%s: %+v, want value %v met %v", c.what, c.scenario, tg, c.value, c.met)
		}
	}
}

func TestJudgeNeverHidesAMissingFigure(t *testing.T) {
	rs := suiteResults()
	rs[0].Settled = false                       // the single run did not settle
	rs[3].SetBased = Baseline{}                 // the bulk run had no set-based baseline
	got := judge(append(rs[:4:4], rs[5]), true) // and the open loop did not run
	for _, c := range []struct{ what, scenario, why string }{
		{"single requests", "single", "did not settle"},
		{"half on one hot account", "hot", "no settled uniform run"},
		{"bulk requests", "bulk", "set-based baseline did not run"},
		{"open loop", "", "did not run"},
		{"ledger caught up", "single", "did not settle"},
	} {
		tg := targetFor(t, got, c.what, c.scenario)
		if tg.Measured || tg.Met || !strings.Contains(tg.Why, c.why) || !strings.HasPrefix(tg.Mark(), "MISS") {
			t.Errorf("%s: %+v (mark %q), want not measured because %q", c.what, tg, tg.Mark(), c.why)
		}
	}
}

func TestJudgeOutsideTheSuiteListsOnlyWhatRan(t *testing.T) {
	r := &Result{Scenario: "cross10", Settled: true, SettleMillis: 90}
	got := judge([]*Result{r}, false)
	if len(got) != 1 || got[0].Figure != "settle time" || !got[0].Met {
		t.Fatalf("targets %+v, want only the settle time, met", got)
	}
}

func TestPrintTargetsShowsFiguresMarksAndCount(t *testing.T) {
	var buf bytes.Buffer
	printTargets(&buf, judge(suiteResults(), true))
	out := buf.String()
	for _, want := range []string{"2.50×", "≥ 3.60×", "MISS", "42 ms", "≤ 50 ms", "pass", "9 of 11 targets met"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
