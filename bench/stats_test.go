package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	twenty := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 20", twenty, 50, 10 * time.Millisecond},
		{"p95 of 20 is the 19th", twenty, 95, 19 * time.Millisecond},
		{"p99 of 20 is the last", twenty, 99, 20 * time.Millisecond},
		{"max", twenty, 100, 20 * time.Millisecond},
		{"p0 is the first", twenty, 0, 1 * time.Millisecond},
		{"p50 of 3", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"p99 of 1000 is the 990th", ms(seq(1000)...), 99, 990 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.sorted, c.p); got != c.want {
				t.Fatalf("percentile(%d values, %v) = %v, want %v", len(c.sorted), c.p, got, c.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestRecorderSummary(t *testing.T) {
	r := NewRecorder()
	r.Reply("same", 200, "success", 2*time.Millisecond)
	r.Reply("cross", 202, "pending", 2*time.Second)
	r.Reply("same", 422, "insufficient_funds", time.Millisecond)
	r.TransportError("cross", errTest("connection reset"), 30*time.Second)
	r.Dropped()
	s := r.Summary()
	if s.Sent != 4 || s.Accepted != 2 || s.TransportErrors != 1 || s.DroppedByGen != 1 {
		t.Fatalf("summary = %+v", s)
	}
	if s.ByCode["insufficient_funds"] != 1 || s.ByStatus[202] != 1 {
		t.Fatalf("by code %v, by status %v", s.ByCode, s.ByStatus)
	}
	if s.Latency.Max != 30000 || s.LatencyByKind["same"].Count != 2 {
		t.Fatalf("latency %+v, by kind %+v", s.Latency, s.LatencyByKind)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
