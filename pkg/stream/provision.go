package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Provisioning is explicit: the stream and the consumers are what the
// configuration says. An existing one that differs is updated, and each
// changed setting is logged; a change JetStream cannot apply is refused with
// the setting, the current and the wanted value, never silently ignored.
// After an update the server's config is read back and compared, so a
// setting the server kept as it was is an error too.

// Change is one setting that differs between what runs and what is wanted.
type Change struct {
	Setting string // the configuration key, e.g. nats.duplicate_window
	From    string // current value
	To      string // wanted value
}

func (c Change) String() string { return fmt.Sprintf("%s %s → %s", c.Setting, c.From, c.To) }

func changeList(cs []Change) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, ", ")
}

// RefusedError is a configuration change that cannot be applied to the
// existing stream or consumer. Retrying does not help: an operator either
// reverts the setting or recreates the stream (or consumer) on purpose.
type RefusedError struct {
	What   string // "stream WALLET" or "consumer saga-shard-0"
	Change Change
	Why    string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: refusing to change %s from %s to %s: %s", e.What, e.Change.Setting, e.Change.From, e.Change.To, e.Why)
}

// Permanent reports whether provisioning failed in a way no retry fixes: a
// refused change, or a configuration the server rejects as invalid (replicas
// > 1 on a server without a cluster). Everything else — JetStream not
// enabled yet, no meta leader elected, not enough peers up, time-outs — is
// what a cluster that is still forming answers, and is retried.
func Permanent(err error) bool {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10052, // JSStreamInvalidConfigF
			10074: // JSStreamReplicasNotSupportedErr
			return true
		}
	}
	return false
}

// Bounds of the pause between provisioning attempts, and of one attempt.
const (
	provisionMinRetry = 250 * time.Millisecond
	provisionMaxRetry = 10 * time.Second
	provisionAttempt  = 5 * time.Second
)

// provision calls fn until it succeeds, fails permanently or ctx ends,
// with capped exponential back-off between attempts. Each attempt has its
// own time limit: a JetStream API request that nobody answers (no meta
// leader yet) would otherwise wait for as long as ctx lasts.
func provision(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	for delay := provisionMinRetry; ; delay = min(2*delay, provisionMaxRetry) {
		actx, cancel := context.WithTimeout(ctx, provisionAttempt)
		err := fn(actx)
		cancel()
		if err == nil || Permanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn(what+" failed, retrying", "err", err, "in", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Declare creates or updates the WALLET stream to cfg, retrying with capped
// back-off until it succeeds, is refused (Permanent) or ctx ends, and logs
// what it created or changed. For tests and tools: the services verify the
// streams outbox-relay provision declares (pkg/provision).
func Declare(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (jetstream.Stream, error) {
	if cfg.MaxAge > 0 || cfg.MaxBytes > 0 {
		log.Warn(limitWarning, "max_age", cfg.MaxAge, "max_bytes", cfg.MaxBytes)
	}
	var s jetstream.Stream
	err := provision(ctx, log, "declare stream "+Name, func(ctx context.Context) error {
		var changes []Change
		var created bool
		var err error
		s, created, changes, err = ensureStream(ctx, js, streamConfig(cfg))
		if err == nil {
			logChanges(log, "stream", Name, created, changes)
		}
		return err
	})
	return s, err
}

// logChanges logs a created or updated stream or consumer; an unchanged one
// is not logged, so a restart with the same configuration says nothing.
func logChanges(log *slog.Logger, kind, name string, created bool, changes []Change) {
	switch {
	case created:
		log.Info(kind+" created", kind, name)
	case len(changes) > 0:
		for _, c := range changes {
			log.Info(kind+" setting changed", kind, name, "setting", c.Setting, "from", c.From, "to", c.To)
		}
	}
}

// ensureStream makes one attempt: create the stream, or compare the
// existing one with cfg, refuse what cannot change, update the rest and
// check that the server applied it. It returns the changes made.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (_ jetstream.Stream, created bool, _ []Change, _ error) {
	what := "stream " + want.Name
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if s, err = js.CreateStream(ctx, want); err != nil {
			return nil, false, nil, fmt.Errorf("create %s: %w", what, err)
		}
		if err := checkApplied(what, streamDiff(s.CachedInfo().Config, want)); err != nil {
			return nil, false, nil, err
		}
		return s, true, nil, nil
	}
	if err != nil {
		return nil, false, nil, fmt.Errorf("look up %s: %w", what, err)
	}
	changes := streamDiff(s.CachedInfo().Config, want)
	if len(changes) == 0 {
		return s, false, nil, nil
	}
	for _, c := range changes {
		if c.Setting == "nats.storage" {
			return nil, false, nil, StorageRefused(what, c)
		}
	}
	if s, err = js.UpdateStream(ctx, want); err != nil {
		return nil, false, nil, fmt.Errorf("update %s (%s): %w", what, changeList(changes), err)
	}
	if err := checkApplied(what, streamDiff(s.CachedInfo().Config, want)); err != nil {
		return nil, false, nil, err
	}
	return s, false, changes, nil
}

// checkApplied fails if the server's config still differs after a create or
// update.
func checkApplied(what string, left []Change) error {
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("%s: the server did not apply %s", what, changeList(left))
}

// Diff returns the settings in which the stream cur differs from want (as
// streamConfig or PartitionStream make it), each named by its
// configuration key where there is one (nats.duplicate_window, …).
func Diff(cur, want jetstream.StreamConfig) []Change { return streamDiff(cur, want) }

// StorageRefused is the refusal of a storage change on the stream what:
// JetStream cannot convert a stream's storage.
func StorageRefused(what string, c Change) *RefusedError {
	return &RefusedError{What: what, Change: c,
		Why: "JetStream cannot convert a stream's storage; keep the setting, or move the events to a new stream on purpose"}
}

// streamDiff compares the fields streamConfig sets, named by their
// configuration key where there is one.
func streamDiff(cur, want jetstream.StreamConfig) []Change {
	var cs []Change
	add := func(setting string, from, to any) {
		if f, t := fmt.Sprint(from), fmt.Sprint(to); f != t {
			cs = append(cs, Change{Setting: setting, From: f, To: t})
		}
	}
	add("nats.partitions (subjects)", cur.Subjects, want.Subjects)
	add("nats.storage", cur.Storage, want.Storage)
	add("nats.replicas", cur.Replicas, want.Replicas)
	add("nats.duplicate_window", cur.Duplicates, want.Duplicates)
	add("retention", cur.Retention, want.Retention)
	add("nats.max_age", cur.MaxAge, want.MaxAge)
	add("max_msgs", cur.MaxMsgs, want.MaxMsgs)
	add("nats.max_bytes", cur.MaxBytes, want.MaxBytes)
	add("discard", cur.Discard, want.Discard)
	return cs
}

// DeclareConsumer creates or updates the durable consumer cfg on the WALLET
// stream like Declare does the stream: retried until it succeeds, is
// refused or ctx ends; changes logged.
func DeclareConsumer(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	return DeclareConsumerOn(ctx, js, Name, cfg, log)
}

// DeclareConsumerOn is DeclareConsumer on the stream name.
func DeclareConsumerOn(ctx context.Context, js jetstream.JetStream, name string, cfg jetstream.ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	label := ConsumerLabel(name, cfg.Durable)
	err := provision(ctx, log, "declare consumer "+label, func(ctx context.Context) error {
		var changes []Change
		var created bool
		var err error
		c, created, changes, err = ensureConsumer(ctx, js, name, cfg)
		if err == nil {
			logChanges(log, "consumer", label, created, changes)
		}
		return err
	})
	return c, err
}

// ensureConsumer makes one attempt, as ensureStream does.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, name string, want jetstream.ConsumerConfig) (_ jetstream.Consumer, created bool, _ []Change, _ error) {
	what := "consumer " + ConsumerLabel(name, want.Durable)
	var changes []Change
	cur, err := js.Consumer(ctx, name, want.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		created = true
	case err != nil:
		return nil, false, nil, fmt.Errorf("look up %s: %w", what, err)
	default:
		want = keepStart(cur.CachedInfo().Config, want)
		changes = consumerDiff(cur.CachedInfo().Config, want)
		if len(changes) == 0 {
			return cur, false, nil, nil
		}
		for _, c := range changes {
			switch c.Setting {
			case "deliver_policy", "ack_policy":
				return nil, false, nil, &RefusedError{What: what, Change: c,
					Why: "JetStream cannot change it on an existing consumer; delete the consumer on purpose to recreate it"}
			}
		}
	}
	c, err := js.CreateOrUpdateConsumer(ctx, name, want)
	if err != nil {
		if len(changes) > 0 {
			return nil, false, nil, fmt.Errorf("update %s (%s): %w", what, changeList(changes), err)
		}
		return nil, false, nil, fmt.Errorf("create %s: %w", what, err)
	}
	if err := checkApplied(what, consumerDiff(c.CachedInfo().Config, want)); err != nil {
		return nil, false, nil, err
	}
	return c, created, changes, nil
}

// keepStart returns want with cur's start position when want asks for
// every message (DeliverAll) and cur was created to start at a sequence or
// a time: where a consumer starts only matters when it is created. The
// saga's consumer is created at the ack floor of the consumers it replaces
// (saga.Runner); recreated after a loss it starts from the first message,
// as any other (ADR 0017).
func keepStart(cur, want jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	if want.DeliverPolicy == jetstream.DeliverAllPolicy &&
		(cur.DeliverPolicy == jetstream.DeliverByStartSequencePolicy || cur.DeliverPolicy == jetstream.DeliverByStartTimePolicy) {
		want.DeliverPolicy, want.OptStartSeq, want.OptStartTime = cur.DeliverPolicy, cur.OptStartSeq, cur.OptStartTime
	}
	return want
}

// consumerDiff compares the fields the wallet's consumers set (a zero
// wanted value is the server's default and not compared).
func consumerDiff(cur, want jetstream.ConsumerConfig) []Change {
	var cs []Change
	add := func(setting string, from, to any) {
		if f, t := fmt.Sprint(from), fmt.Sprint(to); f != t {
			cs = append(cs, Change{Setting: setting, From: f, To: t})
		}
	}
	add("description", cur.Description, want.Description)
	add("filter_subject", cur.FilterSubject, want.FilterSubject)
	if !slices.Equal(cur.FilterSubjects, want.FilterSubjects) {
		add("filter_subjects", cur.FilterSubjects, want.FilterSubjects)
	}
	add("deliver_policy", cur.DeliverPolicy, want.DeliverPolicy)
	add("ack_policy", cur.AckPolicy, want.AckPolicy)
	if want.AckWait != 0 {
		add("ack_wait", cur.AckWait, want.AckWait)
	}
	if want.MaxDeliver != 0 {
		add("max_deliver", cur.MaxDeliver, want.MaxDeliver)
	}
	if want.MaxAckPending != 0 {
		add("max_ack_pending", cur.MaxAckPending, want.MaxAckPending)
	}
	add("backoff", cur.BackOff, want.BackOff)
	return cs
}
