package config

import (
	"errors"
	"fmt"
	"reflect"
)

// Service is the configuration of one binary: what Load fills and
// pkg/service hands to the binary's commands.
type Service interface {
	AccountService | LedgerService | OutboxRelay
	// Validate checks every setting the binary reads, and the rules across
	// sections it owns; each error names its setting.
	Validate() error
	// Level is log_level, for the logger made before the binary's command runs.
	Level() string
}

// Each field of a binary's struct below is a section: a top-level key of the
// file whose type validates (and, holding secrets, masks) itself. Validate
// and Masked walk the fields, so adding a section to a binary is adding its
// field; nothing else to list, and nothing to forget.

// AccountService is account-service's configuration.
type AccountService struct {
	LogLevel LogLevel      `mapstructure:"log_level"`
	Shards   Shards        `mapstructure:"shards"`
	Servers  Servers       `mapstructure:"servers"`
	NATS     NATSConfig    `mapstructure:"nats"`
	Auth     AuthConfig    `mapstructure:"auth"`
	HTTP     HTTPConfig    `mapstructure:"http"`
	Account  AccountConfig `mapstructure:"account"`
	// Relay is read for the inbox rule only (ADR 0013).
	Relay RelayRetention `mapstructure:"relay"`
	// Move is read by the shards move command only.
	Move MoveConfig `mapstructure:"move"`
}

// LedgerService is ledger-service's configuration. It reads shards for
// their count only (an account's partition); reconcile reads the shards
// through account-service (ledger.account_service_url).
type LedgerService struct {
	LogLevel LogLevel     `mapstructure:"log_level"`
	Shards   Shards       `mapstructure:"shards"`
	Servers  Servers      `mapstructure:"servers"`
	NATS     NATSConfig   `mapstructure:"nats"`
	Auth     AuthConfig   `mapstructure:"auth"`
	HTTP     HTTPConfig   `mapstructure:"http"`
	Ledger   LedgerConfig `mapstructure:"ledger"`
}

// OutboxRelay is outbox-relay's configuration. Auth and http guard its
// health, metrics and profiles as on the other services.
type OutboxRelay struct {
	LogLevel LogLevel    `mapstructure:"log_level"`
	Shards   Shards      `mapstructure:"shards"`
	Servers  Servers     `mapstructure:"servers"`
	NATS     NATSConfig  `mapstructure:"nats"`
	Auth     AuthConfig  `mapstructure:"auth"`
	HTTP     HTTPConfig  `mapstructure:"http"`
	Relay    RelayConfig `mapstructure:"relay"`
	// Ledger is read by provision only: the ledger's lease bucket's TTL.
	Ledger LedgerLeases `mapstructure:"ledger"`
}

// Validate checks account-service's sections, and that a saga step
// re-published by "outbox-relay republish" still finds its inbox row:
// account.inbox_retention ≥ 2 × relay.outbox_retention. account-service
// checks it because the rows it would lose are its own.
func (c AccountService) Validate() error {
	errs := append(validateSections(c), partitionsDivide(c.NATS, c.Shards))
	seen := map[int]bool{}
	for _, p := range c.Account.SagaPartitions {
		if p < 0 || p >= c.NATS.Partitions || seen[p] {
			errs = append(errs, fmt.Errorf("account.saga_partitions: %v must list distinct partitions of 0..%d (nats.partitions %d)",
				c.Account.SagaPartitions, c.NATS.Partitions-1, c.NATS.Partitions))
			break
		}
		seen[p] = true
	}
	// A published row can be re-published (republish --since) until it is
	// deleted; the copy must still find the inbox row of the original,
	// which is about as old as the row, plus the republish run's own
	// duration and clock skew: the second outbox_retention is that margin.
	if c.Account.InboxRetention < 2*c.Relay.OutboxRetention {
		errs = append(errs, fmt.Errorf("account.inbox_retention (%v) must be at least twice relay.outbox_retention (%v): a re-published saga step must still find its inbox row",
			c.Account.InboxRetention, c.Relay.OutboxRetention))
	}
	return errors.Join(errs...)
}

// Validate checks ledger-service's sections.
func (c LedgerService) Validate() error {
	return errors.Join(append(validateSections(c), partitionsDivide(c.NATS, c.Shards), ledgerPerPartition(c.NATS, c.Ledger),
		ledgerPartitionsIn(c.NATS, c.Ledger))...)
}

// Validate checks outbox-relay's sections, and that nats.duplicate_window
// outlasts the relay's re-publish horizon, relay.lease_ttl +
// relay.publish_timeout: a shorter window lets a successor's copies of
// rows a crashed relay published into the stream. The relay checks it
// because the horizon is its own.
func (c OutboxRelay) Validate() error {
	errs := append(validateSections(c), partitionsDivide(c.NATS, c.Shards), relayServersNamed(c.Servers, c.Relay))
	if horizon := c.Relay.LeaseTTL + c.Relay.PublishTimeout; c.NATS.DuplicateWindow <= horizon {
		errs = append(errs, fmt.Errorf("nats.duplicate_window (%v) must be longer than relay.lease_ttl + relay.publish_timeout (%v), the relay's re-publish horizon",
			c.NATS.DuplicateWindow, horizon))
	}
	return errors.Join(errs...)
}

// Level is log_level.
func (c AccountService) Level() string { return string(c.LogLevel) }

// Level is log_level.
func (c LedgerService) Level() string { return string(c.LogLevel) }

// Level is log_level.
func (c OutboxRelay) Level() string { return string(c.LogLevel) }

// section is one top-level key of the file as a binary reads it.
type section interface {
	// validate returns one error per wrong setting, each naming its key.
	validate() []error
}

// validateSections validates every field of the binary's struct c.
func validateSections(c any) []error {
	v := reflect.ValueOf(c)
	var errs []error
	for i := range v.NumField() {
		s, ok := v.Field(i).Interface().(section)
		if !ok { // a programming error, caught by the package's tests
			errs = append(errs, fmt.Errorf("config: %s.%s is not a section", v.Type().Name(), v.Type().Field(i).Name))
			continue
		}
		errs = append(errs, s.validate()...)
	}
	return errs
}
