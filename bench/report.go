package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// printResult writes the run's figures as a table people can read.
func printResult(w io.Writer, r *Result) {
	f := r.Flags
	fmt.Fprintf(w, "\n== %s: %s accounts on %d of %s shards, %s, %s, %s%% cross-shard, %s%% hot ==\n",
		r.Scenario, f["accounts"], r.Shards, f["shards"], loadShape(r), f["duration"], pct(f["cross"]), pct(f["hot"]))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "setup\t%s accounts opened and funded in %.1f s (not timed), prefix %s\n", f["accounts"], r.SetupSeconds, r.Prefix)
	if r.RateBasis != "" {
		fmt.Fprintf(tw, "rate\t%s/s offered: %s\n", f["rate"], r.RateBasis)
	}
	fmt.Fprintf(tw, "load\t%s transfers in %s requests in %.1f s; accepted (2xx) %s = %s naive = %s set-based\n",
		commas(r.Replies.Sent), commas(r.Requests), r.LoadSeconds, perSecond(r.AcceptedPerSecond), times(r.AcceptedVsNaive), times(r.AcceptedVsSetBased))
	if r.Settled {
		fmt.Fprintf(tw, "settle\tledger caught up %s ms after the load ended (after %s ms: looked every %s)\n",
			commas(r.SettleMillis), commas(r.SettleAfterMillis), f["settle-poll"])
		fmt.Fprintf(tw, "settled\t%s (%s completed / %.1f s load+settle) = %s naive = %s set-based\n",
			perSecond(r.SettledPerSecond), commas(r.Transfers["completed"]), r.LoadSeconds+float64(r.SettleMillis)/1000,
			times(r.SettledVsNaive), times(r.SettledVsSetBased))
	} else {
		fmt.Fprintf(tw, "settle\tDID NOT SETTLE: gave up %s ms after the load ended: %s\n", commas(r.SettleMillis), r.SettleBacklog)
		fmt.Fprintf(tw, "settled\tn/a: the system did not settle (%s completed in the shards, not all applied by the ledger)\n",
			commas(r.Transfers["completed"]))
	}
	fmt.Fprintf(tw, "transfers\t%s\n", counts(r.Transfers))
	fmt.Fprintf(tw, "latency\t%s\n", latency(r.Replies.Latency))
	for _, kind := range sortedKeys(r.Replies.LatencyByKind) {
		fmt.Fprintf(tw, "  %s-shard\t%s\n", kind, latency(r.Replies.LatencyByKind[kind]))
	}
	fmt.Fprintf(tw, "by status\t%s\n", counts(r.Replies.ByStatus))
	fmt.Fprintf(tw, "by code\t%s\n", counts(r.Replies.ByCode))
	fmt.Fprintf(tw, "errors\t%s transport errors, %s dropped by generator\n", commas(r.Replies.TransportErrors), commas(r.Replies.DroppedByGen))
	for _, e := range r.Replies.ErrorSample {
		fmt.Fprintf(tw, "\t  e.g. %s\n", e)
	}
	printBaseline(tw, "naive", r.Naive, "-naive-duration 0")
	printBaseline(tw, "set-based", r.SetBased, "-setbased-duration 0")
	fmt.Fprintf(tw, "money\t%s\n", r.Invariants)
	if r.StackCPUMsPerSettled > 0 {
		fmt.Fprintf(tw, "cost\t%.2f CPU ms of the stack per settled transfer\n", r.StackCPUMsPerSettled)
	}
	tw.Flush()

	fmt.Fprintf(w, "%-16s %20s %13s\n", "process", "CPU s (load+settle)", "peak RSS MiB")
	for _, u := range r.Processes {
		fmt.Fprintf(w, "%-16s %20.2f %13.1f\n", u.Name, u.CPUSeconds, u.PeakRSSMiB)
	}
	for _, p := range r.Profiles {
		if p.File != "" {
			fmt.Fprintf(w, "profile  %s: %s\n", p.Service, p.File)
		} else {
			fmt.Fprintf(w, "profile  %s: %s\n", p.Service, p.Note)
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning  %s\n", warn)
	}
	for _, fail := range r.Failures {
		fmt.Fprintf(w, "FAILED   %s\n", fail)
	}
	if r.File != "" {
		fmt.Fprintf(w, "result   %s\n", r.File)
	}
}

// printBaseline writes a baseline's line, or that it was skipped.
func printBaseline(tw io.Writer, name string, b Baseline, skippedBy string) {
	if !b.Ran {
		fmt.Fprintf(tw, "%s\tskipped (%s)\n", name, skippedBy)
		return
	}
	fmt.Fprintf(tw, "%s\t%s (%s committed in %.1f s, %d clients, %d per transaction; %s insufficient, %s errors, %s deadlock retries)\n",
		name, perSecond(b.PerSecond), commas(b.Committed), b.Seconds, b.Clients, b.PerTransaction,
		commas(b.Insufficient), commas(b.Errors), commas(b.Retries))
	fmt.Fprintf(tw, "\t  CPU s during the baseline: %s\n", cpuList(b.Usage))
	if b.ErrorSample != "" {
		fmt.Fprintf(tw, "\t  e.g. %s\n", b.ErrorSample)
	}
}

// printSummary lines up the suite's scenarios, one row each.
func printSummary(w io.Writer, results []*Result) {
	fmt.Fprintf(w, "\n== suite ==\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\taccepted\tsettled\t× naive\t× set-based\tnaive\tset-based\tsettle ms\tp50 ms\tp99 ms\tok\t\n")
	for _, r := range results {
		ok := "yes"
		if len(r.Failures) > 0 {
			ok = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t\n", r.Scenario, perSecond(r.AcceptedPerSecond),
			perSecond(r.SettledPerSecond), times(r.SettledVsNaive), times(r.SettledVsSetBased), perSecond(r.Naive.PerSecond),
			perSecond(r.SetBased.PerSecond), commas(r.SettleMillis), r.Replies.Latency.P50, r.Replies.Latency.P99, ok)
	}
	tw.Flush()
}

// cpuList renders the processes that used CPU as "mariadbd 5.20, bench 1.10".
func cpuList(us []Usage) string {
	var parts []string
	for _, u := range us {
		if u.CPUSeconds > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", u.Name, u.CPUSeconds))
		}
	}
	return strings.Join(parts, ", ")
}

func loadShape(r *Result) string {
	if r.Flags["rate"] != "0" {
		return fmt.Sprintf("open loop at %s/s (at most %s in flight)", r.Flags["rate"], r.Flags["max-in-flight"])
	}
	if r.Flags["bulk"] != "0" {
		return fmt.Sprintf("%s clients closed loop, %s transfers per request", r.Flags["clients"], r.Flags["bulk"])
	}
	return r.Flags["clients"] + " clients closed loop"
}

func latency(l Latency) string {
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s ms  (%s transfers)", msStr(l.P50), msStr(l.P95), msStr(l.P99), msStr(l.Max), commas(l.Count))
}

func msStr(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func pct(share string) string {
	v, err := strconv.ParseFloat(share, 64)
	if err != nil {
		return share
	}
	return strconv.FormatFloat(v*100, 'f', -1, 64)
}

// counts renders a map of counts as "k1 n1, k2 n2" in key order.
func counts[K int | string](m map[K]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%v %s", k, commas(m[k])))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

// commas writes n with thousands separators: 1234567 → "1,234,567".
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// perSecond renders a rate: whole numbers with separators from 100 up, one
// decimal below, where the decimal still says something.
func perSecond(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64) + "/s"
	}
	return commas(int64(math.Round(v))) + "/s"
}

// times renders a ratio to a baseline, "1.15×", or "n/a" without one.
func times(r float64) string {
	if r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "×"
}
