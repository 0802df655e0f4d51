package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/stream"
)

// AdvisoryStream keeps JetStream's max-deliveries advisories for the WALLET
// stream's consumers. The server publishes an advisory once, on core NATS,
// when it drops a message after a consumer's MaxDeliver; kept in a stream,
// one that comes while its service is down is still recorded when the
// service is back.
const AdvisoryStream = "WALLET_ADVISORIES"

// advisoryPrefix + stream + "." + consumer is the subject of a consumer's
// max-deliveries advisories. The watch takes a consumer's advisories of
// every stream (the partition streams WALLET_<p>, ADR 0038): the advisory
// names the stream its message is in.
const advisoryPrefix = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."

// maxDeliveries is the advisory's body (io.nats.jetstream.advisory.v1.max_deliver).
type maxDeliveries struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// Owner returns the database whose dead_letters table records a message
// its consumer dropped: m is the message as the WALLET stream holds it, or
// nil when the stream no longer does. A consumer of many shards' messages
// picks the shard that holds m's account now.
type Owner func(m *jetstream.RawStreamMsg) database.DB

// WatchAdvisories records, until ctx ends, every message JetStream dropped
// after the MaxDeliver of one of owners' consumers (consumer name → where
// its dead letters go), with the subject, headers and data fetched from the
// WALLET stream by sequence. name is the durable consumer on
// AdvisoryStream (outbox-relay provision declares the stream), one per
// service. Recording is idempotent (by consumer
// and stream sequence), so several instances of a service may watch at
// once.
func WatchAdvisories(ctx context.Context, js jetstream.JetStream, name string, owners map[string]Owner, log *slog.Logger) error {
	if len(owners) == 0 {
		return errors.New("deadletter: no consumers to watch")
	}
	subjects := make([]string, 0, len(owners))
	for c := range owners {
		subjects = append(subjects, advisoryPrefix+"*."+c)
	}
	// The stream is outbox-relay provision's (pkg/provision.Advisories);
	// the service verified it at start.
	if _, err := js.Stream(ctx, AdvisoryStream); err != nil {
		return fmt.Errorf("stream %s: %w", AdvisoryStream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, AdvisoryStream, jetstream.ConsumerConfig{
		Durable:        name,
		Description:    "records max-deliveries advisories as dead letters",
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        stream.AckWait,
		MaxDeliver:     -1, // an advisory unrecorded is a drop unseen
	})
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", name, AdvisoryStream, err)
	}
	log = log.With("consumer", name)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := recordAdvisory(ctx, js, owners, m.Data()); err != nil {
			log.Warn("record max-deliveries advisory, will retry", "err", err)
			_ = m.NakWithDelay(stream.RetryDelay(m))
			return
		}
		_ = m.Ack()
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		log.Warn("consume advisories", "err", err)
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", AdvisoryStream, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return nil
}

// recordAdvisory writes the dropped message an advisory names into the
// dead_letters its consumer's owner picks for it. A message the stream no
// longer holds is recorded without its content, so the drop is still seen.
func recordAdvisory(ctx context.Context, js jetstream.JetStream, owners map[string]Owner, body []byte) error {
	var a maxDeliveries
	if err := json.Unmarshal(body, &a); err != nil || a.StreamSeq == 0 || a.Stream == "" {
		return nil // not an advisory we can act on; retrying will not change it
	}
	owner, ok := owners[a.Consumer]
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reason := fmt.Sprintf("dropped by JetStream after %d deliveries (MaxDeliver)", a.Deliveries)
	// The same durable runs on every partition's stream, and stream
	// sequences repeat across streams: the dead letter names both
	// (saga@WALLET_2), which keeps (consumer, stream_seq) unique.
	consumer := stream.ConsumerLabel(a.Stream, a.Consumer)
	wallet, err := js.Stream(ctx, a.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", a.Stream, err)
	}
	msg, err := wallet.GetMsg(ctx, a.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return insert(ctx, owner(nil), consumer, "", nil, nil, &a.StreamSeq, reason+"; the message is no longer in the stream")
	}
	if err != nil {
		return fmt.Errorf("fetch %s message %d: %w", a.Stream, a.StreamSeq, err)
	}
	return insert(ctx, owner(msg), consumer, msg.Subject, msg.Header, msg.Data, &a.StreamSeq, reason)
}
