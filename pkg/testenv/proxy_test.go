package testenv

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// The proxy forwards bytes intact and in order, delays them by the
// latency in force, and refuses connections while cut.
func TestProxyLatencyAndCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p := StartProxy(t, ln.Addr().String())

	roundTrip := func(payload []byte) time.Duration {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		go func() { _, _ = c.Write(payload) }()
		got := make([]byte, len(payload))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatal("the echo differs from what was sent")
		}
		return time.Since(start)
	}
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	roundTrip(big)

	p.SetLatency(100 * time.Millisecond)
	if d := roundTrip([]byte("ping")); d < 200*time.Millisecond {
		t.Fatalf("a round trip with 100 ms each way took %s", d)
	}
	roundTrip(big)
	p.SetLatency(0)

	p.Cut()
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("x"))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a cut proxy forwarded a connection")
		}
		c.Close()
	}
	p.Restore()
	roundTrip([]byte("again"))
}
