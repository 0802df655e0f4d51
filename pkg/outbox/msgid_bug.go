//go:build wallet_bug_no_msg_id

package outbox

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishAsync publishes rw without Nats-Msg-Id in this deliberately broken
// test build, so a row published twice is twice in the stream (see msgid.go).
func publishAsync(js jetstream.JetStream, rw row) (jetstream.PubAckFuture, error) {
	m := rw.event().Msg()
	m.Header.Del(nats.MsgIdHdr) // events.Event.Msg sets it as well
	return js.PublishMsgAsync(m)
}
