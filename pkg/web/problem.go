package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/stream"
)

// UnavailableRetryAfter is what a 503 for an unreachable dependency tells
// clients to wait: a database or broker outage lasts seconds at least, and
// a retry with the same transaction_id is safe.
const UnavailableRetryAfter = 2 * time.Second

// AsProblem returns err as the problem a client should see: an error that
// says a dependency is unavailable (the database unreachable, overloaded
// or too slow; NATS disconnected) becomes 503 unavailable with
// Retry-After, since the same request can succeed later; any other error is
// returned as it is (a *problem.Error keeps its code, the rest is 500).
func AsProblem(err error) error {
	if _, ok := err.(*problem.Error); ok || problem.CodeOf(err) != problem.Internal {
		return err
	}
	if database.Unavailable(err) || stream.Unavailable(err) {
		return &problem.Error{Code: problem.Unavailable, Detail: "a dependency of the service is unavailable; retry with the same transaction_id",
			RetryAfter: UnavailableRetryAfter}
	}
	return err
}

// WriteProblem writes err as a problem document (see AsProblem); the
// services' handlers send every error through it. The cause of a 5xx is
// logged, never sent.
func WriteProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := AsProblem(err)
	if p != err && log != nil {
		log.WarnContext(r.Context(), "dependency unavailable", "err", err, "path", r.URL.Path)
		log = nil // logged once, as what it is
	}
	problem.Write(w, r, log, p)
}
