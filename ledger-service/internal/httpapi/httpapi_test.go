package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/httpapi"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// mustServer fills a fresh ledger and serves it: alice has three USD
// deposits an hour apart (10.00, 20.00, 30.00) and sent 5.00 to bob in the
// cross-shard transfer tx-1.
func mustServer(t *testing.T) *httptest.Server {
	t.Helper()
	s, _ := ledgertest.MustStore(t)
	evts := []events.Event{ledgertest.Opened("alice", "USD")}
	for i, amount := range []string{"10", "20", "30"} {
		e := ledgertest.Deposited("alice", amount, "USD")
		e.Time = t0.Add(time.Duration(i) * time.Hour)
		evts = append(evts, e)
	}
	for _, typ := range []string{events.TransferDebited, events.TransferCredited, events.TransferCompleted} {
		evts = append(evts, ledgertest.Transfer(typ, "tx-1", "alice", "bob", "5", "USD", 0, 1))
	}
	for _, e := range evts {
		eff, err := ledger.FromEvent(e)
		if err == nil {
			_, err = s.Apply(context.Background(), eff)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	h, err := httpapi.New(s, authtest.Guard(t, httpapi.Policy(), 0), owners{"alice": "u-alice"}, slog.New(slog.DiscardHandler), s.Ping)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path and decodes its JSON body.
func get(t *testing.T, srv *httptest.Server, path string) (int, string, map[string]any) {
	t.Helper()
	return getAs(t, srv, path, authtest.Operator(t))
}

// getAs is get with token as the bearer token ("": none).
func getAs(t *testing.T, srv *httptest.Server, path, token string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func TestAPI(t *testing.T) {
	srv := mustServer(t)
	tests := []struct {
		name   string
		path   string
		status int
		want   map[string]any // top-level members that must match exactly
	}{
		{"balance", "/v1/ledger/accounts/alice/balance", 200,
			map[string]any{"account_id": "alice", "currency": "USD", "balance": "55.00"}},
		{"balance as of", "/v1/ledger/accounts/alice/balance?as_of=2026-05-01T10:30:00Z", 200,
			map[string]any{"balance": "30.00", "as_of": "2026-05-01T10:30:00Z"}},
		{"balance as of in a zone", "/v1/ledger/accounts/alice/balance?as_of=2026-05-01T17:59:59.5%2B09:00", 200,
			map[string]any{"balance": "0.00", "as_of": "2026-05-01T08:59:59.5Z"}},
		{"system account", "/v1/ledger/accounts/@world:USD/balance", 200, map[string]any{"balance": "-60.00"}},
		{"in flight drained", "/v1/ledger/accounts/@in_flight:USD/balance", 200, map[string]any{"balance": "0.00"}},
		{"unknown account", "/v1/ledger/accounts/nobody/balance", 404, map[string]any{"code": "account_not_found", "status": 404.0}},
		{"bad as_of", "/v1/ledger/accounts/alice/balance?as_of=yesterday", 400, map[string]any{"code": "invalid_request"}},
		{"entries of unknown", "/v1/ledger/accounts/nobody/entries", 404, map[string]any{"code": "account_not_found"}},
		{"limit zero", "/v1/ledger/accounts/alice/entries?limit=0", 400, map[string]any{"code": "invalid_request"}},
		{"limit too big", "/v1/ledger/accounts/alice/entries?limit=501", 400, map[string]any{"code": "invalid_request"}},
		{"limit not a number", "/v1/ledger/accounts/alice/entries?limit=ten", 400, map[string]any{"code": "invalid_request"}},
		{"bad cursor", "/v1/ledger/accounts/alice/entries?cursor=abc", 400, map[string]any{"code": "invalid_request"}},
		{"unknown transfer", "/v1/ledger/transfers/tx-404", 404, map[string]any{"code": "not_found"}},
		{"unknown route", "/v1/ledger/nothing", 404, map[string]any{"code": "not_found"}},
		{"ready", "/readyz", 200, map[string]any{"status": "ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, body := get(t, srv, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if wantType := "application/json"; status >= 400 {
				if wantType = "application/problem+json"; ctype != wantType {
					t.Errorf("Content-Type %q, want %q", ctype, wantType)
				}
			}
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("%s = %#v, want %#v (body %v)", k, body[k], v, body)
				}
			}
		})
	}
}

func TestEntriesPages(t *testing.T) {
	srv := mustServer(t)
	var amounts, afters []string
	path := "/v1/ledger/accounts/alice/entries?limit=3"
	for pages := 1; ; pages++ {
		_, _, body := get(t, srv, path)
		for _, raw := range body["entries"].([]any) {
			e := raw.(map[string]any)
			amounts = append(amounts, e["amount"].(string))
			afters = append(afters, e["balance_after"].(string))
			for _, k := range []string{"entry_id", "journal_id", "event_type", "transaction_id", "currency", "occurred_at"} {
				if _, ok := e[k]; !ok {
					t.Errorf("entry lacks %s: %v", k, e)
				}
			}
		}
		next, ok := body["next_cursor"].(string)
		if !ok {
			if pages != 2 {
				t.Errorf("%d pages, want 2", pages)
			}
			break
		}
		path = "/v1/ledger/accounts/alice/entries?limit=3&cursor=" + next
	}
	if got, want := strings.Join(amounts, " "), "-5.00 30.00 20.00 10.00"; got != want {
		t.Errorf("amounts %q, want %q (newest first)", got, want)
	}
	if got, want := strings.Join(afters, " "), "55.00 60.00 30.00 10.00"; got != want {
		t.Errorf("balance_after %q, want %q", got, want)
	}
}

// At a page boundary the API gives no cursor to an empty page: alice has 4
// entries, so limit 4 is one page and limit 2 two, the last without
// next_cursor; limit 3 and 5 around them.
func TestEntriesPageBoundary(t *testing.T) {
	srv := mustServer(t)
	for _, tt := range []struct{ limit, pages int }{{2, 2}, {3, 2}, {4, 1}, {5, 1}} {
		path := fmt.Sprintf("/v1/ledger/accounts/alice/entries?limit=%d", tt.limit)
		var amounts []string
		pages := 0
		for {
			status, _, body := get(t, srv, path)
			if status != 200 {
				t.Fatalf("limit %d: %d %v", tt.limit, status, body)
			}
			pages++
			for _, raw := range body["entries"].([]any) {
				amounts = append(amounts, raw.(map[string]any)["amount"].(string))
			}
			next, ok := body["next_cursor"].(string)
			if !ok {
				break
			}
			path = fmt.Sprintf("/v1/ledger/accounts/alice/entries?limit=%d&cursor=%s", tt.limit, next)
		}
		if got := strings.Join(amounts, " "); got != "-5.00 30.00 20.00 10.00" || pages != tt.pages {
			t.Errorf("limit %d: %q in %d pages, want every entry once in %d", tt.limit, got, pages, tt.pages)
		}
	}
}

func TestTransfer(t *testing.T) {
	srv := mustServer(t)
	status, _, body := get(t, srv, "/v1/ledger/transfers/tx-1")
	if status != 200 || body["transaction_id"] != "tx-1" {
		t.Fatalf("GET transfer = %d %v", status, body)
	}
	var steps []string
	for _, raw := range body["journals"].([]any) {
		j := raw.(map[string]any)
		var lines []string
		for _, e := range j["entries"].([]any) {
			m := e.(map[string]any)
			lines = append(lines, m["account_id"].(string)+" "+m["amount"].(string))
		}
		steps = append(steps, j["event_type"].(string)+": "+strings.Join(lines, ", "))
	}
	want := "transfer.debited: alice -5.00, @in_flight:USD 5.00 | transfer.credited: @in_flight:USD -5.00, bob 5.00 | transfer.completed: "
	if got := strings.Join(steps, " | "); got != want {
		t.Errorf("journals\n got %s\nwant %s", got, want)
	}
}
