package main

import (
	"slices"
	"sync"
	"time"
)

// Recorder collects the outcome of every transfer of the load (each of a
// bulk request's too). It keeps each latency (8 bytes a transfer) so
// percentiles are exact; the load is bounded by -duration and the offered
// rate, so that stays in the megabytes.
type Recorder struct {
	mu        sync.Mutex
	latency   map[string][]time.Duration // by kind: "same", "cross"
	byStatus  map[int]int64
	byCode    map[string]int64
	transport int64
	errSample []string // the first few distinct transport errors
	dropped   int64
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{latency: map[string][]time.Duration{}, byStatus: map[int]int64{}, byCode: map[string]int64{}}
}

// Reply records an answered request of the given kind: its status and its
// code (the problem's code, or the body's status for a 2xx).
func (r *Recorder) Reply(kind string, status int, code string, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency[kind] = append(r.latency[kind], took)
	r.byStatus[status]++
	r.byCode[code]++
}

// TransportError records a request that got no HTTP answer. Its latency is
// kept too: a request that hung for 30 s before failing did take 30 s.
func (r *Recorder) TransportError(kind string, err error, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency[kind] = append(r.latency[kind], took)
	r.transport++
	msg := err.Error()
	if len(r.errSample) < 5 && !slices.Contains(r.errSample, msg) {
		r.errSample = append(r.errSample, msg)
	}
}

// Dropped records a send the open loop could not make because too many
// requests were outstanding.
func (r *Recorder) Dropped() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped++
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Replies is what the recorder saw, summarised.
type Replies struct {
	Sent            int64              `json:"sent"`
	Accepted        int64              `json:"accepted_2xx"`
	ByStatus        map[int]int64      `json:"by_status"`
	ByCode          map[string]int64   `json:"by_code"`
	TransportErrors int64              `json:"transport_errors"`
	ErrorSample     []string           `json:"transport_error_sample,omitempty"`
	DroppedByGen    int64              `json:"dropped_by_generator"`
	Latency         Latency            `json:"latency"`
	LatencyByKind   map[string]Latency `json:"latency_by_kind"`
}

// Summary sorts the latencies and counts the replies. Call it once the load
// has stopped.
func (r *Recorder) Summary() Replies {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Replies{ByStatus: r.byStatus, ByCode: r.byCode, TransportErrors: r.transport,
		ErrorSample: r.errSample, DroppedByGen: r.dropped, LatencyByKind: map[string]Latency{}}
	var all []time.Duration
	for kind, l := range r.latency {
		slices.Sort(l)
		out.LatencyByKind[kind] = summarise(l)
		all = append(all, l...)
	}
	slices.Sort(all)
	out.Latency = summarise(all)
	out.Sent = int64(len(all))
	for status, n := range r.byStatus {
		if status >= 200 && status < 300 {
			out.Accepted += n
		}
	}
	return out
}

func summarise(sorted []time.Duration) Latency {
	return Latency{Count: int64(len(sorted)), P50: ms(percentile(sorted, 50)), P95: ms(percentile(sorted, 95)),
		P99: ms(percentile(sorted, 99)), Max: ms(percentile(sorted, 100))}
}

// percentile returns the nearest-rank p-th percentile of sorted: the smallest
// value that at least p% of the values do not exceed. It is 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// rank = ceil(p/100 * n), in integers so 95% of 20 is exactly 19.
	rank := (int64(p*100)*int64(len(sorted)) + 9999) / 10000
	rank = max(rank, 1)
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
