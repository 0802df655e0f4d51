package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MinRefusalRetention is the shortest account.refusal_retention allowed.
const MinRefusalRetention = time.Hour

func (l LogLevel) validate() []error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l)); err != nil {
		return []error{fmt.Errorf("log_level: %q is not debug, info, warn or error", string(l))}
	}
	return nil
}

func (s Shards) validate() []error {
	if len(s) == 0 {
		return []error{errors.New("shards: at least one shard DSN is required")}
	}
	var errs []error
	for i, dsn := range s {
		if _, err := mysql.ParseDSN(dsn); err != nil {
			errs = append(errs, fmt.Errorf("shards[%d]: %w", i, err))
		}
	}
	return errs
}

func (s Servers) validate() []error {
	var errs []error
	seen := map[string]bool{}
	for i, entry := range s {
		name, dsn, ok := strings.Cut(entry, "=")
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("servers[%d]: want name=DSN", i))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("servers[%d]: %s is named twice", i, name))
		}
		seen[name] = true
		if cfg, err := mysql.ParseDSN(dsn); err != nil {
			errs = append(errs, fmt.Errorf("servers[%d]: %w", i, err))
		} else if cfg.DBName != "" {
			errs = append(errs, fmt.Errorf("servers[%d]: the DSN names a schema (%s); a server's DSN names none", i, cfg.DBName))
		}
	}
	return errs
}

func (n NATSConfig) validate() []error {
	var errs []error
	if n.URL == "" {
		errs = append(errs, errors.New("nats.url is required"))
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		errs = append(errs, fmt.Errorf("nats.replicas: %d is not in 1..5", n.Replicas))
	}
	if n.Partitions < 1 || n.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("nats.partitions: %d is not in 1..1024", n.Partitions))
	}
	if n.Storage != "file" && n.Storage != "memory" {
		errs = append(errs, fmt.Errorf("nats.storage: %q is not file or memory", n.Storage))
	}
	return append(errs, checks(
		positive("nats.duplicate_window", n.DuplicateWindow),
		notNegative("nats.max_age", n.MaxAge),     // 0 is unlimited
		notNegative("nats.max_bytes", n.MaxBytes), // 0 is unlimited
	)...)
}

// validate refuses the production key source with loose checks beside it.
func (a AuthConfig) validate() []error {
	if a.JWKSURL == "" {
		return nil
	}
	var errs []error
	if a.Issuer == "" {
		errs = append(errs, errors.New("auth.issuer is required when auth.jwks_url is set"))
	}
	if a.Audience == "" {
		errs = append(errs, errors.New("auth.audience is required when auth.jwks_url is set"))
	}
	if a.JWTSecret != "" {
		errs = append(errs, errors.New("auth.jwt_secret must not be set together with auth.jwks_url: an HS256 secret would sign any role's token beside the identity provider"))
	}
	return errs
}

func (h HTTPConfig) validate() []error {
	return checks(notNegative("http.max_connections_per_client", h.MaxConnectionsPerClient)) // 0 is no limit
}

func (a AccountConfig) validate() []error {
	errs := checks(
		notNegative("account.transfer_wait", a.TransferWait),
		positive("account.max_batch", a.MaxBatch),
		positive("account.queue_depth", a.QueueDepth),
		positive("account.max_connections", a.MaxConnections),
		positive("account.saga_max_deliver", a.SagaMaxDeliver),
		positive("account.saga_redrive_after", a.SagaRedriveAfter),
		positive("account.inbox_retention", a.InboxRetention),
	)
	// A late copy of a request (a batch on a stalled instance) comes within
	// the HTTP timeouts plus database.IdleTimeout, about a minute; an hour
	// leaves room for that and for a client's own retries.
	if a.RefusalRetention < MinRefusalRetention {
		errs = append(errs, fmt.Errorf("account.refusal_retention (%v) must be at least %v: a refusal must be replayed to every retry and late copy of its request",
			a.RefusalRetention, MinRefusalRetention))
	}
	return errs
}

func (l LedgerConfig) validate() []error {
	errs := checks(
		positive("ledger.max_connections", l.MaxConnections),
		positive("ledger.inbox_retention", l.InboxRetention),
		positive("ledger.lease_ttl", l.LeaseTTL),
		positive("ledger.batch_wait", l.BatchWait),
	)
	if l.LeaseTTL < 100*time.Millisecond { // JetStream's shortest bucket TTL
		errs = append(errs, fmt.Errorf("ledger.lease_ttl must be at least 100ms, not %v", l.LeaseTTL))
	}
	if l.DSN != "" {
		errs = append(errs, errors.New("ledger.dsn is no longer read: the ledger has one schema per event partition, set ledger.databases (one DSN per partition, e.g. …/wallet_ledger_{0..3})"))
	}
	if len(l.Databases) == 0 {
		errs = append(errs, errors.New("ledger.databases: one DSN per event partition is required"))
	}
	for i, dsn := range l.Databases {
		if _, err := mysql.ParseDSN(dsn); err != nil {
			errs = append(errs, fmt.Errorf("ledger.databases[%d]: %w", i, err))
		}
	}
	if u, err := url.Parse(l.AccountServiceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("ledger.account_service_url: %q is not an http(s) URL", l.AccountServiceURL))
	}
	return errs
}

func (r RelayConfig) validate() []error {
	var errs []error
	seen := map[string]bool{}
	for i, name := range r.Servers {
		if name == "" || seen[name] {
			errs = append(errs, fmt.Errorf("relay.servers[%d]: %q is empty or named twice", i, name))
		}
		seen[name] = true
	}
	return append(errs, checks(
		positive("relay.poll_interval", r.PollInterval),
		positive("relay.batch_size", r.BatchSize),
		positive("relay.max_in_flight", r.MaxInFlight),
		positive("relay.publish_timeout", r.PublishTimeout),
		positive("relay.lease_ttl", r.LeaseTTL),
		positive("relay.max_attempts", r.MaxAttempts),
		positive("relay.outbox_retention", r.OutboxRetention),
	)...)
}

// validate has nothing to check: the rule the value takes part in is
// account-service's (AccountService.Validate), the value's own range is
// outbox-relay's.
func (RelayRetention) validate() []error { return nil }

func (l LedgerLeases) validate() []error { return checks(positive("ledger.lease_ttl", l.LeaseTTL)) }

func (m MoveConfig) validate() []error {
	var errs []error
	if m.ReplicationUser == "" {
		errs = append(errs, errors.New("move.replication_user must be set"))
	}
	if err := positive("move.pause_timeout", m.PauseTimeout); err != nil {
		errs = append(errs, err)
	}
	if err := notNegative("move.drop_after", m.DropAfter); err != nil {
		errs = append(errs, err)
	}
	return errs
}

type number interface {
	~int | ~int64 | ~float64
}

func positive[T number](key string, v T) error {
	if v > 0 {
		return nil
	}
	return fmt.Errorf("%s must be positive, not %v", key, v)
}

func notNegative[T number](key string, v T) error {
	if v >= 0 {
		return nil
	}
	return fmt.Errorf("%s must not be negative, not %v", key, v)
}

// checks keeps the errors of a list of checks.
func checks(results ...error) []error {
	var errs []error
	for _, err := range results {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// ledgerPerPartition checks that ledger.databases names one schema per
// event partition.
func ledgerPerPartition(n NATSConfig, l LedgerConfig) error {
	if len(l.Databases) == 0 || len(l.Databases) == n.Partitions {
		return nil
	}
	return fmt.Errorf("ledger.databases has %d DSNs, nats.partitions is %d: the ledger needs one schema per event partition",
		len(l.Databases), n.Partitions)
}

// relayServersNamed checks that relay.servers names servers of the servers
// setting. With servers empty the names are db1, db2, … in the order of
// the shards' servers; outbox-relay checks those when it starts.
func relayServersNamed(s Servers, r RelayConfig) error {
	if len(s) == 0 {
		return nil
	}
	var names []string
	for _, entry := range s {
		name, _, _ := strings.Cut(entry, "=")
		names = append(names, name)
	}
	for _, name := range r.Servers {
		if !slices.Contains(names, name) {
			return fmt.Errorf("relay.servers: %q is not among the servers (%s)", name, strings.Join(names, ", "))
		}
	}
	return nil
}

// ledgerPartitionsIn checks that ledger.partitions lists distinct
// partitions below nats.partitions.
func ledgerPartitionsIn(n NATSConfig, l LedgerConfig) error {
	seen := map[int]bool{}
	for _, p := range l.Partitions {
		if p < 0 || p >= n.Partitions || seen[p] {
			return fmt.Errorf("ledger.partitions: %v must list distinct partitions of 0..%d (nats.partitions %d)",
				l.Partitions, n.Partitions-1, n.Partitions)
		}
		seen[p] = true
	}
	return nil
}

// partitionsDivide checks that nats.partitions divides the logical shards, so
// that every partition is the same whole number of shards.
func partitionsDivide(n NATSConfig, shards Shards) error {
	if n.Partitions < 1 || len(shards) == 0 || len(shards)%n.Partitions == 0 {
		return nil
	}
	return fmt.Errorf("nats.partitions (%d) must divide the number of shards (%d)", n.Partitions, len(shards))
}
