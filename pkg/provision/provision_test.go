package provision_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func settings(partitions int, window time.Duration) provision.Settings {
	return provision.Settings{
		Stream:        stream.Config{Replicas: 1, DuplicateWindow: window, Partitions: partitions},
		RelayLeaseTTL: 10 * time.Second, LedgerLeaseTTL: 10 * time.Second,
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Provisioning creates every stream and bucket once; run again it changes
// nothing, and what it made is what the services verify.
func TestProvisionCreatesEverything(t *testing.T) {
	ctx, js := ctxT(t), testenv.MustJetStream(t)
	s := settings(4, 2*time.Minute)
	steps, err := provision.Apply(ctx, js, provision.All(s), quiet())
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, st := range steps {
		if st.Create {
			created++
		}
	}
	// 4 partitions, the advisories, 3 buckets; WALLET_4 stays absent.
	if created != 8 {
		t.Fatalf("created %d, want 8: %v", created, steps)
	}
	for p := range 4 {
		st, err := js.Stream(ctx, stream.PartitionName(p))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.Subjects; len(got) != 2 || got[0] != events.PartitionSubjects(p)[0] {
			t.Fatalf("%s subjects %v", stream.PartitionName(p), got)
		}
	}
	kv, err := js.KeyValue(ctx, provision.LedgerLeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := kv.Status(ctx); st.TTL() != 10*time.Second {
		t.Fatalf("ledger lease TTL %v", st.TTL())
	}

	steps, err = provision.Apply(ctx, js, provision.All(s), quiet())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if st.Create || len(st.Changes) > 0 {
			t.Fatalf("second run changed %v", st)
		}
	}
	if err := provision.Verify(ctx, js, provision.All(s), 0, quiet()); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// A service started against a stream or bucket with other settings than
// its configuration's refuses to start, naming the setting, the current
// and the configured value and the command that fixes it; provisioning
// with the configuration then fixes it. --dry-run (Plan) changes nothing.
func TestVerifyRefusesAMismatchAndProvisionFixesIt(t *testing.T) {
	ctx, js := ctxT(t), testenv.MustJetStream(t)
	old := settings(2, time.Minute)
	if _, err := provision.Apply(ctx, js, provision.All(old), quiet()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		setting string
		change  func(*provision.Settings)
		from    string
		to      string
	}{
		{"nats.duplicate_window", func(s *provision.Settings) { s.Stream.DuplicateWindow = 2 * time.Minute }, "1m0s", "2m0s"},
		{"nats.max_age", func(s *provision.Settings) { s.Stream.MaxAge = time.Hour }, "0s", "1h0m0s"},
		{"nats.max_bytes", func(s *provision.Settings) { s.Stream.MaxBytes = 1 << 20 }, "-1", "1048576"},
		{"relay.lease_ttl", func(s *provision.Settings) { s.RelayLeaseTTL = 5 * time.Second }, "10s", "5s"},
		{"ledger.lease_ttl", func(s *provision.Settings) { s.LedgerLeaseTTL = 3 * time.Second }, "10s", "3s"},
	}
	for _, c := range cases {
		t.Run(c.setting, func(t *testing.T) {
			want := old
			c.change(&want)
			err := provision.Verify(ctx, js, provision.All(want), 0, quiet())
			var mm *provision.MismatchError
			if !errors.As(err, &mm) {
				t.Fatalf("verify: %v, want a mismatch", err)
			}
			if mm.Change.Setting != c.setting || mm.Change.From != c.from || mm.Change.To != c.to {
				t.Fatalf("mismatch %+v, want %s %s → %s", mm.Change, c.setting, c.from, c.to)
			}
			for _, s := range []string{c.setting, c.from, c.to, "run outbox-relay provision"} {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not say %q", err, s)
				}
			}

			plan, err := provision.Plan(ctx, js, provision.All(want))
			if err != nil {
				t.Fatal(err)
			}
			planned := false
			for _, st := range plan {
				for _, ch := range st.Changes {
					planned = planned || ch.Setting == c.setting
				}
			}
			if !planned {
				t.Fatalf("the plan does not change %s: %v", c.setting, plan)
			}
			if provision.Verify(ctx, js, provision.All(want), 0, quiet()) == nil {
				t.Fatal("the dry run changed the settings")
			}

			if _, err := provision.Apply(ctx, js, provision.All(want), quiet()); err != nil {
				t.Fatalf("provision: %v", err)
			}
			if err := provision.Verify(ctx, js, provision.All(want), 0, quiet()); err != nil {
				t.Fatalf("verify after provisioning: %v", err)
			}
			// Back, for the next case.
			if _, err := provision.Apply(ctx, js, provision.All(old), quiet()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Replicas another than the stream's is a mismatch naming nats.replicas
// (a single server cannot take 3, so only the refusal is shown).
func TestVerifyNamesReplicas(t *testing.T) {
	ctx, js := ctxT(t), testenv.MustJetStream(t)
	s := settings(1, time.Minute)
	if _, err := provision.Apply(ctx, js, provision.Streams(s), quiet()); err != nil {
		t.Fatal(err)
	}
	s.Stream.Replicas = 3
	err := provision.Verify(ctx, js, provision.Streams(s), 0, quiet())
	if err == nil || !strings.Contains(err.Error(), "stream WALLET_0: nats.replicas is 1, the configuration says 3") {
		t.Fatalf("verify: %v", err)
	}
}

// A partition count other than the streams' is refused both ways: fewer
// finds a stream past the last, more a stream missing.
func TestVerifyNamesPartitions(t *testing.T) {
	ctx, js := ctxT(t), testenv.MustJetStream(t)
	if _, err := provision.Apply(ctx, js, provision.Streams(settings(4, time.Minute)), quiet()); err != nil {
		t.Fatal(err)
	}
	err := provision.Verify(ctx, js, provision.Streams(settings(2, time.Minute)), 0, quiet())
	if err == nil || !strings.Contains(err.Error(), "nats.partitions") {
		t.Fatalf("verify with fewer partitions: %v", err)
	}
	_, err = provision.Apply(ctx, js, provision.Streams(settings(2, time.Minute)), quiet())
	if !stream.Permanent(err) || !strings.Contains(err.Error(), "nats.partitions") {
		t.Fatalf("provision with fewer partitions: %v, want refused", err)
	}
	err = provision.Verify(ctx, js, provision.Streams(settings(8, time.Minute)), 0, quiet())
	var missing *provision.MissingError
	if !errors.As(err, &missing) || missing.Resource != "stream WALLET_4" {
		t.Fatalf("verify with more partitions: %v", err)
	}
}

// A stream that does not exist is waited for, a bounded time, then the
// error names the command that makes it; made meanwhile, it is found.
func TestVerifyWaitsForProvisioning(t *testing.T) {
	ctx, js := ctxT(t), testenv.MustJetStream(t)
	s := settings(1, time.Minute)
	start := time.Now()
	err := provision.Verify(ctx, js, provision.Streams(s), 500*time.Millisecond, quiet())
	if err == nil || !strings.Contains(err.Error(), "stream WALLET_0 does not exist: run outbox-relay provision") {
		t.Fatalf("verify: %v", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 10*time.Second {
		t.Fatalf("waited %v, want about 500ms", d)
	}

	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = provision.Apply(ctx, js, provision.All(s), quiet())
	}()
	if err := provision.Verify(ctx, js, provision.All(s), 30*time.Second, quiet()); err != nil {
		t.Fatalf("verify while provisioning: %v", err)
	}
}

// Storage cannot be converted: provisioning refuses and changes nothing.
func TestProvisionRefusesStorage(t *testing.T) {
	ctx, js := ctxT(t), testenv.MustJetStream(t)
	s := settings(1, time.Minute)
	if _, err := provision.Apply(ctx, js, provision.Streams(s), quiet()); err != nil {
		t.Fatal(err)
	}
	s.Stream.Storage = jetstream.MemoryStorage
	s.Stream.DuplicateWindow = 2 * time.Minute
	_, err := provision.Apply(ctx, js, provision.Streams(s), quiet())
	var refused *stream.RefusedError
	if !errors.As(err, &refused) || refused.Change.Setting != "nats.storage" {
		t.Fatalf("provision: %v, want a refused storage change", err)
	}
	st, err := js.Stream(ctx, stream.PartitionName(0))
	if err != nil {
		t.Fatal(err)
	}
	if w := st.CachedInfo().Config.Duplicates; w != time.Minute {
		t.Fatalf("duplicate window %v after a refusal, want 1m unchanged", w)
	}
}

// The one stream of the release before partitions takes every event
// subject: provisioning refuses to make the partition streams beside it,
// and a service refuses to start, both naming it.
func TestTheStreamBeforePartitionsIsRefused(t *testing.T) {
	ctx, js := ctxT(t), testenv.MustJetStream(t)
	if _, err := stream.Ensure(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	s := settings(2, time.Minute)
	_, err := provision.Apply(ctx, js, provision.All(s), quiet())
	if !stream.Permanent(err) || !strings.Contains(err.Error(), "stream WALLET: refusing to change nats.partitions (stream count) from the one stream WALLET to 2 streams") {
		t.Fatalf("provision beside WALLET: %v, want refused", err)
	}
	if _, err := js.Stream(ctx, stream.PartitionName(0)); err == nil {
		t.Fatal("a refused run created a stream")
	}
	err = provision.Verify(ctx, js, provision.Streams(s), 0, quiet())
	var missing *provision.MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("verify: %v", err)
	}
}
