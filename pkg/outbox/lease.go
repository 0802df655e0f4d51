package outbox

import (
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

// Only the holder of a server's lease publishes the server's shards, so
// per-shard order holds with several relays running. Should two relays ever
// both publish a row (a stalled holder waking up), JetStream drops the
// second copy by its Nats-Msg-Id.
