package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	tests := []struct {
		done, total uint64
		elapsed     time.Duration
		final       bool
		want        string
	}{
		{250, 1000, 10 * time.Second, false, "replay: 250 / 1000 events (25.0%), 25/s, 30s left"},
		{250, 0, 10 * time.Second, false, "replay: 250 events, 25/s"},
		{0, 1000, 0, false, "replay: 0 / 1000 events (0.0%), 0/s, ? left"},
		{1200, 1000, 10 * time.Second, false, "replay: 1200 / 1000 events (100.0%), 120/s, ? left"},
		{1000, 1000, 4 * time.Second, true, "replay: 1000 events in 4s (250/s)"},
	}
	for _, tt := range tests {
		if got := Line("replay", "events", tt.done, tt.total, tt.elapsed, tt.final); got != tt.want {
			t.Errorf("Line(%d, %d, %s, %v) = %q, want %q", tt.done, tt.total, tt.elapsed, tt.final, got, tt.want)
		}
	}
}

// A meter prints at most once per interval, and always its last line.
func TestMeterThrottles(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, "task", "rows", time.Hour, 10)
	for i := range uint64(10) {
		m.Report(i, false)
	}
	m.Report(10, true)
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "task: 10 rows in ") {
		t.Errorf("printed %q", out.String())
	}
	New(nil, "quiet", "rows", 0, 0).Report(1, true) // no writer: prints nothing, does not panic
}
