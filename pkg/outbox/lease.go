package outbox

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/lease"
)

// LeaseBucket is the JetStream key-value bucket of the relays' leases: one
// key per database server (its name), whose value names the relay instance
// that publishes the server's shards. The bucket's TTL is the lease's: a key
// not renewed within it expires, and another relay may create it (see
// package lease).
const LeaseBucket = "wallet_relay_leases"

// minLeaseTTL is the shortest TTL JetStream accepts for a bucket.
const minLeaseTTL = lease.MinTTL

// leaseDescription describes LeaseBucket.
const leaseDescription = "which outbox relay publishes each database server's shards"

// LeaseBucketConfig is the lease bucket as outbox-relay provision declares
// it: the TTL is relay.lease_ttl, the replicas the event streams'. The
// relays only look it up (ADR 0040).
func LeaseBucketConfig(ttl time.Duration, replicas int) jetstream.KeyValueConfig {
	return lease.Config(LeaseBucket, leaseDescription, ttl, replicas)
}

// Only the holder of a server's lease publishes the server's shards, so
// per-shard order holds with several relays running. Should two relays ever
// both publish a row (a stalled holder waking up), JetStream drops the
// second copy by its Nats-Msg-Id.
