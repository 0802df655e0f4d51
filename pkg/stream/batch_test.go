package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// runBatch runs ConsumeBatch as durable until the test ends.
func runBatch(t *testing.T, js jetstream.JetStream, durable string, h stream.BatchHandler, opts stream.BatchOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4000}
	done := make(chan error, 1)
	go func() {
		done <- stream.ConsumeBatch(ctx, js, cfg, h, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ConsumeBatch: %v", err)
		}
	})
}

// consumerInfo returns the durable consumer's state on the server.
func consumerInfo(js jetstream.JetStream, durable string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(context.Background(), stream.Name, durable)
	if err != nil {
		return nil, err
	}
	return c.Info(context.Background())
}

// drained reports whether durable has settled every message.
func drained(js jetstream.JetStream, durable string) func() error {
	return func() error {
		info, err := consumerInfo(js, durable)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("pending %d, awaiting ack %d", info.NumPending, info.NumAckPending)
		}
		// A consumer created a moment ago may not have counted its pending
		// messages yet (seen under load): it has also delivered nothing.
		st, err := js.Stream(context.Background(), stream.Name)
		if err != nil {
			return err
		}
		sinfo, err := st.Info(context.Background())
		if err != nil {
			return err
		}
		if info.Delivered.Stream < sinfo.State.LastSeq {
			return fmt.Errorf("delivered up to %d of %d", info.Delivered.Stream, sinfo.State.LastSeq)
		}
		return nil
	}
}

// recorder is a batch handler that applies every event and remembers the
// calls; fail, if set, decides an event's error instead (nil applies it).
// An ordered recorder stops at the first failure, as a handler that applies
// a batch in one transaction does: the events behind it fail too.
type recorder struct {
	mu      sync.Mutex
	calls   [][]string
	applied []string
	fail    func(e events.Event) error
	ordered bool
}

func (r *recorder) handle(_ context.Context, evts []events.Event) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, len(evts))
	errs := make([]error, len(evts))
	for i, e := range evts {
		ids[i] = e.ID
		switch {
		case r.ordered && i > 0 && errs[i-1] != nil:
			errs[i] = errs[i-1]
		case r.fail != nil:
			errs[i] = r.fail(e)
		}
		if errs[i] == nil {
			r.applied = append(r.applied, e.ID)
		}
	}
	r.calls = append(r.calls, ids)
	return errs
}

func (r *recorder) appliedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.applied)
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// Under load a batch is whatever waits: with 2,000 messages queued, handler
// calls get more than one, never more than MaxBatch, and every message is
// handled once, in stream order.
func TestConsumeBatchFormsBatchesUnderLoad(t *testing.T) {
	js := mustJetStream(t)
	want := ids("load", 2000)
	for _, id := range want {
		publish(t, js, id)
	}
	samples0 := batchSamples(t, "load")
	r := &recorder{}
	runBatch(t, js, "load", r.handle, stream.BatchOptions{MaxBatch: 300})
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, drained(js, "load"))

	if got := r.appliedIDs(); !slices.Equal(got, want) {
		t.Fatalf("handled %d events, want the 2000 published in order", len(got))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	largest := 0
	for _, c := range r.calls {
		largest = max(largest, len(c))
	}
	if largest < 2 || largest > 300 {
		t.Errorf("largest batch %d, want 2..300 (%d calls)", largest, len(r.calls))
	}
	if got := batchSamples(t, "load") - samples0; got != uint64(len(r.calls)) {
		t.Errorf("batch size histogram has %d new samples, want one per handler call (%d)", got, len(r.calls))
	}
}

// With MaxWait, events that trickle in one by one still form one batch.
func TestConsumeBatchMaxWaitGathersATrickle(t *testing.T) {
	js := mustJetStream(t)
	r := &recorder{}
	runBatch(t, js, "trickle", r.handle, stream.BatchOptions{MaxBatch: 3, MaxWait: 5 * time.Second})
	want := ids("trickle", 3)
	for _, id := range want {
		publish(t, js, id)
		time.Sleep(50 * time.Millisecond)
	}
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, drained(js, "trickle"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 1 || !slices.Equal(r.calls[0], want) {
		t.Fatalf("handler calls %v, want one batch %v", r.calls, want)
	}
}

// batchSamples is the number of batches the histogram observed for consumer.
func batchSamples(t *testing.T, consumer string) uint64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "wallet_consumer_batch_size" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "consumer" && l.GetValue() == consumer {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// An undecodable message is terminated and recorded without reaching the
// handler; the messages around it are handled.
func TestConsumeBatchTerminatesUndecodable(t *testing.T) {
	js := mustJetStream(t)
	publish(t, js, "before")
	if _, err := js.Publish(context.Background(), "wallet.account.deposited.0", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "after")
	var mu sync.Mutex
	var poisoned []string
	poison := func(_ context.Context, m jetstream.Msg, err error) error {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, events.ErrMalformed) {
			poisoned = append(poisoned, string(m.Data()))
		}
		return nil
	}
	counter := stream.Messages.WithLabelValues("undecodable", "poison")
	poison0 := testutil.ToFloat64(counter)
	r := &recorder{}
	runBatch(t, js, "undecodable", r.handle, stream.BatchOptions{Options: stream.Options{Poison: poison, InOrder: true}})
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, drained(js, "undecodable"))

	if got := r.appliedIDs(); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("handled %v, want [before after]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(poisoned, []string{"garbage"}) {
		t.Errorf("poison handler got %q, want the garbage message", poisoned)
	}
	if got := testutil.ToFloat64(counter) - poison0; got != 1 {
		t.Errorf("poison counter rose by %v, want 1", got)
	}
}

// With InOrder a transient failure is retried in place: the failed event
// and everything behind it wait, also the later batches (MaxBatch 5 puts
// events behind the failure into batches of their own), so the events are
// applied exactly in stream order.
func TestConsumeBatchInOrderRetriesInPlace(t *testing.T) {
	js := mustJetStream(t)
	want := ids("ordered", 20)
	for _, id := range want {
		publish(t, js, id)
	}
	failures := 2
	r := &recorder{ordered: true, fail: func(e events.Event) error {
		if e.ID == want[7] && failures > 0 {
			failures--
			return errors.New("database down")
		}
		return nil
	}}
	counter := stream.Messages.WithLabelValues("ordered", "retried")
	retried0 := testutil.ToFloat64(counter)
	runBatch(t, js, "ordered", r.handle, stream.BatchOptions{Options: stream.Options{InOrder: true}, MaxBatch: 5})
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, drained(js, "ordered"))

	if got := r.appliedIDs(); !slices.Equal(got, want) {
		t.Errorf("applied %v, want stream order %v", got, want)
	}
	if got := testutil.ToFloat64(counter) - retried0; got < 2 {
		t.Errorf("retry counter rose by %v, want at least 2 (one per failed attempt)", got)
	}
}

// Without InOrder a transient failure is nak'd and the events behind it go
// ahead: here an event keeps failing until the one behind it was applied.
func TestConsumeBatchNaksTransientAndGoesAhead(t *testing.T) {
	js := mustJetStream(t)
	publish(t, js, "a")
	publish(t, js, "b")
	publish(t, js, "c")
	attempts := map[string]int{}
	cApplied := false
	r := &recorder{fail: func(e events.Event) error {
		attempts[e.ID]++
		if e.ID == "b" && !cApplied {
			return errors.New("not yet")
		}
		cApplied = cApplied || e.ID == "c"
		return nil
	}}
	counter := stream.Messages.WithLabelValues("naks", "retried")
	retried0 := testutil.ToFloat64(counter)
	runBatch(t, js, "naks", r.handle, stream.BatchOptions{})
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, drained(js, "naks"))

	if got := r.appliedIDs(); !slices.Equal(got, []string{"a", "c", "b"}) {
		t.Errorf("applied %v, want [a c b]: b waits for a redelivery, c goes ahead", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if attempts["a"] != 1 || attempts["c"] != 1 || attempts["b"] < 2 {
		t.Errorf("attempts %v, want a and c once, b at least twice", attempts)
	}
	if got := testutil.ToFloat64(counter) - retried0; got != float64(attempts["b"]-1) {
		t.Errorf("retry counter rose by %v, want %d (one per failed attempt of b)", got, attempts["b"]-1)
	}
}

// Nothing is acknowledged while the handler runs: acks follow its commit.
func TestConsumeBatchAcksAfterHandlerReturns(t *testing.T) {
	js := mustJetStream(t)
	for _, id := range ids("acks", 5) {
		publish(t, js, id)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	runBatch(t, js, "acks", func(_ context.Context, evts []events.Event) []error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return make([]error, len(evts))
	}, stream.BatchOptions{})

	<-entered
	info, err := consumerInfo(js, "acks")
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 0 || info.NumAckPending == 0 {
		t.Errorf("while the handler runs: ack floor %d, %d awaiting ack; want nothing acknowledged",
			info.AckFloor.Stream, info.NumAckPending)
	}
	close(release)
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, drained(js, "acks"))
}
