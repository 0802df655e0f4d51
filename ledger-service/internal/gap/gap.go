// Package gap finds a gap in an event stream the ledger applies strictly in
// sequence (ADR 0008, ADR 0039): the next sequence the ledger needs is no
// longer in the stream while later messages are. Without this the ledger
// would nak the later messages for ever and look healthy.
//
// Everything is parameterised by the stream's name and the partition it
// carries, so that one detector serves each partition's stream (ADR 0038).
package gap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Causes of a gap, as far as the stream can tell.
const (
	// CauseBelowFirst: the missing messages lie below the stream's first
	// sequence: removed by its limits (max_age, max_msgs, max_bytes) or a
	// purge.
	CauseBelowFirst = "below the stream's first sequence: removed by its limits (max_age, max_msgs, max_bytes) or a purge"
	// CauseDeleted: the missing messages lie inside the stream: deleted
	// one by one (the delete-message API).
	CauseDeleted = "inside the stream: deleted messages"
)

// Gap is a range of stream sequences the ledger needs and the stream no
// longer holds, First..Last inclusive.
type Gap struct {
	Stream    string    `json:"stream"`
	Partition int       `json:"partition"`
	First     uint64    `json:"first"`
	Last      uint64    `json:"last"`
	Cause     string    `json:"cause"`
	Detected  time.Time `json:"detected_at"`
}

// Messages is how many sequence numbers the gap spans.
func (g Gap) Messages() uint64 { return g.Last - g.First + 1 }

func (g Gap) String() string {
	return fmt.Sprintf("partition %d (stream %s): messages %d..%d (%d) missing, %s", g.Partition, g.Stream,
		g.First, g.Last, g.Messages(), g.Cause)
}

// Find reports whether the message after pos (the last sequence applied) is
// missing from stream name while a later one exists, and if so the range
// missing. A message that is present but not delivered yet (an early
// delivery, a redelivery pending) is no gap; nor is a hole at the stream's
// end, which nothing waits behind.
func Find(ctx context.Context, js jetstream.JetStream, name string, partition int, pos uint64) (Gap, bool, error) {
	s, err := js.Stream(ctx, name) // reads the stream's info afresh
	if err != nil {
		return Gap{}, false, fmt.Errorf("stream %s: %w", name, err)
	}
	info := s.CachedInfo()
	g := Gap{Stream: name, Partition: partition, First: pos + 1, Detected: time.Now().UTC()}
	st := info.State
	if st.LastSeq <= pos || st.Msgs == 0 {
		return Gap{}, false, nil // nothing after the position
	}
	if st.FirstSeq > pos+1 {
		g.Last, g.Cause = st.FirstSeq-1, CauseBelowFirst
		return g, true, nil
	}
	next, err := nextAtOrAfter(ctx, s, pos+1)
	switch {
	case err != nil:
		return Gap{}, false, err
	case next == 0 || next == pos+1:
		return Gap{}, false, nil
	}
	g.Last, g.Cause = next-1, CauseDeleted
	return g, true, nil
}

// nextAtOrAfter is the sequence of the stream's first message at or after
// seq, 0 if there is none.
func nextAtOrAfter(ctx context.Context, s jetstream.Stream, seq uint64) (uint64, error) {
	m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(">"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: message at or after %d: %w", s.CachedInfo().Config.Name, seq, err)
	}
	return m.Sequence, nil
}

// Next is the sequence of stream s's first message at or after seq, 0 if
// there is none.
func Next(ctx context.Context, s jetstream.Stream, seq uint64) (uint64, error) {
	return nextAtOrAfter(ctx, s, seq)
}

// Range is a range of stream sequences, First..Last inclusive: a gap an
// operator skipped.
type Range struct {
	First, Last uint64
}

// Covered reports whether the ranges rs together hold every sequence of
// first..last: a replay passes a hole in the stream that the live ledger
// skipped as turns taken.
func Covered(rs []Range, first, last uint64) bool {
	for seq := first; seq <= last; {
		moved := false
		for _, r := range rs {
			if r.First <= seq && seq <= r.Last {
				if r.Last >= last {
					return true
				}
				seq, moved = r.Last+1, true
			}
		}
		if !moved {
			return false
		}
	}
	return true
}
