// Package provision is the one owner of the wallet's JetStream streams and
// key-value buckets (ADR 0040). "outbox-relay provision", run with the
// wallet_admin NATS user, creates or updates them from the configuration
// (Apply, or Plan for --dry-run); the services only Verify, at start, that
// what they use exists with the configured settings, and refuse to start
// otherwise, naming the setting. So no service rewrites a shared setting
// from its own configuration, and the services' NATS users need no right to
// create, update or delete a stream.
package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/lease"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/stream"
)

// Command is what an operator runs to create or fix what Verify refuses.
const Command = "outbox-relay provision"

// LedgerLeaseBucket is the bucket of the ledger-service instances' leases,
// one key per event partition (ADR 0038). Its TTL is ledger.lease_ttl. It
// is ledger-service's app.LeaseBucket (an internal package).
const LedgerLeaseBucket = "wallet_ledger_leases"

// Settings are the configured settings of everything provisioned.
type Settings struct {
	// Stream is the event streams' settings (nats.*); its Replicas are the
	// buckets' and the advisory stream's too.
	Stream stream.Config
	// RelayLeaseTTL is relay.lease_ttl, LedgerLeaseTTL ledger.lease_ttl.
	RelayLeaseTTL  time.Duration
	LedgerLeaseTTL time.Duration
}

// SettingsFrom takes the settings from the configuration's sections.
func SettingsFrom(n config.NATSConfig, relayLeaseTTL, ledgerLeaseTTL time.Duration) Settings {
	return Settings{Stream: stream.ConfigFrom(n), RelayLeaseTTL: relayLeaseTTL, LedgerLeaseTTL: ledgerLeaseTTL}
}

// Kind of a Resource.
const (
	KindStream = "stream"
	KindBucket = "bucket"
	// KindAbsent is a stream that must not exist: the partition past the
	// last, whose presence means the streams were made for more partitions
	// than nats.partitions says, or the one stream of the release before
	// partitions, whose subjects overlap theirs. Its Absent says why.
	KindAbsent = "absent stream"
)

// Resource is one stream or bucket as the configuration wants it.
type Resource struct {
	Kind string
	Name string // the stream's or the bucket's name
	// Stream is a stream's wanted configuration (KindStream).
	Stream jetstream.StreamConfig
	// Bucket is a bucket's wanted configuration and the configuration
	// key of its TTL, if it has one (KindBucket).
	Bucket    jetstream.KeyValueConfig
	TTLConfig string
	// Absent is the refusal when a KindAbsent stream exists.
	Absent *Refusal
}

// Refusal is why a KindAbsent stream must not exist, as a setting whose
// value differs.
type Refusal struct {
	Change stream.Change
	Why    string
}

func (r Resource) String() string { return r.Kind + " " + r.Name }

// Streams are the event streams, WALLET_0 … WALLET_<P-1>, and the check
// that WALLET_<P> does not exist.
func Streams(s Settings) []Resource {
	rs := make([]Resource, 0, s.Stream.Partitions+1)
	for p := range s.Stream.Partitions {
		sc := stream.PartitionStream(s.Stream, p)
		rs = append(rs, Resource{Kind: KindStream, Name: sc.Name, Stream: sc})
	}
	n := strconv.Itoa(s.Stream.Partitions)
	return append(rs,
		Resource{Kind: KindAbsent, Name: stream.PartitionName(s.Stream.Partitions), Absent: &Refusal{
			Change: stream.Change{Setting: "nats.partitions (stream count)", From: "more than " + n, To: n},
			Why:    "the event streams were made for more partitions; a new partition count is a new deployment or a replay (ADR 0038)"}},
		Resource{Kind: KindAbsent, Name: stream.Name, Absent: &Refusal{
			Change: stream.Change{Setting: "nats.partitions (stream count)", From: "the one stream " + stream.Name, To: n + " streams"},
			Why: "the stream of the release before partitions takes every event subject, which overlaps the partition streams; " +
				"a new deployment, or delete it on purpose once every consumer read it to its end (ADR 0038)"}},
	)
}

// advisoryMaxAge bounds how long an unrecorded advisory is kept.
const advisoryMaxAge = 7 * 24 * time.Hour

// Advisories is the stream of the event consumers' max-deliveries
// advisories (deadletter.AdvisoryStream): one subject per partition stream.
func Advisories(s Settings) Resource {
	const prefix = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."
	subjects := make([]string, 0, s.Stream.Partitions+1)
	for p := range s.Stream.Partitions {
		subjects = append(subjects, prefix+stream.PartitionName(p)+".*")
	}
	// The consumers of the one stream before partitions, until none reads
	// it (stream.Name).
	subjects = append(subjects, prefix+stream.Name+".*")
	return Resource{Kind: KindStream, Name: deadletter.AdvisoryStream, Stream: jetstream.StreamConfig{
		Name:        deadletter.AdvisoryStream,
		Description: "JetStream max-deliveries advisories of the event consumers, until recorded as dead letters",
		Subjects:    subjects,
		Storage:     jetstream.FileStorage,
		Replicas:    max(s.Stream.Replicas, 1),
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      advisoryMaxAge,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
	}}
}

// Placement is the placement bucket (ADR 0029).
func Placement(s Settings) Resource {
	return Resource{Kind: KindBucket, Name: placement.Bucket, Bucket: placement.BucketConfig(s.Stream.Replicas)}
}

// RelayLeases is the relays' lease bucket, TTL relay.lease_ttl.
func RelayLeases(s Settings) Resource {
	return Resource{Kind: KindBucket, Name: outbox.LeaseBucket, Bucket: outbox.LeaseBucketConfig(s.RelayLeaseTTL, s.Stream.Replicas),
		TTLConfig: "relay.lease_ttl"}
}

// LedgerLeases is the ledger instances' lease bucket, TTL ledger.lease_ttl.
func LedgerLeases(s Settings) Resource {
	return Resource{Kind: KindBucket, Name: LedgerLeaseBucket, TTLConfig: "ledger.lease_ttl",
		Bucket: lease.Config(LedgerLeaseBucket, "which ledger-service instance applies each event partition", s.LedgerLeaseTTL, s.Stream.Replicas)}
}

// All is everything the wallet uses, in the order provisioning declares it.
func All(s Settings) []Resource {
	return append(Streams(s), Advisories(s), Placement(s), RelayLeases(s), LedgerLeases(s))
}

// Step is what provisioning does, or would do, to one resource.
type Step struct {
	Resource Resource
	Create   bool            // missing: created
	Changes  []stream.Change // differs: updated (empty and !Create: as wanted)
}

func (s Step) String() string {
	switch {
	case s.Resource.Kind == KindAbsent:
		return s.Resource.String() + ": absent, as wanted"
	case s.Create:
		return "create " + s.Resource.String()
	case len(s.Changes) > 0:
		cs := make([]string, len(s.Changes))
		for i, c := range s.Changes {
			cs[i] = c.String()
		}
		return "update " + s.Resource.String() + ": " + strings.Join(cs, ", ")
	default:
		return s.Resource.String() + ": unchanged"
	}
}

// errMissing says a resource does not exist.
var errMissing = errors.New("does not exist")

// state compares what the server has of r with what r wants: errMissing
// when it does not exist, else the differences.
func state(ctx context.Context, js jetstream.JetStream, r Resource) ([]stream.Change, error) {
	switch r.Kind {
	case KindStream, KindAbsent:
		s, err := js.Stream(ctx, r.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, errMissing
		}
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", r, err)
		}
		if r.Kind == KindAbsent {
			return nil, nil
		}
		return stream.Diff(s.CachedInfo().Config, r.Stream), nil
	default:
		kv, err := js.KeyValue(ctx, r.Name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, errMissing
		}
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", r, err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", r, err)
		}
		return bucketDiff(st, r), nil
	}
}

// bucketDiff compares the settings the wallet's buckets set.
func bucketDiff(st jetstream.KeyValueStatus, r Resource) []stream.Change {
	var cs []stream.Change
	add := func(setting string, from, to any) {
		if f, t := fmt.Sprint(from), fmt.Sprint(to); f != t {
			cs = append(cs, stream.Change{Setting: setting, From: f, To: t})
		}
	}
	want := r.Bucket
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		cfg := bs.StreamInfo().Config
		add("nats.replicas", cfg.Replicas, max(want.Replicas, 1))
		add("storage", cfg.Storage, want.Storage)
	}
	add("history", st.History(), int64(max(want.History, 1)))
	ttl := "ttl"
	if r.TTLConfig != "" {
		ttl = r.TTLConfig
	}
	add(ttl, st.TTL(), want.TTL)
	return cs
}

// Plan compares every resource of rs with the server and returns what
// Apply would do; it changes nothing. A change provisioning refuses is an
// error (stream.RefusedError), as Apply's.
func Plan(ctx context.Context, js jetstream.JetStream, rs []Resource) ([]Step, error) {
	steps := make([]Step, 0, len(rs))
	var refused []error
	for _, r := range rs {
		changes, err := state(ctx, js, r)
		switch {
		case errors.Is(err, errMissing):
			if r.Kind != KindAbsent {
				steps = append(steps, Step{Resource: r, Create: true})
			} else {
				steps = append(steps, Step{Resource: r})
			}
			continue
		case err != nil:
			return nil, err
		case r.Kind == KindAbsent:
			refused = append(refused, &stream.RefusedError{What: "stream " + r.Name, Change: r.Absent.Change, Why: r.Absent.Why})
			continue
		}
		for _, c := range changes {
			if c.Setting == "nats.storage" || c.Setting == "storage" {
				refused = append(refused, stream.StorageRefused(r.String(), c))
			}
		}
		steps = append(steps, Step{Resource: r, Changes: changes})
	}
	return steps, errors.Join(refused...)
}

// Apply creates what is missing and updates what differs, logging each
// change, after checking that nothing it must do is refused (then it does
// nothing and returns the refusals). It reads each changed resource back:
// a setting the server did not apply is an error. It returns the steps done.
func Apply(ctx context.Context, js jetstream.JetStream, rs []Resource, log *slog.Logger) ([]Step, error) {
	steps, err := Plan(ctx, js, rs)
	if err != nil {
		return nil, err
	}
	for _, st := range steps {
		if !st.Create && len(st.Changes) == 0 {
			continue
		}
		if err := apply(ctx, js, st); err != nil {
			return nil, err
		}
		if st.Create {
			log.Info(st.Resource.Kind+" created", "name", st.Resource.Name)
		}
		for _, c := range st.Changes {
			log.Info(st.Resource.Kind+" setting changed", "name", st.Resource.Name, "setting", c.Setting, "from", c.From, "to", c.To)
		}
		left, err := state(ctx, js, st.Resource)
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", st.Resource, err)
		}
		if len(left) > 0 {
			return nil, fmt.Errorf("%s: the server did not apply %s", st.Resource, changeList(left))
		}
	}
	return steps, nil
}

// apply makes one step.
func apply(ctx context.Context, js jetstream.JetStream, st Step) error {
	r := st.Resource
	var err error
	switch {
	case r.Kind == KindStream && st.Create:
		_, err = js.CreateStream(ctx, r.Stream)
	case r.Kind == KindStream:
		_, err = js.UpdateStream(ctx, r.Stream)
	case st.Create:
		_, err = js.CreateKeyValue(ctx, r.Bucket)
	default:
		_, err = js.UpdateKeyValue(ctx, r.Bucket)
	}
	if err != nil {
		if st.Create {
			return fmt.Errorf("create %s: %w", r, err)
		}
		return fmt.Errorf("update %s (%s): %w", r, changeList(st.Changes), err)
	}
	return nil
}

func changeList(cs []stream.Change) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, ", ")
}

// MismatchError is a setting in which a stream or bucket differs from the
// service's configuration: the service refuses to start.
type MismatchError struct {
	Resource string // "stream WALLET_0"
	Change   stream.Change
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: %s is %s, the configuration says %s: run %s with this configuration, or correct the service's",
		e.Resource, e.Change.Setting, e.Change.From, e.Change.To, Command)
}

// MissingError is a stream or bucket that still did not exist when
// Verify's wait ended.
type MissingError struct{ Resource string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s does not exist: run %s (as the wallet_admin NATS user) before the services", e.Resource, Command)
}

// Wait is how long a service waits at start for a stream or bucket that
// does not exist yet (the local stack and compose provision just before,
// or beside, the services' start) before it fails.
const Wait = time.Minute

// Verify checks that every resource of rs exists with the settings rs
// wants. A mismatch fails at once with a MismatchError per setting; a
// resource that does not exist is looked up again every second for up to
// wait, then fails with a MissingError; NATS not answering (a cluster still
// forming) is retried until ctx ends, as declaring was. A KindAbsent
// resource that exists is a mismatch of nats.partitions.
func Verify(ctx context.Context, js jetstream.JetStream, rs []Resource, wait time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(wait)
	for _, r := range rs {
		warned := false
		for pause := 100 * time.Millisecond; ; pause = min(2*pause, time.Second) {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			changes, err := state(actx, js, r)
			cancel()
			if err == nil {
				if r.Kind == KindAbsent {
					return &MismatchError{Resource: "stream " + r.Name, Change: r.Absent.Change}
				}
				errs := make([]error, len(changes))
				for i, c := range changes {
					errs[i] = &MismatchError{Resource: r.String(), Change: c}
				}
				if err := errors.Join(errs...); err != nil {
					return err
				}
				break
			}
			if errors.Is(err, errMissing) {
				if r.Kind == KindAbsent {
					break
				}
				if time.Now().After(deadline) {
					return &MissingError{Resource: r.String()}
				}
				if !warned {
					log.Warn(r.String()+" does not exist yet, waiting for "+Command, "until", deadline.Format(time.RFC3339))
					warned = true
				}
			} else {
				log.Warn("verify "+r.String()+" failed, retrying", "err", err, "in", pause.String())
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		}
	}
	return nil
}
