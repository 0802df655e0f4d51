// Package stream connects to NATS, declares the event partitions' JetStream
// streams (WALLET_<p>, ADR 0038) and runs durable consumers on them: Consume
// event by event, ConsumeBatch in batches.
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
// 0038). Only ledger-service still names it, until it reads the
// partitions; it goes then.
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

// Config shapes the partitions' streams: the settings that come from the
// configuration (nats.*), the same for every partition. Everything else is
// fixed by streamConfig.
type Config struct {
	// Partitions is the number of event partitions (nats.partitions): one
	// stream each, WALLET_0 … WALLET_<Partitions-1>. 0 declares the single
	// WALLET stream of before partitions instead, which only
	// ledger-service's older tests still use.
	Partitions      int
	Replicas        int
	DuplicateWindow time.Duration
	// MaxAge and MaxBytes limit the stream; 0 is unlimited (the default).
	MaxAge   time.Duration
	MaxBytes int64
	// Storage is file (the zero value) or memory.
	Storage jetstream.StorageType
}

// limitWarning is logged when the stream is limited: see streamConfig.
const limitWarning = "the WALLET_<p> streams are limited by nats.max_age or nats.max_bytes: ledger-service replay needs every event since the last ledger snapshot"

// ConfigFrom takes the stream's settings from the nats section.
func ConfigFrom(n config.NATSConfig) Config {
	c := Config{Partitions: n.Partitions, Replicas: n.Replicas, DuplicateWindow: n.DuplicateWindow, MaxAge: n.MaxAge, MaxBytes: n.MaxBytes}
	if n.Storage == "memory" {
		c.Storage = jetstream.MemoryStorage
	}
	return c
}

// streamConfig is partition p's stream as cfg wants it (the WALLET stream
// if cfg has no partitions): by default it keeps every event, refusing new
// ones when full, since replay rebuilds the ledger from the first (ADR
// 0007).
func streamConfig(cfg Config, p int) jetstream.StreamConfig {
	name, subjects := PartitionName(p), events.PartitionSubjects(p)
	if cfg.Partitions == 0 {
		name, subjects = Name, []string{events.StreamSubjects}
	}
	maxBytes, discard := int64(-1), jetstream.DiscardNew
	if cfg.MaxBytes > 0 {
		// A size limit that refused new messages would stop the wallet once
		// reached: a limited stream drops its oldest instead.
		maxBytes, discard = cfg.MaxBytes, jetstream.DiscardOld
	}
	return jetstream.StreamConfig{
		Name:       name,
		Subjects:   subjects,
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

// Ensure creates every partition's stream or updates it to cfg, once; see
// ensureStream. It returns the streams by partition (the WALLET stream
// alone without partitions). Services call Declare, which retries and logs
// the changes.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) ([]jetstream.Stream, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	out := make([]jetstream.Stream, cfg.streams())
	for p := range out {
		s, _, _, err := ensureStream(ctx, js, cfg, p)
		if err != nil {
			return nil, err
		}
		out[p] = s
	}
	return out, nil
}

// check refuses a negative number of partitions.
func (c Config) check() error {
	if c.Partitions < 0 {
		return fmt.Errorf("stream config: %d partitions (nats.partitions)", c.Partitions)
	}
	return nil
}

// streams is how many streams c declares.
func (c Config) streams() int { return max(c.Partitions, 1) }

// Unavailable reports an error that says NATS cannot be reached for now
// (disconnected, reconnecting, no server or no JetStream answering in
// time): retrying later can succeed.
func Unavailable(err error) bool {
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrNoHeartbeat)
}
