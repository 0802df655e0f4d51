package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// noFile makes Load see no config.yaml and no WALLET_CONFIG.
func noFile(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
}

func TestLoadLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wallet.yaml")
	yaml := "nats:\n  url: nats://file:4222\naccount:\n  transfer_wait: 5s\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WALLET_CONFIG", file)
	t.Setenv("WALLET_NATS_URL", "nats://env:4222")
	t.Setenv("WALLET_SHARDS", "u:p@tcp(h:1)/a,u:p@tcp(h:1)/b")
	t.Setenv("WALLET_NATS_PARTITIONS", "2")

	c, err := Load[AccountService]()
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.URL != "nats://env:4222" {
		t.Errorf("env must override file: nats.url = %q", c.NATS.URL)
	}
	if c.Account.TransferWait != 5*time.Second {
		t.Errorf("file must override default: transfer_wait = %v", c.Account.TransferWait)
	}
	if len(c.Shards) != 2 || c.Shards[1] != "u:p@tcp(h:1)/b" {
		t.Errorf("shards from env = %v", c.Shards)
	}
	if c.Account.MaxBatch != 256 {
		t.Errorf("default account.max_batch = %d", c.Account.MaxBatch)
	}
	if m := Masked(c); strings.Contains(m.Shards[0], ":p@") {
		t.Errorf("Masked leaks the password: %s", m.Shards[0])
	}
	t.Setenv("WALLET_SERVERS", "db1=u:p@tcp(h:1)/")
	if c, err = Load[AccountService](); err != nil || len(c.Servers) != 1 || strings.Contains(Masked(c).Servers[0], ":p@") || !strings.HasPrefix(Masked(c).Servers[0], "db1=") {
		t.Errorf("servers from env = %v (%v), masked %v", c.Servers, err, Masked(c).Servers)
	}
	if !strings.Contains(c.Shards[0], ":p@") {
		t.Error("Masked must not change the shards of the config it copies")
	}
}

// Without a file or environment every binary gets the defaults, and they
// pass its own validation.
func TestLoadDefaultsWithoutFile(t *testing.T) {
	noFile(t)
	a := mustLoad[AccountService](t)
	if !reflect.DeepEqual(a, Defaults[AccountService]()) {
		t.Fatalf("Load = %+v, Defaults = %+v", a, Defaults[AccountService]())
	}
	if len(a.Shards) != 256 || a.LogLevel != "info" || a.Account.Addr != ":8080" || a.Account.TransferWait != 2*time.Second ||
		a.Account.SagaMaxDeliver != 50 || a.Account.SagaRedriveAfter != 30*time.Second || a.Account.MaxBatch != 256 ||
		a.Account.QueueDepth != 512 || a.Account.MaxConnections != 8192 || a.Account.InboxRetention != time.Hour ||
		a.Account.RefusalRetention != 24*time.Hour || a.Relay.OutboxRetention != 15*time.Minute {
		t.Errorf("account-service defaults = %+v", a)
	}
	if n, h := a.NATS, a.HTTP; n.URL != "nats://127.0.0.1:4222" || n.Replicas != 1 || n.DuplicateWindow != 2*time.Minute ||
		n.Storage != "file" || n.MaxAge != 0 || n.MaxBytes != 0 || h.RateLimit != 50 || h.RateBurst != 100 || h.MaxConnectionsPerClient != 512 {
		t.Errorf("shared defaults: nats %+v, http %+v", n, h)
	}

	l := mustLoad[LedgerService](t)
	if !reflect.DeepEqual(l, Defaults[LedgerService]()) {
		t.Fatalf("Load = %+v, Defaults = %+v", l, Defaults[LedgerService]())
	}
	if len(l.Shards) != 256 || l.Ledger.Addr != ":8081" || len(l.Ledger.Databases) != 4 || l.Ledger.Databases[3] != localDSN+"wallet_ledger_3" || l.Ledger.LeaseTTL != 10*time.Second ||
		l.Ledger.MaxConnections != 8192 || l.Ledger.InboxRetention != 5*time.Minute {
		t.Errorf("ledger-service defaults = %+v", l)
	}

	r := mustLoad[OutboxRelay](t)
	if !reflect.DeepEqual(r, Defaults[OutboxRelay]()) {
		t.Fatalf("Load = %+v, Defaults = %+v", r, Defaults[OutboxRelay]())
	}
	if rc := r.Relay; len(r.Shards) != 256 || rc.Addr != ":8082" || rc.BatchSize != 1000 || rc.MaxInFlight != 250 ||
		rc.PollInterval != 250*time.Millisecond || rc.PublishTimeout != 10*time.Second || rc.LeaseTTL != 10*time.Second ||
		rc.MaxAttempts != 5 || rc.OutboxRetention != 15*time.Minute {
		t.Errorf("outbox-relay defaults = %+v", r)
	}
}

// Each binary takes its own section, and the shared ones, from the
// environment.
func TestLoadEnvOverride(t *testing.T) {
	noFile(t)
	t.Setenv("WALLET_SHARDS", "u:p@tcp(h:1)/a")
	t.Setenv("WALLET_NATS_PARTITIONS", "1")
	t.Setenv("WALLET_NATS_REPLICAS", "3")
	t.Setenv("WALLET_LOG_LEVEL", "debug")
	t.Setenv("WALLET_ACCOUNT_MAX_BATCH", "64")
	t.Setenv("WALLET_LEDGER_DATABASES", "u:p@tcp(h:1)/ledger")
	t.Setenv("WALLET_RELAY_BATCH_SIZE", "77")
	t.Setenv("WALLET_AUTH_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	t.Setenv("WALLET_HTTP_RATE_LIMIT", "0")

	a := mustLoad[AccountService](t)
	if a.Account.MaxBatch != 64 || a.NATS.Replicas != 3 || len(a.Shards) != 1 || a.Level() != "debug" || a.HTTP.RateLimit != 0 ||
		a.Auth.JWTSecret == "" {
		t.Errorf("account-service = %+v", a)
	}
	l := mustLoad[LedgerService](t)
	if len(l.Ledger.Databases) != 1 || l.Ledger.Databases[0] != "u:p@tcp(h:1)/ledger" || l.NATS.Replicas != 3 || len(l.Shards) != 1 || l.Level() != "debug" {
		t.Errorf("ledger-service = %+v", l)
	}
	r := mustLoad[OutboxRelay](t)
	if r.Relay.BatchSize != 77 || r.NATS.Replicas != 3 || len(r.Shards) != 1 || r.Level() != "debug" {
		t.Errorf("outbox-relay = %+v", r)
	}
}

// A binary neither checks nor even decodes another binary's section: a
// wrong or unreadable value there stops only the binary that reads it.
func TestLoadIgnoresOtherBinariesSettings(t *testing.T) {
	for _, tc := range []struct {
		env, value, want string
		fails            string // the binary that refuses it
	}{
		{"WALLET_RELAY_BATCH_SIZE", "0", "relay.batch_size", "outbox-relay"},
		{"WALLET_RELAY_LEASE_TTL", "soon", "lease_ttl", "outbox-relay"},
		{"WALLET_ACCOUNT_MAX_BATCH", "0", "account.max_batch", "account-service"},
		{"WALLET_ACCOUNT_REFUSAL_RETENTION", "1m", "account.refusal_retention", "account-service"},
		{"WALLET_LEDGER_DSN", "u:p@tcp(h:1)/ledger", "ledger.databases", "ledger-service"},
		{"WALLET_LEDGER_DATABASES", "u:p@tcp(h:1)/ledger_{0..1}", "ledger.databases has 2 DSNs, nats.partitions is 4", "ledger-service"},
		{"WALLET_LEDGER_LEASE_TTL", "1ms", "ledger.lease_ttl", "ledger-service"},
		{"WALLET_LEDGER_MAX_CONNECTIONS", "0", "ledger.max_connections", "ledger-service"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			noFile(t)
			t.Setenv(tc.env, tc.value)
			for bin, err := range loadAll() {
				switch {
				case bin == tc.fails && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%s: Load() = %v, want an error naming %s", bin, err, tc.want)
				case bin != tc.fails && err != nil:
					t.Errorf("%s must not read %s: Load() = %v", bin, tc.env, err)
				}
			}
		})
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	noFile(t)
	t.Setenv("WALLET_NATS_REPLICAS", "9")
	if _, err := Load[LedgerService](); err == nil || !strings.Contains(err.Error(), "nats.replicas") {
		t.Fatalf("Load() error = %v, want a nats.replicas error", err)
	}
	t.Setenv("WALLET_CONFIG", filepath.Join(t.TempDir(), "missing.yaml"))
	if _, err := Load[LedgerService](); err == nil {
		t.Fatal("an explicit missing config file must be an error")
	}
}

// Every check of a section names the setting it refuses.
func TestValidationErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{"WALLET_SHARDS", localDSN + "a,nope", "shards[1]"},
		{"WALLET_SERVERS", "db1=" + localDSN + ",db1=" + localDSN, "servers[1]"},
		{"WALLET_SERVERS", "db1=" + localDSN + "wallet_shard_0", "servers[0]"},
		{"WALLET_SERVERS", localDSN, "servers[0]"},
		{"WALLET_NATS_REPLICAS", "0", "nats.replicas"},
		{"WALLET_NATS_STORAGE", "disk", "nats.storage"},
		{"WALLET_NATS_DUPLICATE_WINDOW", "0s", "nats.duplicate_window"},
		{"WALLET_NATS_MAX_AGE", "-1s", "nats.max_age"},
		{"WALLET_NATS_MAX_BYTES", "-1", "nats.max_bytes"},
		{"WALLET_HTTP_MAX_CONNECTIONS_PER_CLIENT", "-1", "http.max_connections_per_client"},
		{"WALLET_LOG_LEVEL", "loud", "log_level"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			noFile(t)
			t.Setenv(tc.env, tc.value)
			for bin, err := range loadAll() {
				mustRefuse(t, bin, err, tc.want)
			}
		})
	}
	for yaml, want := range map[string]string{ // what the environment cannot make empty
		"shards: []\n":         "shards: at least one",
		"nats:\n  url: \"\"\n": "nats.url",
	} {
		t.Run(want, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "wallet.yaml")
			if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("WALLET_CONFIG", file)
			for bin, err := range loadAll() {
				mustRefuse(t, bin, err, want)
			}
		})
	}

	for want, f := range map[string]func(*AccountConfig){
		"account.transfer_wait":      func(a *AccountConfig) { a.TransferWait = -time.Second },
		"account.max_batch":          func(a *AccountConfig) { a.MaxBatch = 0 },
		"account.queue_depth":        func(a *AccountConfig) { a.QueueDepth = 0 },
		"account.max_connections":    func(a *AccountConfig) { a.MaxConnections = 0 },
		"account.saga_max_deliver":   func(a *AccountConfig) { a.SagaMaxDeliver = 0 },
		"account.saga_redrive_after": func(a *AccountConfig) { a.SagaRedriveAfter = 0 },
		"account.inbox_retention":    func(a *AccountConfig) { a.InboxRetention = 0 },
		"account.refusal_retention":  func(a *AccountConfig) { a.RefusalRetention = 59 * time.Minute },
	} {
		c := Defaults[AccountService]()
		f(&c.Account)
		mustRefuse(t, "account-service", c.Validate(), want)
	}

	for want, f := range map[string]func(*LedgerConfig){
		"ledger.dsn":                 func(l *LedgerConfig) { l.DSN = "u:p@tcp(h:1)/ledger" },
		"ledger.databases[2]":        func(l *LedgerConfig) { l.Databases[2] = "nope" },
		"ledger.max_connections":     func(l *LedgerConfig) { l.MaxConnections = 0 },
		"ledger.inbox_retention":     func(l *LedgerConfig) { l.InboxRetention = 0 },
		"ledger.account_service_url": func(l *LedgerConfig) { l.AccountServiceURL = "127.0.0.1:8080" },
	} {
		c := Defaults[LedgerService]()
		f(&c.Ledger)
		mustRefuse(t, "ledger-service", c.Validate(), want)
	}

	for want, f := range map[string]func(*RelayConfig){
		"relay.poll_interval":    func(r *RelayConfig) { r.PollInterval = 0 },
		"relay.batch_size":       func(r *RelayConfig) { r.BatchSize = 0 },
		"relay.max_in_flight":    func(r *RelayConfig) { r.MaxInFlight = 0 },
		"relay.publish_timeout":  func(r *RelayConfig) { r.PublishTimeout = 0 },
		"relay.lease_ttl":        func(r *RelayConfig) { r.LeaseTTL = 0 },
		"relay.max_attempts":     func(r *RelayConfig) { r.MaxAttempts = 0 },
		"relay.outbox_retention": func(r *RelayConfig) { r.OutboxRetention = 0 },
	} {
		c := Defaults[OutboxRelay]()
		f(&c.Relay)
		mustRefuse(t, "outbox-relay", c.Validate(), want)
	}
}

// The duplicate window must outlast the relay's re-publish horizon, or a
// crashed relay's successor gets its copies into the stream. outbox-relay,
// whose horizon it is, checks it; the services do not read relay.*.
func TestDuplicateWindowCheckedByTheRelay(t *testing.T) {
	noFile(t)
	t.Setenv("WALLET_RELAY_LEASE_TTL", "1m")
	t.Setenv("WALLET_RELAY_PUBLISH_TIMEOUT", "30s")
	t.Setenv("WALLET_NATS_DUPLICATE_WINDOW", "90s")
	if _, err := Load[OutboxRelay](); err == nil || !strings.Contains(err.Error(), "nats.duplicate_window") {
		t.Fatalf("Load() error = %v, want a duplicate_window error", err)
	}
	mustLoad[AccountService](t)
	mustLoad[LedgerService](t)
	t.Setenv("WALLET_NATS_DUPLICATE_WINDOW", "91s")
	mustLoad[OutboxRelay](t)
}

// account.inbox_retention ≥ 2 × relay.outbox_retention: account-service,
// whose inbox rows a republish needs, checks it.
func TestInboxRetentionCheckedByAccountService(t *testing.T) {
	c := Defaults[AccountService]()
	c.Account.InboxRetention = 29 * time.Minute
	mustRefuse(t, "account-service", c.Validate(), "account.inbox_retention")
	c.Account.InboxRetention = 30 * time.Minute
	if err := c.Validate(); err != nil {
		t.Fatalf("inbox retention twice the outbox's: Validate() = %v", err)
	}

	noFile(t)
	t.Setenv("WALLET_RELAY_OUTBOX_RETENTION", "31m")
	if _, err := Load[AccountService](); err == nil || !strings.Contains(err.Error(), "relay.outbox_retention") {
		t.Fatalf("Load() error = %v, want the inbox rule naming relay.outbox_retention", err)
	}
	if r := mustLoad[OutboxRelay](t); r.Relay.OutboxRetention != 31*time.Minute {
		t.Fatalf("relay.outbox_retention = %v", r.Relay.OutboxRetention)
	}
}

// The stream's storage is file or memory; anything else is refused at load.
func TestLoadNATSStorage(t *testing.T) {
	noFile(t)
	if c := mustLoad[OutboxRelay](t); c.NATS.Storage != "file" {
		t.Fatalf("default storage %q, want file", c.NATS.Storage)
	}
	t.Setenv("WALLET_NATS_STORAGE", "disk")
	if _, err := Load[OutboxRelay](); err == nil || !strings.Contains(err.Error(), "nats.storage") {
		t.Fatalf("Load() error = %v, want a nats.storage error", err)
	}
}

func TestMaskURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                               "nats://127.0.0.1:4222",
		"nats://wallet:s3cret@127.0.0.1:4222":                 "nats://wallet:***@127.0.0.1:4222",
		"nats://tok3n@127.0.0.1:4222":                         "nats://***@127.0.0.1:4222",
		"wallet:s3cret@n1:4222":                               "wallet:***@n1:4222",
		"nats://a:p1@n1:4222,nats://b:p2@n2:4222,nats://n3:1": "nats://a:***@n1:4222,nats://b:***@n2:4222,nats://n3:1",
		"nats://u:p@ss@n1:4222/x@y":                           "nats://u:***@n1:4222/x@y",
		"":                                                    "",
	} {
		if got := MaskURLs(in); got != want {
			t.Errorf("MaskURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskedHidesNATSCredentials(t *testing.T) {
	noFile(t)
	t.Setenv("WALLET_NATS_URL", "nats://relay:hunter2@127.0.0.1:4222,nats://relay:hunter2@127.0.0.1:4223")
	c := mustLoad[OutboxRelay](t)
	if got := fmt.Sprintf("%+v", Masked(c)); strings.Contains(got, "hunter2") {
		t.Fatalf("Masked leaks the NATS password: %s", got)
	}
	if !strings.Contains(c.NATS.URL, "hunter2") {
		t.Fatal("Masked must not change the config it copies")
	}
}

// Every binary's secrets are masked: shard and ledger DSN passwords, the
// NATS credentials, the HS256 secret and reconcile's operator token.
func TestMaskedHidesEverySecret(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-s3cret"
	nats := NATSConfig{URL: "nats://wallet_relay:" + secret + "@n1:4222,nats://wallet_relay:" + secret + "@n2:4222"}
	shards := Shards{"u:" + secret + "@tcp(h:1)/a"}
	auth := AuthConfig{JWTSecret: secret}
	for _, m := range []any{
		Masked(AccountService{Shards: shards, NATS: nats, Auth: auth}),
		Masked(LedgerService{Shards: shards, NATS: nats, Auth: auth, Ledger: LedgerConfig{Databases: Databases{"u:" + secret + "@tcp(h:1)/l"}, ReconcileToken: secret}}),
		Masked(OutboxRelay{Shards: shards, NATS: nats, Auth: auth}),
	} {
		if got := fmt.Sprintf("%+v", m); strings.Contains(got, "s3cret") || !strings.Contains(got, "wallet_relay:***@n1:4222") {
			t.Errorf("Masked = %s", got)
		}
	}
}

// With a JWKS (production), issuer and audience are required and the
// HS256 secret is refused; each error names its setting.
func TestValidateAuthWithJWKS(t *testing.T) {
	noFile(t)
	t.Setenv("WALLET_AUTH_JWKS_URL", "https://idp.example/jwks")
	_, err := Load[AccountService]()
	for _, want := range []string{"auth.issuer", "auth.audience"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("JWKS without %s: Load() = %v", want, err)
		}
	}
	t.Setenv("WALLET_AUTH_ISSUER", "https://idp.example")
	t.Setenv("WALLET_AUTH_AUDIENCE", "wallet")
	mustLoad[AccountService](t)
	t.Setenv("WALLET_AUTH_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	if _, err := Load[LedgerService](); err == nil || !strings.Contains(err.Error(), "auth.jwt_secret") {
		t.Fatalf("JWKS and an HS256 secret: Load() = %v", err)
	}
}

// loadAll loads every binary's configuration and returns its error by binary.
func loadAll() map[string]error {
	errs := map[string]error{}
	_, errs["account-service"] = Load[AccountService]()
	_, errs["ledger-service"] = Load[LedgerService]()
	_, errs["outbox-relay"] = Load[OutboxRelay]()
	return errs
}

func mustLoad[C Service](t *testing.T) C {
	t.Helper()
	c, err := Load[C]()
	if err != nil {
		t.Fatalf("Load[%T]: %v", c, err)
	}
	return c
}

func mustRefuse(t *testing.T, binary string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: Validate() = %v, want an error naming %s", binary, err, want)
	}
}

func TestPartitionsMustDivideShards(t *testing.T) {
	t.Setenv("WALLET_SHARDS", "wallet:wallet@tcp(127.0.0.1:3307)/wallet_shard_{0..5}")
	t.Setenv("WALLET_NATS_PARTITIONS", "4")
	if _, err := Load[OutboxRelay](); err == nil || !strings.Contains(err.Error(), "nats.partitions (4) must divide the number of shards (6)") {
		t.Fatalf("Load() error = %v, want the partitions error", err)
	}
	t.Setenv("WALLET_NATS_PARTITIONS", "3")
	if _, err := Load[OutboxRelay](); err != nil {
		t.Fatalf("Load() with 3 partitions of 6 shards: %v", err)
	}
}

// account.saga_partitions comes as a list from the environment and must
// name distinct partitions of nats.partitions.
func TestSagaPartitions(t *testing.T) {
	if got := Defaults[AccountService]().Account.SagaPartitions; len(got) != 0 {
		t.Fatalf("default saga_partitions %v, want empty (every partition)", got)
	}
	t.Setenv("WALLET_NATS_PARTITIONS", "4")
	t.Setenv("WALLET_ACCOUNT_SAGA_PARTITIONS", "1,3")
	c, err := Load[AccountService]()
	if err != nil || !slices.Equal(c.Account.SagaPartitions, []int{1, 3}) {
		t.Fatalf("Load() = %v, %v; want partitions [1 3]", c.Account.SagaPartitions, err)
	}
	for _, bad := range []string{"4", "1,1", "-1", "x"} {
		t.Setenv("WALLET_ACCOUNT_SAGA_PARTITIONS", bad)
		if _, err := Load[AccountService](); err == nil || !strings.Contains(err.Error(), "saga_partitions") {
			t.Errorf("saga_partitions %q: %v, want refused", bad, err)
		}
	}
}

// ledger.partitions comes as a list from the environment and must name
// distinct partitions of nats.partitions.
func TestLedgerPartitions(t *testing.T) {
	if got := Defaults[LedgerService]().Ledger.Partitions; len(got) != 0 {
		t.Fatalf("default ledger.partitions %v, want empty (every partition)", got)
	}
	t.Setenv("WALLET_NATS_PARTITIONS", "4")
	t.Setenv("WALLET_LEDGER_PARTITIONS", "2,3")
	c, err := Load[LedgerService]()
	if err != nil || !slices.Equal(c.Ledger.Partitions, []int{2, 3}) {
		t.Fatalf("Load() = %v, %v; want partitions [2 3]", c.Ledger.Partitions, err)
	}
	for _, bad := range []string{"4", "1,1", "-1", "x"} {
		t.Setenv("WALLET_LEDGER_PARTITIONS", bad)
		if _, err := Load[LedgerService](); err == nil || !strings.Contains(err.Error(), "ledger.partitions") {
			t.Errorf("ledger.partitions %q: %v, want refused", bad, err)
		}
	}
}

// relay.servers comes as a list from the environment; with servers set,
// each name must be one of them.
func TestRelayServers(t *testing.T) {
	if got := Defaults[OutboxRelay]().Relay.Servers; len(got) != 0 {
		t.Fatalf("default relay.servers %v, want empty (every server)", got)
	}
	t.Setenv("WALLET_RELAY_SERVERS", "node1")
	c, err := Load[OutboxRelay]()
	if err != nil || !slices.Equal(c.Relay.Servers, []string{"node1"}) {
		t.Fatalf("Load() without servers = %v, %v; want [node1] (checked at start against the shards' servers)", c.Relay.Servers, err)
	}
	t.Setenv("WALLET_SERVERS", "node0=wallet:wallet@tcp(127.0.0.1:3360)/,node1=wallet:wallet@tcp(127.0.0.1:3361)/")
	t.Setenv("WALLET_SHARDS", "wallet:wallet@tcp(127.0.0.1:3360)/s_{0..1},wallet:wallet@tcp(127.0.0.1:3361)/s_{2..3}")
	if _, err := Load[OutboxRelay](); err != nil {
		t.Fatalf("Load() with node1 among the servers: %v", err)
	}
	for _, bad := range []string{"node2", "node1,node1"} {
		t.Setenv("WALLET_RELAY_SERVERS", bad)
		if _, err := Load[OutboxRelay](); err == nil || !strings.Contains(err.Error(), "relay.servers") {
			t.Errorf("relay.servers %q: %v, want refused", bad, err)
		}
	}
}
