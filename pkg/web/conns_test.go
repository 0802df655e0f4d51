package web

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/problem"
)

// serve runs h on a loopback listener with at most perClient connections
// per IP and returns its address.
func serve(t *testing.T, h http.Handler, perClient int) string {
	t.Helper()
	ln, err := Listen("127.0.0.1:0", 0, perClient)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h, 0)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// get sends a keep-alive GET on c and returns the response.
func get(t *testing.T, c net.Conn, path string) (*http.Response, error) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	}
	return res, err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// One client holds at most its share of connections; a closed one frees
// its slot.
func TestListenLimitsConnectionsPerClient(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), 2)
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		if _, err := get(t, c, "/"); err != nil {
			t.Fatalf("within the limit: %v", err)
		}
	}
	if res, err := get(t, dial(t, addr), "/"); err == nil {
		t.Fatalf("a third connection from the same IP was served: %s", res.Status)
	}
	_ = a.Close()
	var err error
	for range 50 { // the server notices the close a moment later
		if _, err = get(t, dial(t, addr), "/"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("a slot freed by a closed connection was not reused: %v", err)
	}
}

// A client told to back off (429, 503) is told Connection: close and the
// server closes the connection, so it does not hold a slot while it waits.
func TestBackOffClosesTheConnection(t *testing.T) {
	r := NewRouter(slog.New(slog.DiscardHandler))
	r.HandleFunc("/limited", func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, nil, problem.New(problem.RateLimited, "too many requests").WithRetryAfter(time.Second))
	})
	r.HandleFunc("/busy", func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, nil, problem.New(problem.Unavailable, "queue full").WithRetryAfter(time.Second))
	})
	r.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {})
	addr := serve(t, r, 0)
	for path, status := range map[string]int{"/limited": 429, "/busy": 503} {
		c := dial(t, addr)
		res, err := get(t, c, path)
		if err != nil || res.StatusCode != status {
			t.Fatalf("GET %s: %v %v", path, res, err)
		}
		if !res.Close {
			t.Errorf("GET %s: %d without Connection: close", path, status)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("GET %s: connection still open after %d (%v)", path, status, err)
		}
	}
	c := dial(t, addr)
	if res, err := get(t, c, "/ok"); err != nil || res.Close {
		t.Errorf("GET /ok: %v, close %v: a good answer keeps the connection", err, res != nil && res.Close)
	}
}
