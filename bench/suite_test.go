package main

import (
	"strings"
	"testing"
	"time"
)

func TestSuitePlan(t *testing.T) {
	base := Config{Clients: 64, Cross: 0.3, Hot: 0.2, Rate: 99, NaiveDuration: 10 * time.Second, SetBasedDuration: 10 * time.Second,
		SuiteClients: 256, SuiteBulk: 100, SuiteBulkClients: 8, SuiteOpenShare: 0.7, SuiteOverload: 16000}
	got := suite(base)
	want := []struct {
		role      Role
		name      string
		baselines bool
		rateShare float64
	}{
		{RoleSingle, "cross10-c256", true, 0},
		{RoleCross50, "cross50-c256", true, 0},
		{RoleHot, "cross10-hot50-c256", true, 0},
		{RoleBulk, "bulk100-cross10-c8", true, 0},
		{RoleOpen, "cross10-c256", true, 0.7}, // named once its rate is known
		{RoleOverload, "open16000-cross10", false, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d scenarios, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Role != w.role || g.Name() != w.name || (g.NaiveDuration > 0) != w.baselines ||
			(g.SetBasedDuration > 0) != w.baselines || g.RateShare != w.rateShare {
			t.Errorf("scenario %d: %s %s naive %s set-based %s share %v; want %+v",
				i, g.Role, g.Name(), g.NaiveDuration, g.SetBasedDuration, g.RateShare, w)
		}
	}
}

func TestResolveRateTakesAShareOfTheSingleRequestMaximum(t *testing.T) {
	open := Config{Role: RoleOpen, RateShare: 0.7, Cross: 0.1}
	done := []*Result{{Scenario: "cross10-c256", Role: RoleSingle, Settled: true, SettledPerSecond: 2000}}
	sc, basis, err := resolveRate(open, done)
	if err != nil || sc.Rate != 1400 || sc.Name() != "open1400-cross10" || !strings.Contains(basis, "70% of the 2,000/s settled by cross10-c256") {
		t.Fatalf("rate %v name %s basis %q err %v", sc.Rate, sc.Name(), basis, err)
	}

	fixed := open
	fixed.Rate = 500
	if sc, basis, err := resolveRate(fixed, done); err != nil || sc.Rate != 500 || !strings.Contains(basis, "-suite-rate") {
		t.Fatalf("fixed: rate %v basis %q err %v", sc.Rate, basis, err)
	}

	unsettled := []*Result{{Role: RoleSingle}}
	for _, d := range [][]*Result{nil, unsettled} {
		if _, _, err := resolveRate(open, d); err == nil {
			t.Fatalf("no maximum in %v: want an error", d)
		}
	}

	plain := Config{Rate: 300}
	if sc, basis, err := resolveRate(plain, nil); err != nil || sc.Rate != 300 || basis != "" {
		t.Fatalf("a scenario without a share changed: %v %q %v", sc.Rate, basis, err)
	}
}
