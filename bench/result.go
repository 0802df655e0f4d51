package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Result is everything one run measured; it is written as the result JSON.
type Result struct {
	Scenario  string            `json:"scenario"`
	StartedAt time.Time         `json:"started_at"`
	Flags     map[string]string `json:"flags"`
	Host      Host              `json:"host"`
	Prefix    string            `json:"account_prefix"`
	Mode      string            `json:"mode"` // "closed loop", "open loop" or "bulk"
	Role      Role              `json:"role,omitempty"`
	HotID     string            `json:"hot_account,omitempty"`
	RateBasis string            `json:"rate_basis,omitempty"` // where a suite's open-loop rate came from
	Shards    int               `json:"shards_used"`          // logical shards holding the run's accounts

	SetupSeconds      float64 `json:"setup_seconds"`
	LoadSeconds       float64 `json:"load_seconds"`
	Requests          int64   `json:"requests"` // HTTP requests; Replies counts transfers
	Replies           Replies `json:"replies"`
	AcceptedPerSecond float64 `json:"accepted_per_second"`

	Settled      bool  `json:"settled"`
	SettleMillis int64 `json:"settle_ms"` // load end until caught up (or until given up)
	// SettleAfterMillis is the lower bound of the catch-up time: until then
	// a look still saw something left to do.
	SettleAfterMillis int64            `json:"settle_after_ms"`
	SettleBacklog     Backlog          `json:"backlog_at_end"`
	SettleError       string           `json:"settle_error,omitempty"`
	Transfers         map[string]int64 `json:"transfers_by_status"`
	// SettledPerSecond is completed transfers / (load + settle time); 0 when
	// the system did not settle, as no honest figure exists then.
	SettledPerSecond float64 `json:"settled_per_second"`

	Naive                Baseline `json:"naive"`
	SetBased             Baseline `json:"setbased"`
	AcceptedVsNaive      float64  `json:"accepted_vs_naive,omitempty"`
	SettledVsNaive       float64  `json:"settled_vs_naive,omitempty"`
	AcceptedVsSetBased   float64  `json:"accepted_vs_setbased,omitempty"`
	SettledVsSetBased    float64  `json:"settled_vs_setbased,omitempty"`
	StackCPUMsPerSettled float64  `json:"stack_cpu_ms_per_settled_transfer,omitempty"`

	Processes  []Usage    `json:"processes"` // during load + settle
	Invariants Invariants `json:"invariants"`
	Profiles   []Profile  `json:"profiles,omitempty"`
	Warnings   []string   `json:"warnings,omitempty"`
	Failures   []string   `json:"failures,omitempty"`
	File       string     `json:"-"`
}

// Host describes the machine, so results from different ones are not
// compared by mistake.
type Host struct {
	NProc     int    `json:"nproc"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Hostname  string `json:"hostname"`
	Kernel    string `json:"kernel,omitempty"`
	LoadAvg   string `json:"loadavg_at_start,omitempty"`
}

func hostInfo() Host {
	h := Host{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	// The machine is shared: a high load average at the start explains noise.
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		h.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return h
}

// fileStem is the result's file name without extension, e.g.
// "2026-12-01T19-30-00-cross10".
func (r *Result) fileStem() string {
	return r.StartedAt.UTC().Format("2006-01-02T15-04-05") + "-" + r.Scenario
}

// write saves r as JSON under dir and remembers the file's path.
func (r *Result) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	r.File = filepath.Join(dir, r.fileStem()+".json")
	return os.WriteFile(r.File, append(b, '\n'), 0o644)
}

// fail records a reason for a non-zero exit.
func (r *Result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// ratio is a/b, or 0 when there is no b to compare with.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
