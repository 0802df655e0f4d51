package testenv

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	})
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
