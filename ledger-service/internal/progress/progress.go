// Package progress prints the progress of a long batch command to stderr:
// "<task>: done / total <unit> (pct), rate/s, time left", at most once per
// interval, and a last line at the end.
package progress

import (
	"fmt"
	"io"
	"time"
)

// Meter reports one task's progress. A nil writer prints nothing.
type Meter struct {
	w     io.Writer
	task  string
	unit  string
	every time.Duration
	total uint64
	start time.Time
	last  time.Time
}

// New starts a meter for task, counting total units (0 if unknown), printing
// to w at most once per every (a second if not positive).
func New(w io.Writer, task, unit string, every time.Duration, total uint64) *Meter {
	if every <= 0 {
		every = time.Second
	}
	now := time.Now()
	return &Meter{w: w, task: task, unit: unit, every: every, total: total, start: now, last: now}
}

// Report prints done units unless a line was printed less than every ago;
// final prints the closing line regardless.
func (m *Meter) Report(done uint64, final bool) {
	if m.w == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(m.last) < m.every {
		return
	}
	m.last = now
	fmt.Fprintln(m.w, Line(m.task, m.unit, done, m.total, now.Sub(m.start), final))
}

// Line renders one progress line; pure, for the tests.
func Line(task, unit string, done, total uint64, elapsed time.Duration, final bool) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	if final {
		return fmt.Sprintf("%s: %d %s in %s (%.0f/s)", task, done, unit, elapsed.Round(time.Millisecond), rate)
	}
	if total == 0 {
		return fmt.Sprintf("%s: %d %s, %.0f/s", task, done, unit, rate)
	}
	pct := 100 * float64(min(done, total)) / float64(total)
	left := "?"
	if rate > 0 && total > done {
		left = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %d / %d %s (%.1f%%), %.0f/s, %s left", task, done, total, unit, pct, rate, left)
}
