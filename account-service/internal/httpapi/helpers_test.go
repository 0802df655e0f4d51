package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/gorilla/mux"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/httpapi"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

type env struct {
	t      *testing.T
	url    string
	router *mux.Router // the handler under test
	shards []*sqlx.DB
	f      *accounttest.Fixture
	// token is sent as the bearer token ("" sends none): an operator's
	// unless a test asks for another caller.
	token string
	// stepped holds the saga event ids runSaga applied already.
	stepped map[string]bool
}

// mustEnv boots the real handler over 4 fresh shard schemas.
func mustEnv(t *testing.T) *env {
	t.Helper()
	// A bulk waits for room as long as it takes: a loaded test machine
	// must not turn the 1,000-item request into refusals (groupcommit's own
	// tests cover the refusal after ManyWait).
	f := accounttest.MustStore(t, groupcommit.Config{ManyWait: time.Minute})
	h, err := httpapi.New(f.Store, f.Writer, noWaiter{}, httpapi.Options{Guard: authtest.Guard(t, httpapi.Policy(), 0)}, slog.New(slog.NewTextHandler(io.Discard, nil)), f.Store.Ping)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, router: h.(*mux.Router), shards: f.DBs, f: f, token: authtest.Operator(t)}
}

// noWaiter never signals: these tests run no saga consumers, so cross-shard
// transfers stay pending (saga tests live in pkg/systemtest).
type noWaiter struct{}

func (noWaiter) Watch(account.Key) (<-chan account.Transfer, func()) { return nil, func() {} }

// idOn returns a fresh account id that lives on shard sh.
func idOn(sh int) string { return accounttest.IDOn(sh) }

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (e *env) do(method, path, contentType, body string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewBufferString(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func (e *env) post(path string, body any) response {
	e.t.Helper()
	b, ok := body.(string)
	if !ok {
		raw, _ := json.Marshal(body)
		b = string(raw)
	}
	return e.do(http.MethodPost, path, "application/json", b)
}

func (e *env) mustOpen(id, currency string) {
	e.t.Helper()
	if r := e.post("/v1/accounts", map[string]string{"account_id": id, "owner_id": "owner", "currency": currency}); r.Status != http.StatusCreated {
		e.t.Fatalf("open %s: %d %s", id, r.Status, r.Raw)
	}
}

func (e *env) mustDeposit(id, amount, currency string) {
	e.t.Helper()
	r := e.post("/v1/accounts/"+id+"/deposits", map[string]string{"amount": amount, "currency": currency, "transaction_id": uuid.NewString()})
	if r.Status != http.StatusOK {
		e.t.Fatalf("deposit %s: %d %s", id, r.Status, r.Raw)
	}
}

func (e *env) balance(id string) string {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/accounts/"+id, "", "")
	if r.Status != http.StatusOK {
		e.t.Fatalf("get %s: %d %s", id, r.Status, r.Raw)
	}
	return r.Body["balance"].(string)
}

// snapshot is everything a rejected request must leave unchanged: a shard's
// refusal only adds its record (counted by refusals).
func (e *env) snapshot() string {
	e.t.Helper()
	var out string
	for i, db := range e.shards {
		var n struct {
			Accounts, Outbox, Transfers, Movements int
			Sum                                    string
		}
		err := db.QueryRowx(`SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM outbox),
			(SELECT COUNT(*) FROM transfers WHERE refusal IS NULL), (SELECT COUNT(*) FROM movements WHERE refusal IS NULL),
			(SELECT COALESCE(SUM(balance),0) FROM accounts)`).Scan(&n.Accounts, &n.Outbox, &n.Transfers, &n.Movements, &n.Sum)
		if err != nil {
			e.t.Fatal(err)
		}
		out += fmt.Sprintf("shard%d:%+v ", i, n)
	}
	return out
}

// refusals counts the refused transfers and movements recorded on every
// shard.
func (e *env) refusals() int {
	e.t.Helper()
	total := 0
	for _, db := range e.shards {
		var n int
		if err := db.Get(&n, `SELECT (SELECT COUNT(*) FROM transfers WHERE refusal IS NOT NULL) +
			(SELECT COUNT(*) FROM movements WHERE refusal IS NOT NULL)`); err != nil {
			e.t.Fatal(err)
		}
		total += n
	}
	return total
}

func wantProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Header.Get("Content-Type") != "application/problem+json" || r.Body["code"] != code {
		t.Fatalf("got %d %s %s, want %d problem %s", r.Status, r.Header.Get("Content-Type"), r.Raw, status, code)
	}
}
