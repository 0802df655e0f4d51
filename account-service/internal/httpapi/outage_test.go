package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/httpapi"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/testenv"
)

// While the shards cannot be reached every request answers 503
// unavailable with Retry-After, not 500; once they are back the same
// request (same transaction_id) succeeds, and applies once.
func TestDatabaseOutageAnswers503(t *testing.T) {
	cfg, err := mysql.ParseDSN(os.Getenv(testenv.EnvMySQL))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, cfg.Addr)
	var dsns []string
	for _, dsn := range testenv.Databases(t, accounttest.Shards) {
		dsns = append(dsns, proxy.DSN(dsn))
	}
	f := accounttest.MustStoreOn(t, dsns, groupcommit.Config{})
	h, err := httpapi.New(f.Store, f.Writer, noWaiter{}, httpapi.Options{Guard: authtest.Guard(t, httpapi.Policy(), 0)}, slog.New(slog.NewTextHandler(io.Discard, nil)), f.Store.Ping)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL, shards: f.DBs, f: f, token: authtest.Operator(t)}
	a, b := idOn(0), idOn(0)
	e.mustOpen(a, "USD")
	e.mustOpen(b, "USD")
	e.mustDeposit(a, "10.00", "USD")

	proxy.Cut()
	deposit := map[string]string{"amount": "1.00", "currency": "USD", "transaction_id": uuid.NewString()}
	transfer := map[string]string{"from_account": a, "to_account": b, "amount": "2.00", "currency": "USD", "transaction_id": uuid.NewString()}
	for name, r := range map[string]response{
		"deposit":  e.post("/v1/accounts/"+a+"/deposits", deposit),
		"transfer": e.post("/v1/wallet/balance_transfer", transfer),
		"get":      e.do(http.MethodGet, "/v1/accounts/"+a, "", ""),
		"open":     e.post("/v1/accounts", map[string]string{"owner_id": "o", "currency": "USD"}),
		"readyz":   e.do(http.MethodGet, "/readyz", "", ""),
	} {
		if r.Status != http.StatusServiceUnavailable || r.Body["code"] != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s while the database is down: %d %v %s, want 503 unavailable with Retry-After", name, r.Status, r.Header, r.Raw)
		}
	}

	proxy.Restore()
	if r := e.post("/v1/accounts/"+a+"/deposits", deposit); r.Status != http.StatusOK {
		t.Fatalf("deposit retried after the outage: %d %s", r.Status, r.Raw)
	}
	if r := e.post("/v1/wallet/balance_transfer", transfer); r.Status != http.StatusOK {
		t.Fatalf("transfer retried after the outage: %d %s", r.Status, r.Raw)
	}
	e.post("/v1/accounts/"+a+"/deposits", deposit) // a replay changes nothing
	if got := e.balance(a); got != "9.00" {
		t.Errorf("balance %s after the outage, want 9.00 (10 + 1 - 2)", got)
	}
}
