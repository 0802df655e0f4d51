package stream_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// A stream declared with the old 24h window gets the configured one when a
// service starts with it: Ensure updates, not only creates.
func TestEnsureUpdatesDuplicateWindow(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	if _, err := stream.Ensure(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	s, err := stream.Ensure(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Duplicates != 2*time.Minute {
		t.Fatalf("duplicate window = %v, want 2m", info.Config.Duplicates)
	}
}

// The stream is the record replay reads from the first event: it keeps
// everything and refuses new messages rather than dropping old ones.
func TestEnsureKeepsEverything(t *testing.T) {
	s, err := stream.Ensure(context.Background(), testenv.MustJetStream(t), stream.Config{Replicas: 1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxAge != 0 || cfg.MaxMsgs != -1 || cfg.MaxBytes != -1 || cfg.Discard != jetstream.DiscardNew {
		t.Fatalf("retention: max age %v, msgs %d, bytes %d, discard %v; want everything kept and new messages refused when full",
			cfg.MaxAge, cfg.MaxMsgs, cfg.MaxBytes, cfg.Discard)
	}
}

// Configured limits reach the stream, which then drops its oldest messages
// instead of refusing new ones.
func TestEnsureAppliesLimits(t *testing.T) {
	s, err := stream.Ensure(context.Background(), testenv.MustJetStream(t),
		stream.Config{Replicas: 1, DuplicateWindow: time.Minute, MaxAge: 48 * time.Hour, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxAge != 48*time.Hour || cfg.MaxBytes != 1<<30 || cfg.Discard != jetstream.DiscardOld {
		t.Fatalf("limits: max age %v, bytes %d, discard %v", cfg.MaxAge, cfg.MaxBytes, cfg.Discard)
	}
}

// Every partition gets its own stream, WALLET_<p>, holding its facts and
// its saga steps and nothing of the other partitions (ADR 0038).
func TestEnsurePartitionsDeclaresEveryPartition(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	ss, err := stream.EnsurePartitions(ctx, js, stream.Config{Partitions: 3, Replicas: 1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 3 {
		t.Fatalf("%d streams, want 3", len(ss))
	}
	for p, s := range ss {
		cfg := s.CachedInfo().Config
		if cfg.Name != stream.PartitionName(p) || !slices.Equal(cfg.Subjects, events.PartitionSubjects(p)) {
			t.Fatalf("partition %d: stream %s on %v", p, cfg.Name, cfg.Subjects)
		}
	}
	for _, subj := range []string{"wallet.2.transfer.debited.5", "saga.2.transfer.debited.5"} {
		name, err := js.StreamNameBySubject(ctx, subj)
		if err != nil || name != "WALLET_2" {
			t.Fatalf("%s goes to %q (%v), want WALLET_2", subj, name, err)
		}
	}
	if _, err := stream.EnsurePartitions(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}); err == nil {
		t.Fatal("no partitions accepted")
	}
}

// A consumer on a partition's stream is labelled durable@stream in its
// metrics; its health entry is the durable (one Health per stream).
func TestConsumerOnAPartition(t *testing.T) {
	if got := stream.ConsumerLabel(stream.PartitionName(2), "saga"); got != "saga@WALLET_2" {
		t.Fatalf("label %q", got)
	}
	if got := stream.ConsumerLabel(stream.Name, "ledger"); got != "ledger" {
		t.Fatalf("label on the WALLET stream %q, want the durable alone", got)
	}
}
