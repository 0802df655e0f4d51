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
	"github.com/walletco/wallet/pkg/events"
)

// Name is the stream every wallet event goes to.
const Name = "WALLET"

// Connect dials url and keeps reconnecting forever: a service outlives broker
// restarts instead of exiting. name shows in the server's connection list.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrl())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", url, err)
	}
	return nc, nil
}

// Config shapes the WALLET stream.
type Config struct {
	Replicas        int
	DuplicateWindow time.Duration
}

// Ensure creates the WALLET stream or updates it to cfg.
//
// The stream is the record the ledger can be rebuilt from (ledger-service
// replay reads it from the first event), so it keeps everything: no age,
// message-count or size limit, and when the server runs out of room it
// refuses new messages (the relay retries them) rather than dropping old
// ones. Operators size the JetStream store for that, or archive the stream
// together with a ledger snapshot before trimming it.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       Name,
		Subjects:   []string{events.StreamSubjects},
		Storage:    jetstream.FileStorage,
		Replicas:   cfg.Replicas,
		Duplicates: cfg.DuplicateWindow, // an existing stream is updated too: see config.NATSConfig.DuplicateWindow
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     0,  // forever
		MaxMsgs:    -1, // unlimited
		MaxBytes:   -1, // unlimited
		Discard:    jetstream.DiscardNew,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", Name, err)
	}
	return s, nil
}

// Open connects to cfg.URL as name and creates or updates the WALLET stream,
// returning the connection (the caller drains it) and its JetStream context.
func Open(ctx context.Context, url, name string, cfg Config, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := Connect(url, name, log)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		_, err = Ensure(ctx, js, cfg)
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
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
