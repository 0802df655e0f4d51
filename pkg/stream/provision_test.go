package stream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// syncBuffer is a log the test reads while the code under test writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// logBuffer is a logger whose output the test reads.
func logBuffer() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})), buf
}

func streamInfo(t *testing.T, js jetstream.JetStream) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(context.Background(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// A changed duplicate window is applied to the existing stream and logged
// with the setting, the old and the new value.
func TestDeclareAppliesChangedDuplicateWindow(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	log, buf := logBuffer()
	if _, err := stream.Declare(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: 24 * time.Hour}, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "stream created") {
		t.Fatalf("creation not logged:\n%s", buf)
	}
	buf.Reset()
	if _, err := stream.Declare(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: 2 * time.Minute}, log); err != nil {
		t.Fatal(err)
	}
	if got := streamInfo(t, js).Config.Duplicates; got != 2*time.Minute {
		t.Fatalf("duplicate window = %v, want 2m", got)
	}
	if want := "setting=nats.duplicate_window from=24h0m0s to=2m0s"; !strings.Contains(buf.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, buf)
	}
}

// Moving the stream from file to memory storage is something JetStream
// cannot do: Declare refuses at once (no retry), naming the setting and both
// values, and the stream stays as it was.
func TestDeclareRefusesStorageChange(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	log, _ := logBuffer()
	if _, err := stream.Declare(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}, log); err != nil {
		t.Fatal(err)
	}
	_, err := stream.Declare(ctx, js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute, Storage: jetstream.MemoryStorage}, log)
	var refused *stream.RefusedError
	if !errors.As(err, &refused) || !stream.Permanent(err) {
		t.Fatalf("err = %v, want a refused change", err)
	}
	for _, want := range []string{"nats.storage", "File", "Memory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if got := streamInfo(t, js).Config.Storage; got != jetstream.FileStorage {
		t.Fatalf("storage = %v, want file", got)
	}
}

// Declaring what exists changes nothing and logs nothing.
func TestDeclareIdempotent(t *testing.T) {
	ctx := context.Background()
	js := testenv.MustJetStream(t)
	log, buf := logBuffer()
	cfg := stream.Config{Replicas: 1, DuplicateWindow: time.Minute}
	if _, err := stream.Declare(ctx, js, cfg, log); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	for range 2 {
		if _, err := stream.Declare(ctx, js, cfg, log); err != nil {
			t.Fatal(err)
		}
	}
	if buf.String() != "" {
		t.Fatalf("re-declaring logged:\n%s", buf)
	}
}

// Replicas > 1 on a server without a cluster is a configuration error, not
// a cluster still forming: Declare gives up at once with the server's reason.
func TestDeclareReplicasWithoutClusterIsPermanent(t *testing.T) {
	log, _ := logBuffer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := stream.Declare(ctx, testenv.MustJetStream(t), stream.Config{Replicas: 3, DuplicateWindow: time.Minute}, log)
	if err == nil || !stream.Permanent(err) || ctx.Err() != nil {
		t.Fatalf("err = %v, want a permanent error before the deadline", err)
	}
}

// A broker that is not up yet is waited for: Declare retries until the
// server starts, then creates the stream.
func TestDeclareWaitsForBroker(t *testing.T) {
	port := testenv.FreePorts(t, 1)[0]
	log, buf := logBuffer()
	nc, err := stream.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port), "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := stream.Declare(context.Background(), js, stream.Config{Replicas: 1, DuplicateWindow: time.Minute}, log)
		done <- err
	}()
	// Let at least one attempt fail before the server exists.
	testenv.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(buf.String(), "declare stream WALLET failed, retrying") {
			return errors.New("no failed attempt logged yet")
		}
		return nil
	})
	testenv.StartNATS(t, t.TempDir(), port)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if nc.Status() != nats.CONNECTED {
		t.Fatalf("nats is %s", nc.Status())
	}
}

// Consumers are provisioned the same way: a changed max_deliver is applied
// and logged, a re-run logs nothing, a changed deliver policy is refused.
func TestDeclareConsumer(t *testing.T) {
	ctx := context.Background()
	js := mustJetStream(t)
	log, buf := logBuffer()
	cfg := jetstream.ConsumerConfig{Durable: "c", FilterSubjects: []string{"wallet.>"}, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: 5, MaxAckPending: 100}
	if _, err := stream.DeclareConsumer(ctx, js, cfg, log); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := stream.DeclareConsumer(ctx, js, cfg, log); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "" {
		t.Fatalf("re-declaring logged:\n%s", buf)
	}
	cfg.MaxDeliver = 7
	c, err := stream.DeclareConsumer(ctx, js, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxDeliver != 7 {
		t.Fatalf("max_deliver = %d, want 7", info.Config.MaxDeliver)
	}
	if want := "setting=max_deliver from=5 to=7"; !strings.Contains(buf.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, buf)
	}
	cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	_, err = stream.DeclareConsumer(ctx, js, cfg, log)
	if !stream.Permanent(err) || !strings.Contains(err.Error(), "deliver_policy") {
		t.Fatalf("err = %v, want deliver_policy refused", err)
	}
}

// A consumer created to start at a sequence (the saga's, at the ack floor
// of the consumers it replaced) keeps that start when it is declared again
// with DeliverAll; once deleted it is created again from the first message.
func TestDeclaredConsumerKeepsItsStart(t *testing.T) {
	ctx := context.Background()
	js := mustJetStream(t)
	log, buf := logBuffer()
	cfg := jetstream.ConsumerConfig{Durable: "started", FilterSubjects: []string{"wallet.>"}, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: 5}
	at := cfg
	at.DeliverPolicy, at.OptStartSeq = jetstream.DeliverByStartSequencePolicy, 42
	if _, err := js.CreateConsumer(ctx, stream.Name, at); err != nil {
		t.Fatal(err)
	}
	cfg.MaxDeliver = 6
	c, err := stream.DeclareConsumer(ctx, js, cfg, log)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf)
	}
	got := c.CachedInfo().Config
	if got.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || got.OptStartSeq != 42 || got.MaxDeliver != 6 {
		t.Fatalf("declared consumer: %v at %d, max_deliver %d; want by_start_sequence at 42, 6", got.DeliverPolicy, got.OptStartSeq, got.MaxDeliver)
	}
	if strings.Contains(buf.String(), "deliver_policy") {
		t.Fatalf("the kept start was logged as a change:\n%s", buf)
	}
	if err := js.DeleteConsumer(ctx, stream.Name, "started"); err != nil {
		t.Fatal(err)
	}
	if c, err = stream.DeclareConsumer(ctx, js, cfg, log); err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config; got.DeliverPolicy != jetstream.DeliverAllPolicy || got.OptStartSeq != 0 {
		t.Fatalf("recreated consumer: %v at %d, want DeliverAll", got.DeliverPolicy, got.OptStartSeq)
	}
}

// On a cluster that has just started, JetStream has no meta leader yet and
// refuses to create streams for a while: Declare waits it out and gets the
// stream at 3 replicas.
func TestDeclareOnFormingCluster(t *testing.T) {
	c := testenv.NATSCluster(t, 3)
	log, buf := logBuffer()
	nc, err := stream.Connect(c.URLs(), "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := stream.Declare(ctx, js, stream.Config{Replicas: 3, DuplicateWindow: time.Minute}, log)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("replicas %d, cluster %+v; want a leader and 2 followers", info.Config.Replicas, info.Cluster)
	}
}
