package outbox

import "github.com/nats-io/nats.go/jetstream"

// publishAsync publishes rw with its event id as Nats-Msg-Id, so that the
// stream drops a row published again within its duplicate window.
func publishAsync(js jetstream.JetStream, rw row) (jetstream.PubAckFuture, error) {
	return js.PublishMsgAsync(rw.event().Msg(), jetstream.WithMsgID(rw.EventID))
}
