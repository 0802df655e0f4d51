package placement

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the JetStream key-value bucket of the placement; its one key,
// Key, holds the current Map (see Map for the encoding).
const (
	Bucket = "wallet_placement"
	Key    = "map"
)

// history is how many versions the bucket keeps: a few, for an operator
// looking at past moves with `nats kv history`; routing reads the last.
const history = 8

// Store is the placement in its bucket. Every change is a compare-and-swap
// on the key's revision, so two writers cannot both build on one version.
type Store struct {
	kv jetstream.KeyValue
	nc *nats.Conn // for its reconnect count: see Follower.watch
}

// BucketConfig is the placement bucket as outbox-relay provision declares
// it (replicas as the event streams' nats.replicas). It always uses file
// storage, even when the streams are in memory: a placement lost in a
// restart would be bootstrapped anew from the configuration and forget
// every move.
func BucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "which database server holds each logical shard (ADR 0029)",
		History:     history,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	}
}

// Declare creates or updates the bucket and returns the store: for tests
// and tools that own their NATS. The services only Attach: the bucket is
// outbox-relay provision's (ADR 0040), and its users may not create it.
func Declare(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, BucketConfig(replicas))
	if err != nil {
		return nil, fmt.Errorf("declare key-value bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv, nc: js.Conn()}, nil
}

// Attach returns the store of the existing bucket (outbox-relay provision
// declares it); ErrNoPlacement when there is none.
func Attach(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: no key-value bucket %s", ErrNoPlacement, Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv, nc: js.Conn()}, nil
}

// Load returns the current map and the key's revision; ErrNoPlacement when
// none was stored yet.
func (s *Store) Load(ctx context.Context) (Map, uint64, error) {
	e, err := s.kv.Get(ctx, Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Map{}, 0, fmt.Errorf("%w: bucket %s has no key %s", ErrNoPlacement, Bucket, Key)
	}
	if err != nil {
		return Map{}, 0, fmt.Errorf("load placement: %w", err)
	}
	m, err := Decode(e.Value())
	if err != nil {
		return Map{}, 0, fmt.Errorf("placement revision %d: %w", e.Revision(), err)
	}
	return m, e.Revision(), nil
}

// Bootstrap stores m if no map is stored yet and returns the map in force:
// m, or the one stored before, which wins. Instances starting together
// with one configuration so agree on one map whoever is first. A stored
// map with another shard count is an error: only a split changes it.
func (s *Store) Bootstrap(ctx context.Context, m Map) (Map, error) {
	if err := m.Validate(); err != nil {
		return Map{}, err
	}
	b, err := m.Encode()
	if err != nil {
		return Map{}, err
	}
	_, err = s.kv.Create(ctx, Key, b)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return Map{}, fmt.Errorf("bootstrap placement: %w", err)
	}
	stored, _, err := s.Load(ctx)
	if err != nil {
		return Map{}, err
	}
	if stored.Shards != m.Shards {
		return Map{}, fmt.Errorf("%w: the stored placement has %d logical shards, the configuration %d",
			ErrInvalid, stored.Shards, m.Shards)
	}
	return stored, nil
}

// Update stores fn's change of the current map, if that is still from:
// the stored version must equal from's, fn must return the next version
// (Move and AddServer do) with the same shard count, or the current map's
// Split, and nobody may store another map between the read and the write;
// otherwise ErrStale and nothing changes. It returns the stored map.
func (s *Store) Update(ctx context.Context, from Map, fn func(Map) (Map, error)) (Map, error) {
	cur, rev, err := s.Load(ctx)
	if err != nil {
		return Map{}, err
	}
	if cur.Version != from.Version {
		return Map{}, fmt.Errorf("%w: stored version %d, read version %d", ErrStale, cur.Version, from.Version)
	}
	next, err := fn(cur)
	if err != nil {
		return Map{}, err
	}
	if err := next.Validate(); err != nil {
		return Map{}, err
	}
	if next.Version != cur.Version+1 || (next.Shards != cur.Shards && !isSplit(cur, next)) {
		return Map{}, fmt.Errorf("%w: version %d with %d shards does not follow version %d with %d",
			ErrInvalid, next.Version, next.Shards, cur.Version, cur.Shards)
	}
	b, err := next.Encode()
	if err != nil {
		return Map{}, err
	}
	if _, err := s.kv.Update(ctx, Key, b, rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return Map{}, fmt.Errorf("%w: revision %d was replaced while version %d was written", ErrStale, rev, next.Version)
		}
		return Map{}, fmt.Errorf("store placement version %d: %w", next.Version, err)
	}
	return next, nil
}

// isSplit reports whether next is cur.Split(next.Shards), owners and all.
func isSplit(cur, next Map) bool {
	want, err := cur.Split(next.Shards)
	return err == nil && slices.Equal(want.Owner, next.Owner) && slices.Equal(want.Servers, next.Servers)
}
