package web

import (
	"net/http"
	"strings"

	"github.com/walletco/wallet/pkg/problem"
)

// UntilUp answers every request but the health, metrics and profile routes
// with 503 unavailable and Retry-After while starting() returns an error:
// a service listens before its schema is migrated (so /readyz can say
// "starting"), and a client that does not wait for readiness must not reach
// the API of an unmigrated database.
func UntilUp(starting func() error, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := starting(); err != nil && !healthPath(r.URL.Path) {
			problem.Write(w, r, nil, problem.New(problem.Unavailable, "%v", err).WithRetryAfter(UnavailableRetryAfter))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func healthPath(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(p, "/debug/pprof/")
}
