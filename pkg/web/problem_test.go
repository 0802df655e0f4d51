package web

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/walletco/wallet/pkg/problem"
)

// Unreachable dependencies answer 503 unavailable with Retry-After; a
// problem keeps its code; anything else stays a 500.
func TestWriteProblemMapsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   problem.Code
	}{
		{fmt.Errorf("group commit: %w", syscall.ECONNREFUSED), 503, problem.Unavailable},
		{fmt.Errorf("x: %w", driver.ErrBadConn), 503, problem.Unavailable},
		{&mysql.MySQLError{Number: 1040, Message: "Too many connections"}, 503, problem.Unavailable},
		{fmt.Errorf("publish: %w", nats.ErrNoServers), 503, problem.Unavailable},
		{problem.New(problem.InsufficientFunds, "no"), 422, problem.InsufficientFunds},
		{errors.New("a bug"), 500, problem.Internal},
		{&mysql.MySQLError{Number: 1264, Message: "Out of range"}, 500, problem.Internal},
	} {
		w := httptest.NewRecorder()
		WriteProblem(w, httptest.NewRequest(http.MethodGet, "/x", nil), nil, c.err)
		retry := w.Header().Get("Retry-After")
		if w.Code != c.status || (c.status == 503) != (retry != "") {
			t.Errorf("%v: %d Retry-After %q, want %d", c.err, w.Code, retry, c.status)
		}
		if got := w.Body.String(); !strings.Contains(got, `"code":"`+string(c.code)+`"`) {
			t.Errorf("%v: body %s, want code %s", c.err, got, c.code)
		}
		// A bulk item's problem is the same answer.
		status, body, secs := ProblemBody(httptest.NewRequest(http.MethodPost, "/x", nil), nil, c.err)
		if status != w.Code || body["code"] != c.code || fmt.Sprint(secs) != retry && !(secs == 0 && retry == "") {
			t.Errorf("%v: ProblemBody = %d %v %d, WriteProblem %d Retry-After %q", c.err, status, body, secs, w.Code, retry)
		}
		if status == 500 && body["detail"] != "internal error" {
			t.Errorf("%v: ProblemBody shows an internal detail: %v", c.err, body)
		}
	}
}
