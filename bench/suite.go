package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Role is a scenario's part in the suite: the targets name the run they
// judge by it.
type Role string

// The suite's scenarios, in the order they run: the single-request run
// first, as the hot account and the open loop are judged against it.
const (
	RoleSingle   Role = "single"   // 10% cross-shard, -suite-clients, one transfer per request
	RoleCross50  Role = "cross50"  // half cross-shard
	RoleHot      Role = "hot"      // half the transfers on one hot account
	RoleBulk     Role = "bulk"     // -suite-bulk transfers per request
	RoleOpen     Role = "open"     // open loop at -suite-open-share of RoleSingle's settled/s
	RoleOverload Role = "overload" // open loop far beyond the maximum: the refusals
)

// suite returns the standard scenarios, each a copy of base with its load
// shape changed: the figures issue 18 judges the design by. The open loop's
// rate is set when it runs, from what the single-request run settled.
func suite(base Config) []Config {
	single := base
	single.Role, single.Cross, single.Hot, single.Rate, single.Bulk = RoleSingle, 0.1, 0, 0, 0
	single.Clients = base.SuiteClients
	cross50 := single
	cross50.Role, cross50.Cross = RoleCross50, 0.5
	hot := single
	hot.Role, hot.Hot = RoleHot, 0.5
	bulk := single
	bulk.Role, bulk.Bulk, bulk.Clients = RoleBulk, base.SuiteBulk, base.SuiteBulkClients
	open := single
	open.Role, open.RateShare, open.Rate = RoleOpen, base.SuiteOpenShare, base.SuiteRate
	overload := single
	overload.Role, overload.Rate, overload.MaxInFlight = RoleOverload, base.SuiteOverload, 8000
	overload.NaiveDuration, overload.SetBasedDuration = 0, 0
	return []Config{single, cross50, hot, bulk, open, overload}
}

// resolveRate sets the rate of a scenario that offers a share of the
// maximum (RateShare) from the single-request run among done, unless a
// fixed rate was given, and says where the rate came from.
func resolveRate(sc Config, done []*Result) (Config, string, error) {
	if sc.RateShare <= 0 {
		return sc, "", nil
	}
	if sc.Rate > 0 {
		return sc, fmt.Sprintf("fixed by -suite-rate %.0f/s", sc.Rate), nil
	}
	single := byRole(done, RoleSingle)
	if single == nil || single.SettledPerSecond <= 0 {
		return sc, "", errors.New("no single-request maximum to take a share of: that run did not settle or did not run")
	}
	sc.Rate = sc.RateShare * single.SettledPerSecond
	return sc, fmt.Sprintf("%.0f%% of the %s settled by %s", sc.RateShare*100, perSecond(single.SettledPerSecond), single.Scenario), nil
}

// byRole returns the first result of role, or nil.
func byRole(results []*Result, role Role) *Result {
	for _, r := range results {
		if r.Role == role {
			return r
		}
	}
	return nil
}

// SuiteReport is the suite's own result file: a row per scenario and the
// targets.
type SuiteReport struct {
	StartedAt time.Time         `json:"started_at"`
	Flags     map[string]string `json:"flags"`
	Host      Host              `json:"host"`
	Scenarios []SuiteRow        `json:"scenarios"`
	Targets   []Target          `json:"targets"`
	File      string            `json:"-"`
}

// SuiteRow is one scenario's headline figures.
type SuiteRow struct {
	Scenario         string  `json:"scenario"`
	Role             Role    `json:"role,omitempty"`
	File             string  `json:"file"`
	SettledPerSecond float64 `json:"settled_per_second"`
	SettledVsNaive   float64 `json:"settled_vs_naive,omitempty"`
	SettledVsSet     float64 `json:"settled_vs_setbased,omitempty"`
	NaivePerSecond   float64 `json:"naive_per_second,omitempty"`
	SetPerSecond     float64 `json:"setbased_per_second,omitempty"`
	SettleMillis     int64   `json:"settle_ms"`
	P50              float64 `json:"p50_ms"`
	P99              float64 `json:"p99_ms"`
	Failures         int     `json:"failures"`
}

func newSuiteReport(cfg Config, started time.Time, results []*Result, targets []Target) *SuiteReport {
	s := &SuiteReport{StartedAt: started, Flags: cfg.Flags(), Host: hostInfo(), Targets: targets}
	for _, r := range results {
		s.Scenarios = append(s.Scenarios, SuiteRow{Scenario: r.Scenario, Role: r.Role, File: r.File,
			SettledPerSecond: r.SettledPerSecond, SettledVsNaive: r.SettledVsNaive, SettledVsSet: r.SettledVsSetBased,
			NaivePerSecond: r.Naive.PerSecond, SetPerSecond: r.SetBased.PerSecond, SettleMillis: r.SettleMillis,
			P50: r.Replies.Latency.P50, P99: r.Replies.Latency.P99, Failures: len(r.Failures)})
	}
	return s
}

// write saves the report under dir as <time>-suite.json.
func (s *SuiteReport) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	s.File = filepath.Join(dir, s.StartedAt.UTC().Format("2006-01-02T15-04-05")+"-suite.json")
	return os.WriteFile(s.File, append(b, '\n'), 0o644)
}
