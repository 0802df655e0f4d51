package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// pages follows next_cursor from path, collecting the member key of every
// item (a field of each element of list), and fails on a page over limit.
func (e *env) pages(path, list, key string, limit int) []string {
	e.t.Helper()
	var out []string
	cursor := ""
	for range 100 {
		p := path + "&limit=" + fmt.Sprint(limit)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.do(http.MethodGet, p, "", "")
		items, ok := r.Body[list].([]any)
		if r.Status != http.StatusOK || !ok || len(items) > limit {
			e.t.Fatalf("%s: %d %s", p, r.Status, r.Raw)
		}
		for _, it := range items {
			out = append(out, fmt.Sprint(it.(map[string]any)[key]))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			return out
		}
		cursor = next
	}
	e.t.Fatalf("%s: no last page after 100", path)
	return nil
}

// A customer lists its own accounts, an operator an owner's; pages walk
// every account once, by id, across shards.
func TestListAccounts(t *testing.T) {
	e := mustEnv(t)
	var anns []string
	for _, sh := range []int{0, 1, 1, 2, 3} {
		id := idOn(sh)
		anns = append(anns, id)
		e.openFor(id, "u-ann")
	}
	ben := idOn(0)
	e.openFor(ben, "u-ben")
	slices.Sort(anns)

	if got := e.pages("/v1/accounts?owner_id=u-ann", "accounts", "account_id", 2); !slices.Equal(got, anns) {
		t.Errorf("operator's pages: %v, want %v", got, anns)
	}
	ann := e.as(authtest.Token(t, auth.Customer, "u-ann"))
	if got := ann.pages("/v1/accounts?", "accounts", "account_id", 50); !slices.Equal(got, anns) {
		t.Errorf("ann's own accounts: %v, want %v", got, anns)
	}
	if got := ann.pages("/v1/accounts?owner_id=u-ann", "accounts", "account_id", 1); !slices.Equal(got, anns) {
		t.Errorf("ann naming herself: %v, want %v", got, anns)
	}
	if r := ann.do(http.MethodGet, "/v1/accounts?owner_id=u-ben", "", ""); r.Status != http.StatusOK || r.Raw != `{"accounts":[]}`+"\n" {
		t.Errorf("ann asking for ben's accounts: %d %s, want an empty list", r.Status, r.Raw)
	}
	for range 2 {
		e.post("/v1/wallet/balance_transfer", map[string]string{"from_account": anns[0], "to_account": ben, "amount": "1.00", "currency": "USD", "transaction_id": uuid.NewString()})
	}
	transfersCursor, _ := e.do(http.MethodGet, "/v1/accounts/"+anns[0]+"/transfers?limit=1", "", "").Body["next_cursor"].(string)
	if transfersCursor == "" {
		t.Fatal("no cursor from a list of transfers")
	}
	for _, tt := range []struct{ name, query string }{
		{"no owner_id", ""},
		{"bad owner_id", "owner_id=u.x"},
		{"limit 0", "owner_id=u-ann&limit=0"},
		{"limit 501", "owner_id=u-ann&limit=501"},
		{"limit not a number", "owner_id=u-ann&limit=ten"},
		{"cursor not base64", "owner_id=u-ann&cursor=%25%25"},
		{"cursor not ours", "owner_id=u-ann&cursor=e30"},
		{"another list's cursor", "owner_id=u-ann&cursor=" + transfersCursor},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(http.MethodGet, "/v1/accounts?"+tt.query, "", ""), http.StatusBadRequest, "invalid_request")
		})
	}
}

// An account lists what it sent (refused included) and what credited it,
// same-shard or cross-shard, newest first; pages of any size add up to the
// whole list; another owner's account reads like a missing one.
func TestListAccountTransfers(t *testing.T) {
	e := mustEnv(t)
	me, near, far := idOn(0), idOn(0), idOn(1)
	e.openFor(me, "u-me")
	e.openFor(near, "u-peer")
	e.openFor(far, "u-peer")
	send := func(from, to, amount string, want int) {
		t.Helper()
		r := e.post("/v1/wallet/balance_transfer", map[string]string{"from_account": from, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": uuid.NewString()})
		if r.Status != want {
			t.Fatalf("%s → %s %s: %d %s, want %d", from, to, amount, r.Status, r.Raw, want)
		}
	}
	send(me, near, "1.00", http.StatusOK)
	send(me, far, "2.00", http.StatusAccepted)
	send(near, me, "3.00", http.StatusOK)
	send(far, me, "4.00", http.StatusAccepted)
	send(me, near, "1000.00", http.StatusUnprocessableEntity) // refused: listed, it is mine
	send(near, me, "1000.00", http.StatusUnprocessableEntity) // refused: never reached me
	send(far, me, "1000.00", http.StatusUnprocessableEntity)  // refused on shard 1
	e.runSaga()

	mine := e.as(authtest.Token(t, auth.Customer, "u-me"))
	r := mine.do(http.MethodGet, "/v1/accounts/"+me+"/transfers", "", "")
	if r.Status != http.StatusOK || r.Body["next_cursor"] != nil {
		t.Fatalf("list: %d %s", r.Status, r.Raw)
	}
	var got, ids []string
	for _, it := range r.Body["transfers"].([]any) {
		m := it.(map[string]any)
		got = append(got, fmt.Sprintf("%s %s %s→%s %s", m["direction"], m["status"], name(m["from_account"], me, near, far), name(m["to_account"], me, near, far), m["amount"]))
		ids = append(ids, m["transaction_id"].(string))
	}
	want := []string{ // newest first; a cross-shard credit is listed when it credited
		"incoming completed far→me 4.00",
		"outgoing refused me→near 1000.00",
		"incoming completed near→me 3.00",
		"outgoing completed me→far 2.00",
		"outgoing completed me→near 1.00",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("me's transfers:\n%v\nwant\n%v", got, want)
	}
	for _, limit := range []int{1, 2, 4} {
		if paged := mine.pages("/v1/accounts/"+me+"/transfers?", "transfers", "transaction_id", limit); !slices.Equal(paged, ids) {
			t.Errorf("pages of %d: %v, want %v", limit, paged, ids)
		}
	}

	peer := e.as(authtest.Token(t, auth.Customer, "u-peer"))
	other := peer.do(http.MethodGet, "/v1/accounts/"+me+"/transfers", "", "")
	wantProblem(t, other, http.StatusNotFound, "account_not_found")
	if other.Body["detail"] != fmt.Sprintf("account %s does not exist", me) {
		t.Errorf("another's account reads unlike a missing one: %s", other.Raw)
	}
	wantProblem(t, e.do(http.MethodGet, "/v1/accounts/ghost/transfers", "", ""), http.StatusNotFound, "account_not_found")
	wantProblem(t, e.do(http.MethodGet, "/v1/accounts/bad.id/transfers", "", ""), http.StatusBadRequest, "invalid_request")
	for _, q := range []string{"limit=0", "limit=501", "cursor=e30", "cursor=" + url.QueryEscape("eyJrIjoiYWNjb3VudHMiLCJpZCI6ImEifQ")} {
		wantProblem(t, mine.do(http.MethodGet, "/v1/accounts/"+me+"/transfers?"+q, "", ""), http.StatusBadRequest, "invalid_request")
	}
}

// name turns an account id into the test's name for it.
func name(id any, me, near, far string) string {
	switch id {
	case me:
		return "me"
	case near:
		return "near"
	case far:
		return "far"
	}
	return fmt.Sprint(id)
}
