package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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

	c, err := Load()
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
	if c.Ledger.Addr != ":8081" {
		t.Errorf("default ledger.addr = %q", c.Ledger.Addr)
	}
	if m := c.Masked(); strings.Contains(m.Shards[0], ":p@") {
		t.Errorf("Masked leaks the password: %s", m.Shards[0])
	}
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Shards) != 4 || c.Account.TransferWait != 2*time.Second || c.HTTP.MaxConnectionsPerClient != 512 || c.Ledger.MaxConnections != 8192 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WALLET_NATS_REPLICAS", "9")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Fatalf("Load() error = %v, want a replicas error", err)
	}
	t.Setenv("WALLET_CONFIG", filepath.Join(t.TempDir(), "missing.yaml"))
	if _, err := Load(); err == nil {
		t.Fatal("an explicit missing config file must be an error")
	}
}

func TestRelayDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	r := c.Relay
	if c.NATS.DuplicateWindow != 2*time.Minute || r.BatchSize != 1000 || r.MaxInFlight != 250 ||
		r.PollInterval != 250*time.Millisecond || r.PublishTimeout != 10*time.Second {
		t.Fatalf("duplicate window %v, relay %+v", c.NATS.DuplicateWindow, r)
	}
}

// The duplicate window must outlast the relay's re-publish horizon, or a
// crashed relay's successor gets its copies into the stream.
func TestLoadRejectsDuplicateWindowShorterThanRepublishHorizon(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WALLET_RELAY_LEASE_TTL", "1m")
	t.Setenv("WALLET_RELAY_PUBLISH_TIMEOUT", "30s")
	t.Setenv("WALLET_NATS_DUPLICATE_WINDOW", "90s")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "nats.duplicate_window") {
		t.Fatalf("Load() error = %v, want a duplicate_window error", err)
	}
	t.Setenv("WALLET_NATS_DUPLICATE_WINDOW", "91s")
	if _, err := Load(); err != nil {
		t.Fatalf("a window longer than lease TTL + publish time-out: %v", err)
	}
}

func TestValidateRetention(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Relay.OutboxRetention != 15*time.Minute || c.Account.InboxRetention != time.Hour || c.NATS.MaxAge != 0 {
		t.Fatalf("retention defaults = %v, %v, %v", c.Relay.OutboxRetention, c.Account.InboxRetention, c.NATS.MaxAge)
	}
	short := c
	short.Account.InboxRetention = 29 * time.Minute
	if err := short.Validate(); err == nil || !strings.Contains(err.Error(), "account.inbox_retention") {
		t.Fatalf("inbox retention below twice the outbox's: Validate() = %v", err)
	}
	short.Account.InboxRetention = 30 * time.Minute
	if err := short.Validate(); err != nil {
		t.Fatalf("inbox retention twice the outbox's: Validate() = %v", err)
	}
	short.Relay.OutboxRetention = 0
	if err := short.Validate(); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Fatalf("outbox retention 0: Validate() = %v", err)
	}
	if c.Account.RefusalRetention != 24*time.Hour {
		t.Fatalf("refusal retention default = %v, want 24h", c.Account.RefusalRetention)
	}
	brief := c
	brief.Account.RefusalRetention = 59 * time.Minute
	if err := brief.Validate(); err == nil || !strings.Contains(err.Error(), "account.refusal_retention") {
		t.Fatalf("refusal retention below an hour: Validate() = %v", err)
	}
}

// The stream's storage is file or memory; anything else is refused at load.
func TestLoadNATSStorage(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := Load()
	if err != nil || c.NATS.Storage != "file" {
		t.Fatalf("default storage %q, err %v; want file", c.NATS.Storage, err)
	}
	t.Setenv("WALLET_NATS_STORAGE", "disk")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "nats.storage") {
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
	t.Chdir(t.TempDir())
	t.Setenv("WALLET_NATS_URL", "nats://relay:hunter2@127.0.0.1:4222,nats://relay:hunter2@127.0.0.1:4223")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", c.Masked()); strings.Contains(got, "hunter2") {
		t.Fatalf("Masked leaks the NATS password: %s", got)
	}
	if !strings.Contains(c.NATS.URL, "hunter2") {
		t.Fatal("Masked must not change the config it copies")
	}
}

func TestMaskedHidesNATSPasswords(t *testing.T) {
	c := Config{NATS: NATSConfig{URL: "nats://wallet_relay:s3cret@n1:4222,nats://wallet_relay:s3cret@n2:4222"},
		Auth: AuthConfig{JWTSecret: "s3cret-s3cret-s3cret-s3cret-s3cret"}}
	m := c.Masked()
	if strings.Contains(fmt.Sprintf("%+v", m), "s3cret") {
		t.Fatalf("Masked leaks a secret: %+v", m)
	}
	if strings.Contains(m.NATS.URL, "s3cret") || !strings.Contains(m.NATS.URL, "wallet_relay") || !strings.Contains(m.NATS.URL, "n2:4222") {
		t.Fatalf("Masked NATS URL = %q", m.NATS.URL)
	}
}

// With a JWKS (production), issuer and audience are required and the
// HS256 secret is refused; each error names its setting.
func TestValidateAuthWithJWKS(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WALLET_AUTH_JWKS_URL", "https://idp.example/jwks")
	_, err := Load()
	for _, want := range []string{"auth.issuer", "auth.audience"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("JWKS without %s: Load() = %v", want, err)
		}
	}
	t.Setenv("WALLET_AUTH_ISSUER", "https://idp.example")
	t.Setenv("WALLET_AUTH_AUDIENCE", "wallet")
	if _, err := Load(); err != nil {
		t.Fatalf("JWKS, issuer and audience: %v", err)
	}
	t.Setenv("WALLET_AUTH_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "auth.jwt_secret") {
		t.Fatalf("JWKS and an HS256 secret: Load() = %v", err)
	}
}
