package outbox

import (
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// SetAside0 is shard 0's wallet_outbox_set_aside_total, for the tests.
var SetAside0 = setAsideTotal.WithLabelValues("0")

// NewRelayBeforeMark is NewRelay with a hook that runs after JetStream
// acknowledged a chunk and before its rows are marked published: crash
// tests panic in it to stop the relay at the worst moment.
func NewRelayBeforeMark(js jetstream.JetStream, cfg RelayConfig, log *slog.Logger, beforeMark func()) (*Relay, error) {
	r, err := NewRelay(js, cfg, log)
	if err == nil {
		r.beforeMark = beforeMark
	}
	return r, err
}
