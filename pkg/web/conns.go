package web

import (
	"net"
	"sync"
)

// perClient closes a new connection at once when its remote IP already
// holds max, so one client cannot take every slot of the listener.
type perClient struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[string]int
}

// LimitPerClient returns ln accepting at most max connections at once from
// one remote IP (0 or less: ln unchanged). Behind a proxy every client
// shares the proxy's address.
func LimitPerClient(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &perClient{Listener: ln, max: max, conns: map[string]int{}}
}

func (l *perClient) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		l.mu.Lock()
		full := l.conns[ip] >= l.max
		if !full {
			l.conns[ip]++
		}
		l.mu.Unlock()
		if full {
			_ = c.Close()
			continue
		}
		return &clientConn{Conn: c, release: sync.OnceFunc(func() { l.release(ip) })}, nil
	}
}

func (l *perClient) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip]--; l.conns[ip] <= 0 {
		delete(l.conns, ip)
	}
}

type clientConn struct {
	net.Conn
	release func()
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
