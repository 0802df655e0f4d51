// Package config loads a wallet binary's configuration: defaults, then
// config.yaml, then WALLET_* environment variables (WALLET_NATS_URL for
// nats.url). Every binary reads the same file, but only the sections its own
// struct names (AccountService, LedgerService, OutboxRelay), and validates
// only those.
package config

import (
	"time"

	"github.com/spf13/viper"
)

// LogLevel is log_level: debug, info, warn or error. Default info.
type LogLevel string

// Shards are the DSNs of the logical shards' schemas, in shard order; an
// entry may declare a range, "…/wallet_shard_{0..255}" (ExpandShards). The
// count and order are part of the data: an account's shard is FNV-1a(id)
// mod len(Shards), and only "account-service shards split" changes the
// count. The server a DSN names is where the shard starts; the stored
// placement says where it is now. Default: 256 schemas wallet_shard_0..255
// on the local MariaDB (docs/adr/0036).
type Shards []string

// Servers are the deployment's database servers as "name=DSN" entries, the
// DSN without a schema, e.g. db2=wallet:wallet@tcp(10.0.0.2:3306)/. Shards
// move between them (account-service shards move); the names are the
// placement's. Default none: one server per distinct server the shard DSNs
// name, called db1, db2, … in their order.
type Servers []string

// AuthConfig says how the HTTP APIs verify bearer tokens (SECURITY.md).
type AuthConfig struct {
	// JWTSecret verifies HS256 tokens (the local stack; at least 32 bytes).
	// Env WALLET_AUTH_JWT_SECRET. Default none.
	JWTSecret string `mapstructure:"jwt_secret"`
	// JWKSURL serves the identity provider's RS256/ES256 keys. With it,
	// issuer and audience are required and jwt_secret is refused (a local
	// secret would be a master key next to the provider). Default none.
	JWKSURL string `mapstructure:"jwks_url"`
	// Issuer and Audience must match a token's iss and aud: required with
	// jwks_url, optional for HS256 alone. Default none.
	Issuer   string `mapstructure:"issuer"`
	Audience string `mapstructure:"audience"`
	// Disabled lets every request in as an operator, logged loudly at
	// start. Local experiments only. Default false.
	Disabled bool `mapstructure:"disabled"`
}

// HTTPConfig limits the HTTP APIs.
type HTTPConfig struct {
	// RateLimit is the requests per second one customer (by token subject)
	// or anonymous client (by IP) may send; operators and services are not
	// limited. 0: no limit. Default 50.
	RateLimit float64 `mapstructure:"rate_limit"`
	// RateBurst is the bucket size of the rate limit. Default 100.
	RateBurst int `mapstructure:"rate_burst"`
	// MaxConnectionsPerClient bounds the connections one remote IP holds
	// at once on account-service and ledger-service; more are closed on
	// accept. 0: no limit (behind a proxy, which is one IP). Default 512
	// (make bench's closed loop uses up to 256 from one address).
	MaxConnectionsPerClient int `mapstructure:"max_connections_per_client"`
}

// NATSConfig locates the broker and shapes the WALLET stream.
type NATSConfig struct {
	// URL of the NATS server(s), comma separated. Default nats://127.0.0.1:4222.
	URL string `mapstructure:"url"`
	// Replicas of the WALLET stream: 1 locally, 3 in a cluster. Default 1.
	Replicas int `mapstructure:"replicas"`
	// DuplicateWindow is how long JetStream remembers Nats-Msg-Id values and
	// drops a message whose id it has seen. Default 2m. It must exceed the
	// relay's re-publish horizon, relay.lease_ttl + relay.publish_timeout
	// (outbox-relay checks, OutboxRelay.Validate); the server keeps every id
	// in memory (ADR 0006).
	DuplicateWindow time.Duration `mapstructure:"duplicate_window"`
	// MaxAge and MaxBytes limit the WALLET stream; 0 means unlimited, the
	// default. ledger-service replay rebuilds the journal from the stream's
	// first event, so a limit is only safe together with a ledger snapshot
	// taken before the oldest event the limit keeps (docs/operations.md#replay,
	// ADR 0007); services log a warning when one is set.
	MaxAge   time.Duration `mapstructure:"max_age"`
	MaxBytes int64         `mapstructure:"max_bytes"`
	// Storage of the WALLET stream: file or memory. Default file. JetStream
	// cannot convert an existing stream, so a change is refused at start.
	Storage string `mapstructure:"storage"`
	// Partitions is the number of event partitions: one stream per
	// partition, WALLET_0 … WALLET_<n-1>, and one ledger journal each
	// (ADR 0038). It must divide the number of logical shards and is fixed
	// once a deployment has events. Default 4.
	Partitions int `mapstructure:"partitions"`
}

// AccountConfig is account-service's section.
type AccountConfig struct {
	// Addr is the HTTP listen address. Default :8080.
	Addr string `mapstructure:"addr"`
	// TransferWait is how long a cross-shard transfer request waits for the
	// saga's outcome before answering 202. Default 2s.
	TransferWait time.Duration `mapstructure:"transfer_wait"`
	// SagaMaxDeliver bounds JetStream deliveries of one saga event. Default 50
	// (about 20 minutes of back-off); past it the redriver takes over.
	SagaMaxDeliver int `mapstructure:"saga_max_deliver"`
	// SagaRedriveAfter is how long a cross-shard transfer may stay pending
	// before its debit event is sent again. Default 30s.
	SagaRedriveAfter time.Duration `mapstructure:"saga_redrive_after"`
	// SagaPartitions are the event partitions whose saga steps this
	// instance consumes (the durable saga on each WALLET_<p>, ADR 0038):
	// a "node" consumes its own. Default empty: every partition.
	SagaPartitions []int `mapstructure:"saga_partitions"`
	// MaxBatch bounds the operations one group-commit transaction applies on
	// a shard. Default 256.
	MaxBatch int `mapstructure:"max_batch"`
	// QueueDepth bounds the operations waiting for a shard's writer; beyond
	// it requests are refused with 503 and Retry-After. Default 512 (two
	// full batches: well under a second of work, not minutes).
	QueueDepth int `mapstructure:"queue_depth"`
	// MaxConnections bounds the HTTP connections served at once; more wait
	// in the kernel's accept backlog. Default 8192 (a few hundred MB at most).
	MaxConnections int `mapstructure:"max_connections"`
	// InboxRetention is how long the saga consumers' inbox rows are kept;
	// rows of messages JetStream may still redeliver are kept longer (see
	// inbox.Prune). It must be at least twice relay.outbox_retention, so
	// that a step re-published by "outbox-relay republish" is still
	// recognised and does not emit its reply again (docs/adr/0013;
	// account-service checks, AccountService.Validate). Default 1h.
	InboxRetention time.Duration `mapstructure:"inbox_retention"`
	// RefusalRetention is how long a refused transfer or movement is kept
	// and replayed under its transaction_id; after it the id is judged
	// afresh. It bounds how late a client may retry a refused request
	// (docs/adr/0028). At least 1h. Default 24h.
	RefusalRetention time.Duration `mapstructure:"refusal_retention"`
}

// LedgerConfig is ledger-service's section.
type LedgerConfig struct {
	// Addr is the HTTP listen address. Default :8081.
	Addr string `mapstructure:"addr"`
	// Databases are the DSNs of the ledger's schemas, one per event
	// partition, in partition order (nats.partitions of them); an entry may
	// declare a range as shards does, "…/wallet_ledger_{0..3}". Partition
	// p's journal, position, system accounts and dead letters live in
	// Databases[p] (ADR 0038). Default wallet_ledger_0..3 locally.
	Databases Databases `mapstructure:"databases"`
	// Partitions are the event partitions this instance applies. Default
	// empty: every partition, divided by leases with the other instances.
	// With a list the instance takes only those partitions' leases; two
	// instances with the same list divide them and take over from each
	// other, so a node-local list is highly available only with two
	// instances running it. Each must be below nats.partitions.
	Partitions []int `mapstructure:"partitions"`
	// DSN is the setting before partitions; it is refused, naming
	// ledger.databases.
	DSN string `mapstructure:"dsn"`
	// LeaseTTL is how long an instance's lease on a partition lasts
	// unrenewed: ledger-service instances divide the partitions with leases
	// (bucket wallet_ledger_leases), and a dead instance's partitions are
	// taken by the others within about 1.5 × lease_ttl. Default 10s.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
	// BatchWait is how long a partition's consumer waits for more events
	// after a batch's first before applying it: the ledger lags by up to
	// this much, and in return writes one transaction per wait, not one
	// per event. A partition sees 1/P of the events, so more partitions
	// per instance want a longer wait for the same batch size. Default 20ms.
	BatchWait time.Duration `mapstructure:"batch_wait"`
	// MaxConnections bounds the HTTP connections served at once, as
	// account.max_connections. Default 8192.
	MaxConnections int `mapstructure:"max_connections"`
	// InboxRetention is how long the ledger's inbox rows are kept. The
	// ledger needs them for nothing but a quick duplicate check: it skips
	// every redelivery by its stream position, and a re-published copy of a
	// money event by its business key. Default 5m.
	InboxRetention time.Duration `mapstructure:"inbox_retention"`
	// AccountServiceURL is account-service's base URL, where reconcile
	// reads the shards through account-service's read side
	// (/v1/admin/reconcile/...; the ledger reads no shard table). Default
	// http://127.0.0.1:8080.
	AccountServiceURL string `mapstructure:"account_service_url"`
	// ReconcileToken is the operator's bearer token reconcile sends to
	// account-service. Env WALLET_LEDGER_RECONCILE_TOKEN. Default none:
	// reconcile then signs a short-lived operator token with
	// auth.jwt_secret (the local stack); with an identity provider
	// (auth.jwks_url) it is required.
	ReconcileToken string `mapstructure:"reconcile_token"`
}

// LedgerLeases is the one ledger setting outbox-relay reads: provision
// declares the ledger's lease bucket with its TTL.
type LedgerLeases struct {
	// LeaseTTL is ledger.lease_ttl; see LedgerConfig.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
}

// RelayConfig is outbox-relay's section.
type RelayConfig struct {
	// Addr serves /healthz, /readyz and /metrics. Default :8082.
	Addr string `mapstructure:"addr"`
	// PollInterval is the longest pause after an empty poll of a shard; a
	// writer's wake-up (outbox.Notifier) ends it at once, so it only bounds the
	// delay when a wake-up is lost. After a non-empty poll the relay polls
	// again at once. Default 250ms.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// BatchSize is the number of outbox rows read per poll. Default 1000.
	BatchSize int `mapstructure:"batch_size"`
	// MaxInFlight bounds the publishes awaiting JetStream's ack; a batch goes
	// out in chunks of this size, each marked published while the next one is
	// published. Default 250.
	MaxInFlight int `mapstructure:"max_in_flight"`
	// PublishTimeout is how long the relay waits for a batch's publish acks
	// before it gives up and publishes the unacknowledged rows again. Default 10s.
	PublishTimeout time.Duration `mapstructure:"publish_timeout"`
	// LeaseTTL is how long a relay's claim on a shard lasts unrenewed; after
	// it another relay takes the shard over. Default 10s.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
	// Servers names the database servers (as servers and the placement
	// name them) whose outboxes this relay publishes: it competes only for
	// their leases, so that a node's relay publishes its own server's
	// shards. Default empty: every server, each taken by whichever relay
	// gets its lease first.
	Servers []string `mapstructure:"servers"`
	// MaxAttempts is how often a row JetStream refuses for good (too large,
	// a subject no stream takes) is tried before it is set aside so the rows
	// behind it go out. Transient failures are retried forever. Default 5.
	MaxAttempts int `mapstructure:"max_attempts"`
	// OutboxRetention is how long published outbox rows are kept before the
	// relay deletes them; "outbox-relay republish --since" can send kept
	// rows again after the stream lost messages. Default 15m: 7.5 times
	// JetStream's 2-minute file-store sync interval (docs/adr/0015).
	OutboxRetention time.Duration `mapstructure:"outbox_retention"`
}

// RelayRetention is the one relay setting account-service reads: its saga
// inbox must outlive a published outbox row (AccountService.Validate).
type RelayRetention struct {
	// OutboxRetention is relay.outbox_retention; see RelayConfig.
	OutboxRetention time.Duration `mapstructure:"outbox_retention"`
}

// MoveConfig is what "account-service shards move" needs besides the
// servers, whose DSNs are then the mover's login (deploy/grants-move.sql).
type MoveConfig struct {
	// ReplicationUser and ReplicationPassword are the login a target's
	// replication thread uses on the source (REPLICATION SLAVE). Default
	// user wallet_repl, no password.
	ReplicationUser     string `mapstructure:"replication_user"`
	ReplicationPassword string `mapstructure:"replication_password"`
	// PauseTimeout bounds how long writes to the moving shard may pause
	// for its last writes to reach the copy; past it the move is rolled
	// back. Default 5s.
	PauseTimeout time.Duration `mapstructure:"pause_timeout"`
	// DropAfter is how long the old, frozen copy is kept after the switch
	// (refusing instances that have not followed yet) before it is
	// dropped. 0 keeps it. Default 5s.
	DropAfter time.Duration `mapstructure:"drop_after"`
}

// Databases are ledger.databases: DSNs, ranges expanded as in Shards.
type Databases []string

// localDSN is the make-run MariaDB of the defaults.
const localDSN = "wallet:wallet@tcp(127.0.0.1:3307)/"

// setDefaults is the one place a setting's default is given. It names every
// key of every binary: a binary decodes only its own sections, and a key
// with a default is one the WALLET_* environment can set.
func setDefaults(v *viper.Viper) {
	v.SetDefault("shards", []string{localDSN + "wallet_shard_{0..255}"})
	v.SetDefault("servers", []string{})
	v.SetDefault("move.replication_user", "wallet_repl")
	v.SetDefault("move.replication_password", "")
	v.SetDefault("move.pause_timeout", 5*time.Second)
	v.SetDefault("move.drop_after", 5*time.Second)
	v.SetDefault("log_level", "info")
	v.SetDefault("nats.url", "nats://127.0.0.1:4222")
	v.SetDefault("nats.replicas", 1)
	v.SetDefault("nats.duplicate_window", 2*time.Minute)
	v.SetDefault("nats.storage", "file")
	v.SetDefault("nats.partitions", 4)
	v.SetDefault("account.addr", ":8080")
	v.SetDefault("account.transfer_wait", 2*time.Second)
	v.SetDefault("account.saga_max_deliver", 50)
	v.SetDefault("account.saga_redrive_after", 30*time.Second)
	v.SetDefault("account.saga_partitions", []int{})
	v.SetDefault("account.max_batch", 256)
	v.SetDefault("account.queue_depth", 512)
	v.SetDefault("account.max_connections", 8192)
	v.SetDefault("account.inbox_retention", time.Hour)
	v.SetDefault("account.refusal_retention", 24*time.Hour)
	v.SetDefault("ledger.inbox_retention", 5*time.Minute)
	v.SetDefault("relay.outbox_retention", 15*time.Minute)
	v.SetDefault("nats.max_age", time.Duration(0))
	v.SetDefault("nats.max_bytes", 0)
	v.SetDefault("ledger.addr", ":8081")
	v.SetDefault("ledger.databases", []string{localDSN + "wallet_ledger_{0..3}"})
	v.SetDefault("ledger.dsn", "")
	v.SetDefault("ledger.lease_ttl", 10*time.Second)
	v.SetDefault("ledger.batch_wait", 20*time.Millisecond)
	v.SetDefault("ledger.partitions", []int{})
	v.SetDefault("ledger.account_service_url", "http://127.0.0.1:8080")
	v.SetDefault("ledger.reconcile_token", "")
	v.SetDefault("relay.addr", ":8082")
	v.SetDefault("relay.poll_interval", 250*time.Millisecond)
	v.SetDefault("relay.batch_size", 1000)
	v.SetDefault("relay.max_in_flight", 250)
	v.SetDefault("relay.publish_timeout", 10*time.Second)
	v.SetDefault("relay.lease_ttl", 10*time.Second)
	v.SetDefault("relay.servers", []string{})
	v.SetDefault("relay.max_attempts", 5)
	v.SetDefault("auth.jwt_secret", "")
	v.SetDefault("auth.jwks_url", "")
	v.SetDefault("auth.issuer", "")
	v.SetDefault("auth.audience", "")
	v.SetDefault("auth.disabled", false)
	v.SetDefault("http.rate_limit", 50.0)
	v.SetDefault("http.rate_burst", 100)
	v.SetDefault("http.max_connections_per_client", 512)
	v.SetDefault("ledger.max_connections", 8192)
}
