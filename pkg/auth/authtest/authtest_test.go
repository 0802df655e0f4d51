package authtest_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// recorder keeps the errors a check reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

func TestCheckRoutesReportsBothDirections(t *testing.T) {
	ok := func(http.ResponseWriter, *http.Request) {}
	r := mux.NewRouter()
	r.HandleFunc("/v1/a", ok).Methods(http.MethodGet)
	r.HandleFunc("/v1/b", ok).Methods(http.MethodPost)
	r.HandleFunc("/healthz", ok).Methods(http.MethodGet)
	p := auth.Policy{Routes: map[string][]auth.Role{"GET /v1/a": {auth.Customer}, "GET /v1/gone": {auth.Customer}}, Public: []string{"/healthz"}}

	rec := &recorder{TB: t}
	authtest.CheckRoutes(rec, r, p)
	want := []string{"POST /v1/b is served but not in the policy", "the policy allows GET /v1/gone, which the router does not serve"}
	if !slices.Equal(rec.errs, want) {
		t.Fatalf("errors %q, want %q", rec.errs, want)
	}

	p.Routes["* /v1/b"] = []auth.Role{auth.Operator}
	delete(p.Routes, "GET /v1/gone")
	rec = &recorder{TB: t}
	authtest.CheckRoutes(rec, r, p)
	if len(rec.errs) != 0 {
		t.Fatalf("a policy that matches the router: %q", rec.errs)
	}
}
