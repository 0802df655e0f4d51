package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Proxy forwards TCP connections to a server and can cut them: Cut closes
// every connection and resets new ones as soon as they arrive, Restore
// forwards again. (The port stays bound while cut: listening again later
// could find it taken by an outgoing connection.) SetLatency slows the link.
// Outage tests put it between a service and MariaDB, the nemesis test also
// between JetStream nodes.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	latency atomic.Int64 // time.Duration added to every chunk, each way

	mu    sync.Mutex
	ln    net.Listener
	cut   bool
	conns map[net.Conn]bool
}

// StartProxy forwards a new loopback port to target (host:port) until the
// test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// DSN returns dsn with its address replaced by the proxy's.
func (p *Proxy) DSN(dsn string) string {
	p.t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.Addr = p.addr
	return cfg.FormatDSN()
}

// Cut closes every forwarded connection and resets new ones: clients see
// their connections reset and new ones fail at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// SetLatency delays every chunk forwarded from now on, either way, by d
// (0: none), also on connections already open.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// Restore forwards new connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// close stops listening, when the test ends.
func (p *Proxy) close() {
	p.Cut()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

// forward copies between c and a new connection to the target.
func (p *Proxy) forward(c net.Conn) {
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	if cut {
		reset(c)
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, s) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		p.copy(dst, src)
		dst.Close()
		src.Close()
	}
	go pipe(s, c)
	go pipe(c, s)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// copy forwards src to dst until either fails. Each chunk read is written
// once the latency in force when it was read has passed: the link delays
// without losing its throughput, like a long cable. Without latency, and
// with no delayed chunk still to go out, a chunk is written at once by the
// reader: a fleet's every database round trip crosses a proxy twice, and
// a hand-off to the writer per chunk cost the test process more CPU than
// the rest of the harness.
func (p *Proxy) copy(dst, src net.Conn) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	chunks := make(chan chunk, 64)
	var queued atomic.Int64 // chunks handed to the writer, not yet written
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range chunks {
			time.Sleep(time.Until(c.due))
			_, err := dst.Write(c.b)
			queued.Add(-1)
			if err != nil {
				src.Close() // stop the reader too
				for range chunks {
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			latency := time.Duration(p.latency.Load())
			if latency == 0 && queued.Load() == 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					break
				}
			} else {
				queued.Add(1)
				chunks <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(latency)}
			}
		}
		if err != nil {
			break
		}
	}
	close(chunks)
	<-done
}

// reset closes c with a TCP reset, as a dead link would, not a clean close.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// track records a forwarded pair, or resets it if the proxy is cut.
func (p *Proxy) track(c, s net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		reset(c)
		s.Close()
		return false
	}
	p.conns[c], p.conns[s] = true, true
	return true
}
