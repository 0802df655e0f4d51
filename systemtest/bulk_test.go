package systemtest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/testenv"
)

// A bulk request on the real binaries: the same-shard item answers
// success, the refused one its problem, the cross-shard one pending at
// once; the saga then completes it over NATS, its replay answers success,
// and the ledger agrees with the shards.
func TestBulkTransfersThroughSaga(t *testing.T) {
	t.Parallel()
	s := New(t, binDir)
	s.StartAll()
	src, near, far := idOn(0), idOn(0), idOn(1)
	for _, id := range []string{src, near, far} {
		s.mustOpen(id, "USD")
	}
	s.mustMove("deposits", src, "100.00", "USD")
	item := func(to, amount, id string) map[string]string {
		return map[string]string{"from_account": src, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": id}
	}
	cross := uuid.NewString()
	req := map[string]any{"transfers": []map[string]string{
		item(far, "30.00", cross), item(near, "10.00", uuid.NewString()), item(near, "500.00", uuid.NewString())}}
	results := func() []any {
		code, body := s.Do("POST", s.URL("account-service")+"/v1/wallet/transfers", req)
		res, _ := body["results"].([]any)
		if code != http.StatusOK || len(res) != 3 {
			t.Fatalf("bulk: %d %v", code, body)
		}
		return res
	}
	res := results()
	for i, want := range []string{"pending 202", "success 200", "error 422"} {
		r := res[i].(map[string]any)
		if got := fmt.Sprintf("%v %v", r["status"], r["http_status"]); got != want {
			t.Errorf("item %d: %v, want %s", i, r, want)
		}
	}
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		code, body := s.Do("GET", s.URL("account-service")+"/v1/wallet/transfers/"+cross, nil)
		if code != http.StatusOK || body["status"] != "completed" {
			return fmt.Errorf("cross-shard item: %d %v", code, body)
		}
		return nil
	})
	if r := results()[0].(map[string]any); r["status"] != "success" || r["http_status"] != float64(200) {
		t.Errorf("the completed item's replay: %v", r)
	}
	if s.balance(src) != "60.00" || s.balance(near) != "10.00" || s.balance(far) != "30.00" {
		t.Fatalf("balances %s %s %s, want 60.00 10.00 30.00", s.balance(src), s.balance(near), s.balance(far))
	}
	s.waitLedgerAgrees(src, near, far)
}
