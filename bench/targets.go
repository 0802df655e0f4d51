package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// Target is one of issue 18's targets judged against one run: a figure that
// must reach Limit (or, AtMost, stay at or below it). A target whose run
// is missing or could not give the figure is not Measured, and not Met.
type Target struct {
	Scenario string  `json:"scenario,omitempty"`
	What     string  `json:"what"`
	Figure   string  `json:"figure"`
	Value    float64 `json:"value"`
	Limit    float64 `json:"limit"`
	AtMost   bool    `json:"at_most"`
	Unit     string  `json:"unit"`
	Measured bool    `json:"measured"`
	Met      bool    `json:"met"`
	Why      string  `json:"not_measured_because,omitempty"`
}

// settleLimitMillis is how soon after a run's load the ledger must have
// applied everything.
const settleLimitMillis = 1000

// targetSpecs are the suite's throughput and latency targets: the run they
// judge (by role) and how its figure is read.
var targetSpecs = []struct {
	role   Role
	what   string
	figure string
	limit  float64
	atMost bool
	unit   string
	value  func(r *Result, all []*Result) (float64, string) // the figure, or why there is none
}{
	{RoleSingle, "single requests, 10% cross-shard", "settled ÷ naive", 3.6, false, "×", vsNaive},
	{RoleCross50, "half cross-shard", "settled ÷ naive", 2, false, "×", vsNaive},
	{RoleHot, "half on one hot account", "settled ÷ uniform run", 0.8, false, "×", vsUniform},
	{RoleBulk, "bulk requests, 10% cross-shard", "settled ÷ set-based", 0.5, false, "×", vsSetBased},
	{RoleOpen, "open loop at a share of the maximum", "p99", 50, true, " ms", p99},
}

func vsNaive(r *Result, _ []*Result) (float64, string) {
	if !r.Naive.Ran {
		return 0, "the naive baseline did not run"
	}
	return settled(r, r.SettledVsNaive)
}

func vsSetBased(r *Result, _ []*Result) (float64, string) {
	if !r.SetBased.Ran {
		return 0, "the set-based baseline did not run"
	}
	return settled(r, r.SettledVsSetBased)
}

func vsUniform(r *Result, all []*Result) (float64, string) {
	u := byRole(all, RoleSingle)
	if u == nil || !u.Settled {
		return 0, "no settled uniform run to compare with"
	}
	return settled(r, ratio(r.SettledPerSecond, u.SettledPerSecond))
}

func p99(r *Result, _ []*Result) (float64, string) {
	if r.Replies.Latency.Count == 0 {
		return 0, "no request was answered"
	}
	return r.Replies.Latency.P99, ""
}

func settled(r *Result, v float64) (float64, string) {
	if !r.Settled {
		return 0, "the run did not settle"
	}
	return v, ""
}

// judge evaluates the targets on results. In a suite every target is
// listed, a missing run's as not measured; otherwise only those whose run
// is there. Every run is also judged on how soon its ledger caught up.
func judge(results []*Result, suite bool) []Target {
	var out []Target
	for _, s := range targetSpecs {
		t := Target{What: s.what, Figure: s.figure, Limit: s.limit, AtMost: s.atMost, Unit: s.unit}
		r := byRole(results, s.role)
		if r == nil {
			if suite {
				t.Why = "the scenario did not run"
				out = append(out, t)
			}
			continue
		}
		t.Scenario = r.Scenario
		t.Value, t.Why = s.value(r, results)
		out = append(out, t.judged())
	}
	for _, r := range results {
		t := Target{Scenario: r.Scenario, What: "ledger caught up after the load", Figure: "settle time",
			Limit: settleLimitMillis, AtMost: true, Unit: " ms", Value: float64(r.SettleMillis)}
		if !r.Settled {
			t.Why = "the run did not settle"
		}
		out = append(out, t.judged())
	}
	return out
}

// judged fills Measured and Met.
func (t Target) judged() Target {
	t.Measured = t.Why == ""
	t.Met = t.Measured && ((t.AtMost && t.Value <= t.Limit) || (!t.AtMost && t.Value >= t.Limit))
	return t
}

// Mark is what the table shows: "pass", "MISS", or "MISS (not measured)".
func (t Target) Mark() string {
	switch {
	case t.Met:
		return "pass"
	case !t.Measured:
		return "MISS (not measured: " + t.Why + ")"
	}
	return "MISS"
}

func (t Target) reached() string {
	if !t.Measured {
		return "-"
	}
	return t.format(t.Value)
}

func (t Target) wanted() string {
	op := "≥ "
	if t.AtMost {
		op = "≤ "
	}
	return op + t.format(t.Limit)
}

func (t Target) format(v float64) string {
	if t.Unit == "×" {
		return strconv.FormatFloat(v, 'f', 2, 64) + "×"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + t.Unit
}

// printTargets lists the targets with their marks and a count of the met.
func printTargets(w io.Writer, targets []Target) {
	if len(targets) == 0 {
		return
	}
	fmt.Fprintf(w, "\n== targets (issue 18) ==\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\tscenario\tfigure\treached\twanted\t\n")
	met := 0
	for _, t := range targets {
		if t.Met {
			met++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.What, t.Scenario, t.Figure, t.reached(), t.wanted(), t.Mark())
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d targets met", met, len(targets))
	if met < len(targets) {
		fmt.Fprintf(w, "; each run's CPU per process is above, and -profile saves the services' CPU profiles")
	}
	fmt.Fprintln(w)
}
