package testenv

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS starts an embedded JetStream server on a random loopback port, stores
// its data in a temporary directory and shuts it down when the test ends.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return StartNATS(t, t.TempDir(), -1)
}

// StartNATS starts a JetStream server on port (-1 for any) with its store in
// dir. Restart tests call it again with the same dir and port.
func StartNATS(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	return startServer(t, &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
}

// startServer starts a server with opts, waits until it accepts
// connections and shuts it down when the test ends.
func startServer(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("testenv: nats: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("testenv: nats did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// connect returns a JetStream context on url; the connection closes when
// the test ends.
func connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("testenv: connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	return js
}

// MustJetStream starts a fresh embedded JetStream server (see NATS),
// connects to it and returns the JetStream context; the connection closes
// when the test ends. Callers declare the streams they need.
func MustJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	return connect(t, NATS(t).ClientURL())
}

// MustJetStreamWith is MustJetStream on a server whose options configure
// changes first, e.g. a small MaxPayload for oversized-message tests.
func MustJetStreamWith(t testing.TB, configure func(*server.Options)) jetstream.JetStream {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	configure(opts)
	return connect(t, startServer(t, opts).ClientURL())
}

// NATSPasswords are the passwords AuthNATS gives the users of
// deploy/nats-auth.conf, by user name.
var NATSPasswords = map[string]string{"wallet_relay": "relay-pw", "wallet_account": "account-pw", "wallet_ledger": "ledger-pw",
	"wallet_admin": "admin-pw"}

// AuthNATS starts an embedded JetStream server with the local stack's and
// compose's authorization, deploy/nats-auth.conf, and NATSPasswords.
func AuthNATS(t testing.TB) *server.Server {
	t.Helper()
	t.Setenv("WALLET_NATS_RELAY_PASSWORD", NATSPasswords["wallet_relay"])
	t.Setenv("WALLET_NATS_ACCOUNT_PASSWORD", NATSPasswords["wallet_account"])
	t.Setenv("WALLET_NATS_LEDGER_PASSWORD", NATSPasswords["wallet_ledger"])
	t.Setenv("WALLET_NATS_ADMIN_PASSWORD", NATSPasswords["wallet_admin"])
	opts, err := server.ProcessConfigFile(filepath.Join(repoRoot(), "deploy", "nats-auth.conf"))
	if err != nil {
		t.Fatalf("testenv: nats-auth.conf: %v", err)
	}
	opts.Host, opts.Port, opts.JetStream, opts.StoreDir = "127.0.0.1", -1, true, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	return startServer(t, opts)
}

// ConnectAs connects to url as user (deploy/nats-auth.conf, NATSPasswords);
// the permission violations the server reports arrive on the returned
// channel instead of stderr, for tests that expect refusals.
func ConnectAs(t testing.TB, url, user string) (jetstream.JetStream, <-chan error) {
	t.Helper()
	errs := make(chan error, 64)
	nc, err := nats.Connect(url, nats.UserInfo(user, NATSPasswords[user]),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, errs
}
