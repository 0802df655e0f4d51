package web

import (
	"net/http"
	"testing"
	"time"
)

func TestNewHTTPServerHasEveryTimeout(t *testing.T) {
	s := NewHTTPServer(http.NotFoundHandler(), 2*time.Second)
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("timeouts missing: %+v", s)
	}
	if s.IdleTimeout > 30*time.Second {
		t.Errorf("IdleTimeout = %v: an idle keep-alive holds a connection slot that long", s.IdleTimeout)
	}
	if s.WriteTimeout != WriteTimeout+2*time.Second {
		t.Fatalf("WriteTimeout = %v, want %v plus the handler's wait", s.WriteTimeout, WriteTimeout)
	}
}
