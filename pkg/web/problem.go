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
	log, p := asProblemLogged(r, log, err)
	problem.Write(w, r, log, p)
}

// ProblemBody renders err as WriteProblem would answer it, for an answer
// that holds several (the items of a bulk request): the HTTP status, the
// RFC 9457 document and the Retry-After in seconds (0 for none). It logs
// as WriteProblem does.
func ProblemBody(r *http.Request, log *slog.Logger, err error) (status int, body map[string]any, retryAfter int) {
	log, p := asProblemLogged(r, log, err)
	status, body = problem.Body(p, "")
	if status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "err", err, "path", r.URL.Path)
	}
	return status, body, problem.RetryAfter(p)
}

// asProblemLogged is AsProblem that logs an unavailable dependency once, as
// what it is, and then returns no logger for the 5xx log line.
func asProblemLogged(r *http.Request, log *slog.Logger, err error) (*slog.Logger, error) {
	p := AsProblem(err)
	if p != err && log != nil {
		log.WarnContext(r.Context(), "dependency unavailable", "err", err, "path", r.URL.Path)
		return nil, p
	}
	return log, p
}
