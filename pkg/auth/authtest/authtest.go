// Package authtest mints the tokens tests send and builds the guard of a
// test server, with a fixed HS256 secret, and holds a router to its policy.
package authtest

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/pkg/auth"
)

// Secret is the HS256 secret of test servers.
const Secret = "test-secret-test-secret-test-secret!"

// Guard returns a guard over p that accepts tokens signed with Secret and
// limits clients to perSecond requests a second (0: no limit).
func Guard(t testing.TB, p auth.Policy, perSecond float64) *auth.Guard {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Secret: Secret}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewGuard(v, auth.NewLimiter(perSecond, int(perSecond)), p, slog.New(slog.DiscardHandler))
}

// Token returns a token for subject in role, valid for an hour.
func Token(t testing.TB, role auth.Role, subject string) string {
	t.Helper()
	tok, err := auth.Mint(Secret, subject, role, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Operator is an operator's token.
func Operator(t testing.TB) string { return Token(t, auth.Operator, "ops") }

// CheckRoutes fails the test unless every route r serves has a row in p
// (or is public) and every row of p is served. A route without methods
// counts as any method; a "* template" row is served by any method.
func CheckRoutes(t testing.TB, r *mux.Router, p auth.Policy) {
	t.Helper()
	served := map[string]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, _ := route.GetPathTemplate()
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{"*"}
		}
		for _, m := range methods {
			served[m+" "+tpl], served["* "+tpl] = true, true
			_, ok := p.Routes[m+" "+tpl]
			_, any := p.Routes["* "+tpl]
			public := slices.ContainsFunc(p.Public, func(pub string) bool {
				return pub == tpl || strings.HasSuffix(pub, "/") && strings.HasPrefix(tpl, pub)
			})
			if !ok && !any && !public {
				t.Errorf("%s %s is served but not in the policy", m, tpl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range p.Routes {
		if !served[k] {
			t.Errorf("the policy allows %s, which the router does not serve", k)
		}
	}
}
