package web_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/walletco/wallet/pkg/web"
)

// Until the service is up, its API answers 503 with Retry-After and the
// handler never runs; health and metrics answer throughout.
func TestUntilUpHoldsTheAPIWhileStarting(t *testing.T) {
	var starting error = errors.New("starting: waiting for the database and the stream")
	served := 0
	h := web.UntilUp(func() error { return starting }, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served++
		w.WriteHeader(http.StatusCreated)
	}))
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("{}")))
		return rec
	}

	rec := do(http.MethodPost, "/v1/wallet/balance_transfer")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Fatalf("transfer while starting: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if served != 0 {
		t.Fatalf("the API handler ran %d times while starting", served)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/heap"} {
		if rec := do(http.MethodGet, p); rec.Code != http.StatusCreated {
			t.Errorf("%s while starting: %d, want it passed to the handler", p, rec.Code)
		}
	}

	starting, served = nil, 0
	if rec := do(http.MethodPost, "/v1/wallet/balance_transfer"); rec.Code != http.StatusCreated || served != 1 {
		t.Fatalf("transfer once up: %d, served %d", rec.Code, served)
	}
}
