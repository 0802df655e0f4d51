//go:build !wallet_bug_no_msg_id

package outbox

import "github.com/nats-io/nats.go/jetstream"

// publishAsync publishes rw with its event id as Nats-Msg-Id, so that the
// stream drops a row published again within its duplicate window. System
// tests built with -tags wallet_bug_no_msg_id (msgid_bug.go) leave it out.
func publishAsync(js jetstream.JetStream, rw row) (jetstream.PubAckFuture, error) {
	return js.PublishMsgAsync(rw.event().Msg(), jetstream.WithMsgID(rw.EventID))
}
