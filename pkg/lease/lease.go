// Package lease holds claims in a JetStream key-value bucket: one key per
// thing claimed, whose value names the holder. The bucket's TTL is the
// lease's: a key not renewed within it expires and another instance may
// create it. outbox-relay holds a lease per database server
// (wallet_relay_leases), ledger-service one per event partition
// (wallet_ledger_leases).
package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MinTTL is the shortest TTL JetStream accepts for a bucket.
const MinTTL = 100 * time.Millisecond

// Bucket looks a lease bucket up once, and again after an error that may
// mean it is gone (NATS lost its state). The bucket is outbox-relay
// provision's (ADR 0040): an instance only reads and writes its keys, and
// its TTL must be the bucket's (the service verifies it at start).
type Bucket struct {
	js          jetstream.JetStream
	name        string
	description string
	ttl         time.Duration
	replicas    int

	mu sync.Mutex
	kv jetstream.KeyValue
}

// NewBucket returns the bucket name with the lease TTL ttl; description
// and replicas are the bucket's as Config gives them.
func NewBucket(js jetstream.JetStream, name, description string, ttl time.Duration, replicas int) *Bucket {
	return &Bucket{js: js, name: name, description: description, ttl: ttl, replicas: replicas}
}

// Config is a lease bucket's configuration, as outbox-relay provision
// declares it: the TTL is the lease's.
func Config(name, description string, ttl time.Duration, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      name,
		Description: description,
		TTL:         max(ttl, MinTTL),
		Replicas:    max(replicas, 1),
		// A lease lost in a restart of NATS would let a second holder in
		// while the first still works, until its next renewal.
		Storage: jetstream.FileStorage,
	}
}

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.name }

// TTL is the lease TTL.
func (b *Bucket) TTL() time.Duration { return b.ttl }

// Config is the bucket's configuration (see Config).
func (b *Bucket) Config() jetstream.KeyValueConfig {
	return Config(b.name, b.description, b.ttl, b.replicas)
}

// Declare creates or updates the bucket: for tests and tools that own
// their NATS; in a deployment outbox-relay provision does.
func (b *Bucket) Declare(ctx context.Context) error {
	if _, err := b.js.CreateOrUpdateKeyValue(ctx, b.Config()); err != nil {
		return fmt.Errorf("declare key-value bucket %s: %w", b.name, err)
	}
	return nil
}

// KV returns the bucket, looking it up first if need be.
func (b *Bucket) KV(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	kv, err := b.js.KeyValue(ctx, b.name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("key-value bucket %s does not exist: run outbox-relay provision", b.name)
	}
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s: %w", b.name, err)
	}
	b.kv = kv
	return kv, nil
}

// Forget drops the bucket looked up, so that the next use looks it up again.
func (b *Bucket) Forget() {
	b.mu.Lock()
	b.kv = nil
	b.mu.Unlock()
}

// Lease is one instance's claim on one key. A holder that dies or stalls
// loses the lease when its key expires, one TTL after its last renewal
// (JetStream's clock). Every write is a compare-and-set on the key's
// revision: two instances cannot both create or renew it. A Lease is used
// by one goroutine at a time.
type Lease struct {
	Bucket *Bucket
	Key    string
	// Value names the holder; it must be unique to this instance.
	Value []byte

	rev     uint64    // revision of the key this instance wrote last; 0: none
	renewAt time.Time // local time after which the lease is renewed
}

// RenewAt is the local time after which Hold writes the key again; zero
// when the lease is not held.
func (l *Lease) RenewAt() time.Time { return l.renewAt }

// Held reports whether the last Hold took or kept the lease.
func (l *Lease) Held() bool { return l.rev != 0 }

// Hold takes or renews the lease and reports whether this instance holds
// it. It writes only when the lease is a third through its TTL, not per
// call. The lease counts from the moment before the write was sent: the key
// expires no earlier than a TTL after that, so the holder stops two thirds
// of a TTL (less a step) before anyone else may start.
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	ttl := l.Bucket.ttl
	if l.rev != 0 && time.Now().Before(l.renewAt) {
		return true, nil
	}
	l.renewAt = time.Time{}
	ctx, cancel := context.WithTimeout(ctx, ttl/3)
	defer cancel()
	kv, err := l.Bucket.KV(ctx)
	if err != nil {
		return false, err
	}
	start := time.Now()
	rev, err := l.write(ctx, kv)
	if err != nil {
		// NATS may have lost the bucket: declare it again next time.
		l.Bucket.Forget()
		return false, fmt.Errorf("lease on %s: %w", l.Key, err)
	}
	l.rev = rev
	if rev == 0 {
		return false, nil
	}
	l.renewAt = start.Add(ttl / 3)
	return true, nil
}

// write renews the key at the revision this instance wrote last, or creates
// it when it is absent (never taken, expired, released). It returns the new
// revision, or 0 when another instance holds the lease.
func (l *Lease) write(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	var err error
	if l.rev != 0 {
		var rev uint64
		if rev, err = kv.Update(ctx, l.Key, l.Value, l.rev); err == nil {
			return rev, nil
		}
	} else {
		var rev uint64
		if rev, err = kv.Create(ctx, l.Key, l.Value); err == nil {
			return rev, nil
		}
	}
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		// Unknown whether it was written: the next try finds out below.
		return l.rev, err
	}
	// Someone else's, or this instance's own from a write whose answer was
	// lost: the value, unique to this instance, tells.
	e, err := kv.Get(ctx, l.Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil // expired or released meanwhile: create it next time
	}
	if err != nil {
		return 0, err
	}
	if string(e.Value()) != string(l.Value) {
		return 0, nil
	}
	rev, err := kv.Update(ctx, l.Key, l.Value, e.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, nil
	}
	return rev, err
}

// Release gives the lease up, if this instance holds it, so that another
// can take over at once rather than after the TTL.
func (l *Lease) Release(ctx context.Context) {
	if l.rev == 0 {
		return
	}
	rev := l.rev
	l.rev, l.renewAt = 0, time.Time{}
	ctx, cancel := context.WithTimeout(ctx, l.Bucket.ttl/3)
	defer cancel()
	kv, err := l.Bucket.KV(ctx)
	if err != nil {
		return
	}
	// Only at the revision this instance wrote: never another's lease.
	_ = kv.Delete(ctx, l.Key, jetstream.LastRevision(rev))
}
