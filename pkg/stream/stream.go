// Package stream connects to NATS, declares the WALLET JetStream stream and
// runs durable consumers on it: Consume event by event, ConsumeBatch in
// batches.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/events"
)

// Name is the stream every wallet event went to before partitions (ADR
// 0038); it goes once nothing reads it.
const Name = "WALLET"

// PartitionName is the stream of event partition p (ADR 0038): it holds
// the subjects events.PartitionSubjects(p).
func PartitionName(p int) string { return fmt.Sprintf("WALLET_%d", p) }

// Names returns the streams of partitions 0 … partitions-1.
func Names(partitions int) []string {
	out := make([]string, partitions)
	for p := range out {
		out[p] = PartitionName(p)
	}
	return out
}

// ConsumerLabel names the durable consumer durable on streamName in
// metrics, logs and dead letters, durable@stream: the same durable (saga,
// ledger) runs on every partition's stream. On the WALLET stream of before
// partitions it is the durable alone, as it was.
func ConsumerLabel(streamName, durable string) string {
	if streamName == Name || streamName == "" {
		return durable
	}
	return durable + "@" + streamName
}

// Connect dials url and keeps reconnecting forever: a service outlives broker
// restarts instead of exiting. name shows in the server's connection list.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if c.IsClosed() {
				return // our own Close or Drain at exit, not an outage
			}
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", config.MaskURLs(url), err)
	}
	return nc, nil
}

// Config shapes the WALLET stream: the settings that come from the
// configuration (nats.*). Everything else is fixed by streamConfig.
type Config struct {
	Replicas        int
	DuplicateWindow time.Duration
	// MaxAge and MaxBytes limit the stream; 0 is unlimited (the default).
	MaxAge   time.Duration
	MaxBytes int64
	// Storage is file (the zero value) or memory.
	Storage jetstream.StorageType
	// Partitions is the number of event partitions, nats.partitions: one
	// stream each, PartitionName(0 … Partitions-1) (ADR 0038).
	Partitions int
}

// limitWarning is logged when the stream is limited: see streamConfig.
const limitWarning = "the WALLET stream is limited by nats.max_age or nats.max_bytes: ledger-service replay needs every event since the last ledger snapshot"

// ConfigFrom takes the stream's settings from the nats section.
func ConfigFrom(n config.NATSConfig) Config {
	c := Config{Replicas: n.Replicas, DuplicateWindow: n.DuplicateWindow, MaxAge: n.MaxAge, MaxBytes: n.MaxBytes, Partitions: n.Partitions}
	if n.Storage == "memory" {
		c.Storage = jetstream.MemoryStorage
	}
	return c
}

// streamConfig is the WALLET stream as cfg wants it: by default it keeps
// every event, refusing new ones when full, since replay rebuilds the ledger
// from the first (ADR 0007).
func streamConfig(cfg Config) jetstream.StreamConfig {
	maxBytes, discard := int64(-1), jetstream.DiscardNew
	if cfg.MaxBytes > 0 {
		// A size limit that refused new messages would stop the wallet once
		// reached: a limited stream drops its oldest instead.
		maxBytes, discard = cfg.MaxBytes, jetstream.DiscardOld
	}
	return jetstream.StreamConfig{
		Name:       Name,
		Subjects:   []string{events.StreamSubjects},
		Storage:    cfg.Storage,
		Replicas:   cfg.Replicas,
		Duplicates: cfg.DuplicateWindow, // an existing stream is updated too: see config.NATSConfig.DuplicateWindow
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     cfg.MaxAge, // 0: forever
		MaxMsgs:    -1,         // unlimited
		MaxBytes:   maxBytes,
		Discard:    discard,
	}
}

// PartitionStream is partition p's stream as cfg wants it: the settings
// of streamConfig, the name PartitionName(p) and the subjects
// events.PartitionSubjects(p). outbox-relay provision declares one for
// every p below cfg.Partitions; the services verify them (pkg/provision).
func PartitionStream(cfg Config, p int) jetstream.StreamConfig {
	sc := streamConfig(cfg)
	sc.Name = PartitionName(p)
	sc.Subjects = events.PartitionSubjects(p)
	return sc
}

// Ensure creates the WALLET stream or updates it to cfg, once; see
// ensureStream. Tests and tools that own their NATS use it (or Declare,
// which retries and logs the changes); the services only verify the
// streams outbox-relay provision declares (pkg/provision, ADR 0040).
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	s, _, _, err := ensureStream(ctx, js, streamConfig(cfg))
	return s, err
}

// EnsurePartitions creates every partition's stream (PartitionStream, p
// below cfg.Partitions) or updates it to cfg, once each, as Ensure does the
// WALLET stream, and returns them by partition. For tests and tools that
// own their NATS, as Ensure.
func EnsurePartitions(ctx context.Context, js jetstream.JetStream, cfg Config) ([]jetstream.Stream, error) {
	if cfg.Partitions < 1 {
		return nil, fmt.Errorf("stream config: %d partitions, want at least 1 (nats.partitions)", cfg.Partitions)
	}
	out := make([]jetstream.Stream, cfg.Partitions)
	for p := range out {
		s, _, _, err := ensureStream(ctx, js, PartitionStream(cfg, p))
		if err != nil {
			return nil, err
		}
		out[p] = s
	}
	return out, nil
}

// Unavailable reports an error that says NATS cannot be reached for now
// (disconnected, reconnecting, no server or no JetStream answering in
// time): retrying later can succeed.
func Unavailable(err error) bool {
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrNoHeartbeat)
}
