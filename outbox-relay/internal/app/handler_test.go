package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/config"
)

// Profiles show the relay's memory and goroutines: operators only, as on
// the other services; health and metrics stay open to probes.
func TestProfilesNeedAnOperator(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ready := func(context.Context) error { return nil }
	h, err := handler(config.OutboxRelay{Auth: config.AuthConfig{JWTSecret: authtest.Secret}}, log, ready)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, token string
		status            int
	}{
		{"no token", "/debug/pprof/cmdline", "", http.StatusUnauthorized},
		{"no token, by name", "/debug/pprof/goroutine", "", http.StatusUnauthorized},
		{"customer", "/debug/pprof/cmdline", authtest.Token(t, auth.Customer, "u-alice"), http.StatusForbidden},
		{"operator", "/debug/pprof/cmdline", authtest.Operator(t), http.StatusOK},
		{"health without a token", "/healthz", "", http.StatusOK},
		{"metrics without a token", "/metrics", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("GET %s: status %d, want %d", tt.path, rec.Code, tt.status)
			}
		})
	}
	// No key source configured: the relay refuses to start rather than
	// serve profiles to anyone.
	if _, err := handler(config.OutboxRelay{}, log, ready); err == nil {
		t.Error("no auth configured: started")
	}
}
