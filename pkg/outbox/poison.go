package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
)

// errAccountLimits is JetStream's "resource limits exceeded for account": a
// full store, which frees up, not a row that can never fit.
const errAccountLimits jetstream.ErrorCode = 10002

// lookupTimeout bounds the question whether any stream takes a subject.
const lookupTimeout = 2 * time.Second

// permanent reports whether JetStream refused rw in a way that trying again
// cannot change: larger than the server's max payload, an invalid subject,
// topic or header, a subject (fact or saga step) no stream takes, or a
// request error of the stream's API (400, such as "message size exceeds
// maximum allowed"). Time-outs, closed
// connections, a stream without a leader and a full store are transient and
// retried for as long as they last.
func (s *shardRelay) permanent(ctx context.Context, rw row, err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrBadHeaderMsg),
		errors.Is(err, events.ErrMalformed): // a topic no partition's subjects can carry (Route)
		return true
	case errors.As(err, &api):
		return api.Code == 400 && api.ErrorCode != errAccountLimits
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		// No stream answered: none takes one of the row's subjects, or its
		// stream is unavailable (no leader, JetStream down). Only JetStream
		// itself saying that no stream matches is permanent.
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		subjects, _ := s.route.Subjects(rw.Topic) // published, so well formed
		for _, subject := range subjects {
			_, lerr := s.js.StreamNameBySubject(lctx, subject)
			if errors.Is(lerr, jetstream.ErrStreamNotFound) {
				return s.noStream(ctx, lctx, subject)
			}
		}
		return false
	}
	return false
}

// noStream decides about a subject no stream takes. If its partition's
// stream itself is gone (NATS lost its state), every row would be set
// aside: the rows are kept and retried once outbox-relay provision made it
// again. Otherwise the subject
// is one no partition takes, for good.
func (s *shardRelay) noStream(ctx, lctx context.Context, subject string) bool {
	r, err := events.ParseSubject(subject)
	if err != nil {
		return true
	}
	name := stream.PartitionName(r.Partition)
	if _, serr := s.js.Stream(lctx, name); errors.Is(serr, jetstream.ErrStreamNotFound) && r.Partition < s.route.Partitions {
		s.log.Error("a partition's stream is gone: run outbox-relay provision", "shard", s.shard, "stream", name)
		if s.cfg.Redeclare != nil {
			if derr := s.cfg.Redeclare(ctx); derr != nil {
				s.log.Error("verify the event streams", "err", derr)
			}
		}
		return false
	}
	return true
}

// maxErrorText bounds the error kept with a row.
const maxErrorText = 1000

// attempted records a permanent failure of rw and sets it aside once it has
// failed MaxAttempts times. It returns the failure while the row is still
// tried, nil once it is set aside (the next poll publishes the rows behind
// it at once).
func (s *shardRelay) attempted(ctx context.Context, rw row, cause error) error {
	msg := cause.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	setAside := rw.Attempts+1 >= s.cfg.MaxAttempts
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	q := "UPDATE " + s.table + " SET attempts = attempts + 1, last_error = ? WHERE id = ?"
	if setAside {
		q = "UPDATE " + s.table + " SET attempts = attempts + 1, last_error = ?, set_aside_at = NOW(6) WHERE id = ?"
	}
	if _, err := s.db.ExecContext(ctx, q, msg, rw.ID); err != nil {
		return fmt.Errorf("shard %d: record failed attempt of outbox %d: %w (publish: %w)", s.shard, rw.ID, err, cause)
	}
	if !setAside {
		return fmt.Errorf("shard %d: outbox %d refused (attempt %d of %d): %w", s.shard, rw.ID, rw.Attempts+1, s.cfg.MaxAttempts, cause)
	}
	s.m.setAside.Inc()
	s.again = true
	s.log.Error("outbox row set aside: never published, the rows behind it go on",
		"outbox_id", rw.ID, "event_id", rw.EventID, "type", rw.EventType, "subject", rw.Topic,
		"attempts", rw.Attempts+1, "err", msg)
	return nil
}
