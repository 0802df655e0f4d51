package httpapi_test

import (
	"testing"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/ledger-service/internal/httpapi"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// Every route the router serves has a row in the policy (or is public),
// and every row of the policy is served: both come from one table, and
// TestContract holds the OpenAPI document to the router.
func TestRoutesArePolicy(t *testing.T) {
	authtest.CheckRoutes(t, mustServer(t).Config.Handler.(*mux.Router), httpapi.Policy())
}
