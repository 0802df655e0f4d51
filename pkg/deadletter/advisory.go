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

// AdvisoryStream keeps JetStream's max-deliveries advisories for the
// consumers of the partitions' streams (WALLET_<p>). The server publishes
// an advisory once, on core NATS, when it drops a message after a
// consumer's MaxDeliver; kept in a stream, one that comes while its service
// is down is still recorded when the service is back.
const AdvisoryStream = "WALLET_ADVISORIES"

// advisoryPrefix + stream + "." + consumer is the subject of a consumer's
// max-deliveries advisories.
const advisoryPrefix = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."

// advisoryMaxAge bounds how long an unrecorded advisory is kept.
const advisoryMaxAge = 7 * 24 * time.Hour

// maxDeliveries is the advisory's body (io.nats.jetstream.advisory.v1.max_deliver).
type maxDeliveries struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// Owner returns the database whose dead_letters table records a message
// its consumer dropped: m is the message as its stream holds it, or
// nil when the stream no longer does. A consumer of many shards' messages
// picks the shard that holds m's account now.
type Owner func(m *jetstream.RawStreamMsg) database.DB

// WatchAdvisories records, until ctx ends, every message JetStream dropped
// after the MaxDeliver of one of owners' durable consumers (durable name →
// where its dead letters go) on any of streams (the partitions' streams,
// each with the same durables), with the subject, headers and data fetched
// from the message's stream by sequence. The dead letter names its
// consumer stream.ConsumerLabel(stream, durable). name is the durable
// consumer on AdvisoryStream, one per service. Recording is idempotent
// (by consumer and stream sequence), so several instances of a service may
// watch at once.
func WatchAdvisories(ctx context.Context, js jetstream.JetStream, name string, replicas int, streams []string, owners map[string]Owner, log *slog.Logger) error {
	if len(owners) == 0 || len(streams) == 0 {
		return errors.New("deadletter: no consumers to watch")
	}
	var subjects, all []string
	for _, s := range streams {
		all = append(all, advisoryPrefix+s+".*")
		for c := range owners {
			subjects = append(subjects, advisoryPrefix+s+"."+c)
		}
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        AdvisoryStream,
		Description: "JetStream max-deliveries advisories of the event partitions' consumers, until recorded as dead letters",
		Subjects:    all,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      advisoryMaxAge,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", AdvisoryStream, err)
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
	watched := map[string]jetstream.Stream{}
	for _, s := range streams {
		if watched[s], err = js.Stream(ctx, s); err != nil {
			return fmt.Errorf("stream %s: %w", s, err)
		}
	}
	log = log.With("consumer", name)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := recordAdvisory(ctx, watched, owners, m.Data()); err != nil {
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
func recordAdvisory(ctx context.Context, streams map[string]jetstream.Stream, owners map[string]Owner, body []byte) error {
	var a maxDeliveries
	if err := json.Unmarshal(body, &a); err != nil || a.StreamSeq == 0 {
		return nil // not an advisory we can act on; retrying will not change it
	}
	owner, ok := owners[a.Consumer]
	wallet, watched := streams[a.Stream]
	if !ok || !watched {
		return nil
	}
	consumer := stream.ConsumerLabel(a.Stream, a.Consumer)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reason := fmt.Sprintf("dropped by JetStream after %d deliveries (MaxDeliver)", a.Deliveries)
	msg, err := wallet.GetMsg(ctx, a.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return insert(ctx, owner(nil), consumer, "", nil, nil, &a.StreamSeq, reason+"; the message is no longer in the stream")
	}
	if err != nil {
		return fmt.Errorf("fetch %s message %d: %w", a.Stream, a.StreamSeq, err)
	}
	return insert(ctx, owner(msg), consumer, msg.Subject, msg.Header, msg.Data, &a.StreamSeq, reason)
}
