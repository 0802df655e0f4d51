package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/account-service/internal/httpapi"
)

// Every route the router serves has a row in the policy (or is public),
// and every row of the policy is served: both come from one table, and
// TestContract holds the OpenAPI document to the router.
func TestRoutesArePolicy(t *testing.T) {
	e := mustEnv(t)
	p := httpapi.Policy()
	served := map[string]bool{}
	err := e.router.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, _ := r.GetPathTemplate()
		methods, err := r.GetMethods()
		if err != nil {
			methods = []string{"*"}
		}
		for _, m := range methods {
			served[m+" "+tpl] = true
			_, ok := p.Routes[m+" "+tpl]
			_, any := p.Routes["* "+tpl]
			public := slices.ContainsFunc(p.Public, func(pub string) bool { return pub == tpl || strings.HasSuffix(pub, "/") && strings.HasPrefix(tpl, pub) })
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
