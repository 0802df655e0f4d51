package replay

import (
	"fmt"
	"io"
	"time"
)

// progress prints "events done / total, rate, time left" lines to w, at
// most one per every, and a last one at the end.
type progress struct {
	w     io.Writer
	every time.Duration
	total uint64
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, every time.Duration, total uint64, start time.Time) *progress {
	if every <= 0 {
		every = time.Second
	}
	return &progress{w: w, every: every, total: total, start: start, last: start}
}

func (p *progress) report(done uint64, final bool) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	fmt.Fprintln(p.w, line(done, p.total, now.Sub(p.start), final))
}

// line renders one progress line; pure, for the tests.
func line(done, total uint64, elapsed time.Duration, final bool) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(min(done, total)) / float64(total)
	}
	if final {
		return fmt.Sprintf("replay: %d events in %s (%.0f/s)", done, elapsed.Round(time.Millisecond), rate)
	}
	left := "?"
	if rate > 0 && total > done {
		left = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("replay: %d / %d events (%.1f%%), %.0f/s, %s left", done, total, pct, rate, left)
}
