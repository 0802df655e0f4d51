package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/ledger-service/internal/consumer"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// gapStream is partition 0's stream, the one the tests' ledger applies.
var gapStream = stream.PartitionName(0)

// gapRig is a ledger-service that a test stops and starts again on the
// same NATS and ledger schema, so the stream can lose messages while the
// ledger does not read (ADR 0039).
type gapRig struct {
	cfg  config.LedgerService
	db   *sqlx.DB
	js   jetstream.JetStream
	base string
	stop func()
}

func newGapRig(t *testing.T) *gapRig {
	t.Helper()
	natsSrv := testenv.NATS(t)
	dsn := testenv.Databases(t, 1)[0]
	r := &gapRig{cfg: testConfig(natsSrv.ClientURL(), dsn), db: testenv.MustOpen(t, dsn), stop: func() {}}
	r.js = streamsFor(t, r.cfg)
	return r
}

// start boots the ledger and waits for its consumer to run.
func (r *gapRig) start(t *testing.T) {
	t.Helper()
	a, err := app.New(r.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		a.Close()
	}
	t.Cleanup(r.stop)
	r.base = "http://" + a.Addr()
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		var body struct {
			Consumers map[string]map[string]stream.ConsumerHealth
		}
		if _, err := getJSON(r.base+"/readyz", &body); err != nil {
			return err
		}
		if c := body.Consumers[gapStream][consumer.Name]; c.State != stream.StateRunning {
			return fmt.Errorf("consumer %+v", c)
		}
		return nil
	})
}

// publish publishes evts and returns their stream sequences.
func (r *gapRig) publish(t *testing.T, evts ...events.Event) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, e := range evts {
		ack, err := r.js.PublishMsg(context.Background(), ledgertest.Fact(e, 0))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	return seqs
}

func (r *gapRig) waitBalance(t *testing.T, account, want string) {
	t.Helper()
	ledger{base: r.base}.waitBalance(t, account, want)
}

// get fetches url as an operator: status and body.
func get(url string) (int, string, error) {
	tok, err := auth.Mint(authtest.Secret, "ops", auth.Operator, time.Hour, "", "")
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// gapMetric is wallet_ledger_gap_messages{partition="0"} as /metrics shows it.
func (r *gapRig) gapMetric(t *testing.T) string {
	t.Helper()
	_, body, err := get(r.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, `wallet_ledger_gap_messages{partition="0"} `); ok {
			return v
		}
	}
	return "absent"
}

// expectGap waits for the ledger to report the gap first..last: /readyz
// not ready naming the partition and the range, the metric, the record.
func (r *gapRig) expectGap(t *testing.T, first, last uint64, cause string) {
	t.Helper()
	rng := fmt.Sprintf("messages %d..%d", first, last)
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		code, body, err := get(r.base + "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "partition 0") || !strings.Contains(body, rng) {
			return fmt.Errorf("readyz %d %s, want 503 naming partition 0 and %s", code, body, rng)
		}
		return nil
	})
	_, body, _ := get(r.base + "/readyz")
	t.Logf("readyz: %s", body)
	if !strings.Contains(body, cause) {
		t.Errorf("readyz does not say %q", cause)
	}
	if got, want := r.gapMetric(t), fmt.Sprint(last-first+1); got != want {
		t.Errorf("wallet_ledger_gap_messages{partition=\"0\"} = %s, want %s", got, want)
	}
	var open int
	if err := r.db.Get(&open, "SELECT COUNT(*) FROM ledger_gaps WHERE partition_no = 0 AND stream_name = ? AND first_seq = ? AND last_seq = ? AND skipped_at IS NULL",
		gapStream, first, last); err != nil || open != 1 {
		t.Errorf("%d open gap rows %d..%d (%v), want 1", open, first, last, err)
	}
	var out bytes.Buffer
	if err := app.Gaps(context.Background(), r.cfg, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "detected") {
		t.Errorf("ledger-service gaps:\n%s", out.String())
	}
}

// skip runs skip-gap for first..last and checks the ledger goes on.
func (r *gapRig) skip(t *testing.T, first, last uint64) {
	t.Helper()
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	opts := app.SkipGapOptions{Partition: 0, From: first, To: last + 1, Reason: "test", By: "tester"}
	if err := app.SkipGap(ctx, r.cfg, opts, &out, log); err == nil || errors.Is(err, service.ErrUsage) {
		t.Errorf("skip %d..%d, past the gap: %v, want refused", opts.From, opts.To, err)
	}
	opts.From, opts.To = first+1, last+1
	if err := app.SkipGap(ctx, r.cfg, opts, &out, log); err == nil {
		t.Errorf("skip %d..%d, not from the position: want refused", opts.From, opts.To)
	}
	opts.Partition = 7
	if err := app.SkipGap(ctx, r.cfg, opts, &out, log); !errors.Is(err, service.ErrUsage) {
		t.Errorf("skip in partition 7: %v, want a usage error", err)
	}
	opts = app.SkipGapOptions{Partition: 0, From: first, To: last, Reason: "messages lost, decided by test", By: "tester"}
	if err := app.SkipGap(ctx, r.cfg, opts, &out, log); err != nil {
		t.Fatalf("skip-gap: %v", err)
	}
	t.Logf("skip-gap: %s", out.String())
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if code, body, err := get(r.base + "/readyz"); err != nil || code != http.StatusOK {
			return fmt.Errorf("readyz %d %s %v", code, body, err)
		}
		if v := r.gapMetric(t); v != "0" {
			return fmt.Errorf("gap metric %s", v)
		}
		return nil
	})
	var rec struct {
		By     string `db:"skipped_by"`
		Reason string `db:"reason"`
	}
	if err := r.db.Get(&rec, "SELECT skipped_by, reason FROM ledger_gaps WHERE first_seq = ? AND last_seq = ? AND skipped_at IS NOT NULL", first, last); err != nil ||
		rec.By != "tester" || rec.Reason != opts.Reason {
		t.Errorf("skip record %+v (%v)", rec, err)
	}
}

// setStream changes the stream's settings while the ledger is stopped, as
// an operator or a limit would.
func (r *gapRig) setStream(t *testing.T, change func(*jetstream.StreamConfig)) {
	t.Helper()
	ctx := context.Background()
	s, err := r.js.Stream(ctx, gapStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	change(&c)
	if _, err := r.js.UpdateStream(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func (r *gapRig) streamState(t *testing.T) jetstream.StreamState {
	t.Helper()
	s, err := r.js.Stream(context.Background(), gapStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// A message deleted (the delete-message API) before the ledger read it.
func TestGapDeletedMessage(t *testing.T) {
	r := newGapRig(t)
	r.start(t)
	r.publish(t, ledgertest.Opened("alice", "JPY"), ledgertest.Deposited("alice", "1000", "JPY"))
	r.waitBalance(t, "alice", "1000")
	r.stop()
	seqs := r.publish(t, ledgertest.Deposited("alice", "1", "JPY"), ledgertest.Deposited("alice", "20", "JPY"))
	s, err := r.js.Stream(context.Background(), gapStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(context.Background(), seqs[0]); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	r.expectGap(t, seqs[0], seqs[0], "deleted")
	r.waitBalance(t, "alice", "1000") // stalled, not past the gap
	r.skip(t, seqs[0], seqs[0])
	r.waitBalance(t, "alice", "1020")
	r.publish(t, ledgertest.Deposited("alice", "300", "JPY"))
	r.waitBalance(t, "alice", "1320")

	// Replay passes the skipped message as the live ledger did and keeps
	// the record.
	target, err := mysqldriver.ParseDSN(testenv.Databases(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.Replay(context.Background(), r.cfg, target.DBName, 0, &out, io.Discard, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 missing messages passed as the live ledger skipped them") || strings.Contains(out.String(), "warning") {
		t.Errorf("replay:\n%s", out.String())
	}
	replayed := testenv.MustOpen(t, target.FormatDSN())
	var skips int
	if err := replayed.Get(&skips, "SELECT COUNT(*) FROM ledger_gaps WHERE first_seq = ? AND skipped_at IS NOT NULL", seqs[0]); err != nil || skips != 1 {
		t.Errorf("replayed schema holds %d skip records (%v), want 1", skips, err)
	}
	var balance string
	if err := replayed.Get(&balance, "SELECT CAST(balance AS CHAR) FROM ledger_accounts WHERE account_id = 'alice'"); err != nil || !strings.HasPrefix(balance, "1320") {
		t.Errorf("replayed balance of alice %q (%v), want 1320", balance, err)
	}
}

// max_age expiring messages before a stopped ledger reads them.
func TestGapMaxAge(t *testing.T) {
	r := newGapRig(t)
	r.start(t)
	r.publish(t, ledgertest.Opened("bob", "JPY"), ledgertest.Deposited("bob", "1000", "JPY"))
	r.waitBalance(t, "bob", "1000")
	r.stop()
	lost := r.publish(t, ledgertest.Deposited("bob", "1", "JPY"), ledgertest.Deposited("bob", "2", "JPY"))
	var was jetstream.StreamConfig
	r.setStream(t, func(c *jetstream.StreamConfig) { was = *c; c.MaxAge, c.Duplicates = time.Second, time.Second })
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		if st := r.streamState(t); st.Msgs != 0 {
			return fmt.Errorf("%d messages not expired yet", st.Msgs)
		}
		return nil
	})
	r.setStream(t, func(c *jetstream.StreamConfig) { c.MaxAge, c.Duplicates = was.MaxAge, was.Duplicates })
	r.start(t)
	r.publish(t, ledgertest.Deposited("bob", "20", "JPY"))
	r.expectGap(t, lost[0], lost[1], "limits")
	r.skip(t, lost[0], lost[1])
	r.waitBalance(t, "bob", "1020")
	r.publish(t, ledgertest.Deposited("bob", "300", "JPY"))
	r.waitBalance(t, "bob", "1320")
}

// max_msgs dropping the oldest messages before a stopped ledger reads them.
func TestGapMaxMsgs(t *testing.T) {
	r := newGapRig(t)
	r.start(t)
	r.publish(t, ledgertest.Opened("carol", "JPY"), ledgertest.Deposited("carol", "1000", "JPY"))
	r.waitBalance(t, "carol", "1000")
	r.stop()
	seqs := r.publish(t, ledgertest.Deposited("carol", "1", "JPY"), ledgertest.Deposited("carol", "20", "JPY"), ledgertest.Deposited("carol", "300", "JPY"))
	var was jetstream.StreamConfig
	r.setStream(t, func(c *jetstream.StreamConfig) { was = *c; c.MaxMsgs, c.Discard = 2, jetstream.DiscardOld })
	if st := r.streamState(t); st.Msgs != 2 || st.FirstSeq != seqs[1] {
		t.Fatalf("stream %+v, want the last 2 messages", st)
	}
	r.setStream(t, func(c *jetstream.StreamConfig) { c.MaxMsgs, c.Discard = was.MaxMsgs, was.Discard })
	r.start(t)
	r.expectGap(t, seqs[0], seqs[0], "limits")
	r.skip(t, seqs[0], seqs[0])
	r.waitBalance(t, "carol", "1320")
	r.publish(t, ledgertest.Deposited("carol", "4000", "JPY"))
	r.waitBalance(t, "carol", "5320")
}

// With the ledger stopped, gaps asks the stream; skip-gap without the
// stream's word needs --force, which is recorded; a misused command line is
// a usage error (exit 2).
func TestGapListedWhileStoppedAndForced(t *testing.T) {
	r := newGapRig(t)
	r.start(t)
	r.publish(t, ledgertest.Opened("dan", "JPY"), ledgertest.Deposited("dan", "1000", "JPY"))
	r.waitBalance(t, "dan", "1000")
	r.stop()
	seqs := r.publish(t, ledgertest.Deposited("dan", "1", "JPY"), ledgertest.Deposited("dan", "20", "JPY"))
	s, err := r.js.Stream(context.Background(), gapStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(context.Background(), seqs[0]); err != nil {
		t.Fatal(err)
	}
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	if err := app.Gaps(ctx, r.cfg, &out, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "missing (not recorded yet)") || !strings.Contains(out.String(), "deleted") {
		t.Errorf("gaps with the ledger stopped:\n%s", out.String())
	}
	for _, bad := range []app.SkipGapOptions{
		{Partition: -1, From: 3, To: 3, Reason: "r"},
		{Partition: 0, From: 0, To: 3, Reason: "r"},
		{Partition: 0, From: 4, To: 3, Reason: "r"},
		{Partition: 0, From: 3, To: 3},
	} {
		if err := app.SkipGap(ctx, r.cfg, bad, &out, log); !errors.Is(err, service.ErrUsage) {
			t.Errorf("skip-gap %+v: %v, want a usage error", bad, err)
		}
	}
	past := app.SkipGapOptions{Partition: 0, From: seqs[0], To: seqs[1] + 1, Reason: "r", Force: true}
	if err := app.SkipGap(ctx, r.cfg, past, &out, log); err == nil || !strings.Contains(err.Error(), "past its end") {
		t.Errorf("skip-gap --force past the stream's end: %v, want refused", err)
	}
	// 3..4: 4 is present, so the stream does not confirm it; forced, it is
	// passed (the deposit of 20 with it).
	opts := app.SkipGapOptions{Partition: 0, From: seqs[0], To: seqs[1], Reason: "both must go", By: "tester"}
	if err := app.SkipGap(ctx, r.cfg, opts, &out, log); err == nil {
		t.Fatal("skip-gap over a message present, without --force: want refused")
	}
	opts.Force = true
	if err := app.SkipGap(ctx, r.cfg, opts, &out, log); err != nil {
		t.Fatal(err)
	}
	var forced bool
	if err := r.db.Get(&forced, "SELECT forced FROM ledger_gaps WHERE first_seq = ? AND last_seq = ?", seqs[0], seqs[1]); err != nil || !forced {
		t.Errorf("forced skip recorded %v (%v)", forced, err)
	}
	r.start(t)
	r.publish(t, ledgertest.Deposited("dan", "300", "JPY"))
	r.waitBalance(t, "dan", "1300")
	if code, body, err := get(r.base + "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("readyz %d %s %v", code, body, err)
	}
}

// Two partitions: a gap in partition 1 holds only partition 1; /readyz
// names it and its stream, the gauge counts it under partition="1", and
// partition 0 goes on applying. skip-gap --partition 1 passes it.
func TestGapHoldsOnlyItsPartition(t *testing.T) {
	natsSrv := testenv.NATS(t)
	dsns := testenv.Databases(t, 2)
	r := &gapRig{cfg: testConfig(natsSrv.ClientURL(), dsns...), db: testenv.MustOpen(t, dsns[1]), stop: func() {}}
	r.js = streamsFor(t, r.cfg)
	r.start(t)
	pub := func(p int, e events.Event) uint64 {
		t.Helper()
		ack, err := r.js.PublishMsg(context.Background(), ledgertest.Fact(e, p))
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	acc := map[int]string{} // an account of each partition
	for i := 0; len(acc) < 2; i++ {
		a := fmt.Sprintf("acc-%d", i)
		if p := ledgertest.PartitionOf(a, testShards, 2); acc[p] == "" {
			acc[p] = a
		}
	}
	pub(0, ledgertest.Opened(acc[0], "JPY"))
	pub(1, ledgertest.Opened(acc[1], "JPY"))
	r.waitBalance(t, acc[0], "0")
	r.waitBalance(t, acc[1], "0")
	r.stop()
	lost := pub(1, ledgertest.Deposited(acc[1], "1", "JPY"))
	pub(1, ledgertest.Deposited(acc[1], "20", "JPY"))
	s, err := r.js.Stream(context.Background(), stream.PartitionName(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	pub(0, ledgertest.Deposited(acc[0], "5", "JPY"))
	r.waitBalance(t, acc[0], "5") // partition 0 is not held by 1's gap
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		code, body, err := get(r.base + "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "gap in partition 1 (stream WALLET_1): messages 2..2") {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
	_, metrics, err := get(r.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics, `wallet_ledger_gap_messages{partition="1"} 1`) || !strings.Contains(metrics, `wallet_ledger_gap_messages{partition="0"} 0`) {
		t.Errorf("gap gauges:\n%s", grepLines(metrics, "wallet_ledger_gap_messages"))
	}
	var out bytes.Buffer
	if err := app.SkipGap(context.Background(), r.cfg, app.SkipGapOptions{Partition: 1, From: lost, To: lost, Reason: "test", By: "tester"}, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	r.waitBalance(t, acc[1], "20")
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if code, body, err := get(r.base + "/readyz"); err != nil || code != http.StatusOK {
			return fmt.Errorf("readyz %d %s %v", code, body, err)
		}
		return nil
	})
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
