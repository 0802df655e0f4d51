package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket is the JetStream key-value bucket of the relays' leases: one
// key per database server (its name), whose value names the relay instance
// that publishes the server's shards. The bucket's TTL is the lease's: a key
// not renewed within it expires, and another relay may create it.
const LeaseBucket = "wallet_relay_leases"

// minLeaseTTL is the shortest TTL JetStream accepts for a bucket.
const minLeaseTTL = 100 * time.Millisecond

// LeaseBucketConfig is the lease bucket as outbox-relay provision declares
// it: the TTL is relay.lease_ttl, the replicas the event streams'.
func LeaseBucketConfig(ttl time.Duration, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "which outbox relay publishes each database server's shards",
		TTL:         max(ttl, minLeaseTTL),
		Replicas:    max(replicas, 1),
		// A lease lost in a restart of NATS would let a second relay in
		// while the holder still publishes, until its next renewal.
		Storage: jetstream.FileStorage,
	}
}

// leases looks the lease bucket up once, and again after an error that may
// mean it is gone (NATS lost its state). The bucket is outbox-relay
// provision's: a relay may only read and write its keys (ADR 0040).
type leases struct {
	js jetstream.JetStream

	mu sync.Mutex
	kv jetstream.KeyValue
}

// bucket returns the bucket, looking it up first if need be.
func (l *leases) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kv != nil {
		return l.kv, nil
	}
	kv, err := l.js.KeyValue(ctx, LeaseBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("key-value bucket %s does not exist: run outbox-relay provision", LeaseBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s: %w", LeaseBucket, err)
	}
	l.kv = kv
	return kv, nil
}

// forget drops the declared bucket, so that the next use declares it again.
func (l *leases) forget() {
	l.mu.Lock()
	l.kv = nil
	l.mu.Unlock()
}

// lease is one relay's claim on one database server's outboxes. Only the
// holder publishes the server's shards, so per-shard order holds with
// several relays running; a holder that dies or stalls loses the lease when
// its key expires, one TTL after its last renewal (JetStream's clock). Every
// write is a compare-and-set on the key's revision: two relays cannot both
// create or renew it. Should two relays ever both publish a row (a stalled
// holder waking up), JetStream drops the second copy by its Nats-Msg-Id.
type lease struct {
	leases *leases
	key    string // the server's name
	value  []byte // the holder's owner name and this relay's token
	ttl    time.Duration

	rev     uint64    // revision of the key this relay wrote last; 0: none
	renewAt time.Time // local time after which the lease is renewed
}

// hold takes or renews the lease and reports whether this relay holds it.
// It writes only when the lease is a third through its TTL, not per round.
// The lease counts from the moment before the write was sent: the key
// expires no earlier than a TTL after that, so this relay stops publishing
// two thirds of a TTL (less a step) before anyone else may start.
func (l *lease) hold(ctx context.Context) (bool, error) {
	if l.rev != 0 && time.Now().Before(l.renewAt) {
		return true, nil
	}
	l.renewAt = time.Time{}
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	kv, err := l.leases.bucket(ctx)
	if err != nil {
		return false, err
	}
	start := time.Now()
	rev, err := l.write(ctx, kv)
	if err != nil {
		// NATS may have lost the bucket: declare it again next time.
		l.leases.forget()
		return false, fmt.Errorf("lease on %s: %w", l.key, err)
	}
	l.rev = rev
	if rev == 0 {
		return false, nil
	}
	l.renewAt = start.Add(l.ttl / 3)
	return true, nil
}

// write renews the key at the revision this relay wrote last, or creates it
// when it is absent (never taken, expired, released). It returns the new
// revision, or 0 when another relay holds the lease.
func (l *lease) write(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	var err error
	if l.rev != 0 {
		var rev uint64
		if rev, err = kv.Update(ctx, l.key, l.value, l.rev); err == nil {
			return rev, nil
		}
	} else {
		var rev uint64
		if rev, err = kv.Create(ctx, l.key, l.value); err == nil {
			return rev, nil
		}
	}
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		// Unknown whether it was written: the next try finds out below.
		return l.rev, err
	}
	// Someone else's, or this relay's own from a write whose answer was
	// lost: the value, unique to this relay, tells.
	e, err := kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil // expired or released meanwhile: create it next time
	}
	if err != nil {
		return 0, err
	}
	if string(e.Value()) != string(l.value) {
		return 0, nil
	}
	rev, err := kv.Update(ctx, l.key, l.value, e.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, nil
	}
	return rev, err
}

// release gives the lease up, if this relay holds it, so that another relay
// can take over at once rather than after the TTL.
func (l *lease) release(ctx context.Context) {
	if l.rev == 0 {
		return
	}
	rev := l.rev
	l.rev, l.renewAt = 0, time.Time{}
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	kv, err := l.leases.bucket(ctx)
	if err != nil {
		return
	}
	// Only at the revision this relay wrote: never another's lease.
	_ = kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
}
