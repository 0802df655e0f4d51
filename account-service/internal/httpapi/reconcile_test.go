package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/shardread"
)

// mustDeadLetters adds the dead-letter table the app migrates onto every
// shard (the summary counts its rows).
func mustDeadLetters(t *testing.T, e *env) {
	t.Helper()
	if err := e.f.Store.Migrate(context.Background(), deadletter.Migrations()); err != nil {
		t.Fatal(err)
	}
}

// The read side reconcile uses: a shard's sums (balances, cross-shard money
// sent and received, pending), its accounts page by page and by id, and its
// outbox — all read through the client ledger-service uses, as an operator.
func TestReconcileReadSide(t *testing.T) {
	e := mustEnv(t)
	mustDeadLetters(t, e)
	a, b, far := idOn(0), idOn(0), idOn(1)
	for _, id := range []string{a, b, far} {
		e.mustOpen(id, "USD")
	}
	e.mustDeposit(a, "10.00", "USD")
	e.mustDeposit(b, "2.50", "USD")
	// A cross-shard transfer: debited on shard 0, pending (no saga runs here).
	if r := e.post("/v1/wallet/balance_transfer", map[string]string{"from_account": a, "to_account": far, "amount": "3.00",
		"currency": "USD", "transaction_id": uuid.NewString()}); r.Status != http.StatusAccepted && r.Status != http.StatusOK {
		t.Fatalf("transfer: %d %s", r.Status, r.Raw)
	}
	ctx := context.Background()
	c := shardread.NewClient(e.url, e.token)

	sum, err := c.Summary(ctx, 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Shard != 0 || sum.Accounts != 2 || len(sum.Currencies) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	usd := sum.Currencies[0]
	if usd.Currency != "USD" || usd.Accounts != 2 || usd.Balances.String() != "9.5" || usd.Sent.String() != "3" ||
		usd.Pending.String() != "3" || usd.PendingCount != 1 || !usd.Received.IsZero() {
		t.Errorf("shard 0's USD %+v", usd)
	}
	if sum.StaleTransfers.Count != 0 || sum.DeadLetters.Count != 0 {
		t.Errorf("nothing is stale yet: %+v %+v", sum.StaleTransfers, sum.DeadLetters)
	}
	// Dated in the future, the pending transfer is stale.
	if stale, err := c.Summary(ctx, 0, time.Now().Add(time.Hour)); err != nil || stale.StaleTransfers.Count != 1 ||
		stale.StaleTransfers.Listed[0].FromAccount != a || stale.StaleTransfers.Listed[0].ToShard != 1 {
		t.Errorf("stale transfers: %v %+v", err, stale.StaleTransfers)
	}
	// The mark changes with the money.
	e.mustDeposit(b, "1.00", "USD")
	if again, err := c.Summary(ctx, 0, time.Time{}); err != nil || again.Versions == sum.Versions {
		t.Errorf("versions %d after a deposit, %d before (%v)", again.Versions, sum.Versions, err)
	}

	// Pages by id, then a lookup.
	var seen []string
	after := ""
	for {
		page, err := c.Accounts(ctx, 0, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, acc := range page.Accounts {
			seen = append(seen, acc.AccountID)
		}
		if page.NextAfter == "" {
			break
		}
		after = page.NextAfter
	}
	if len(seen) != 2 || seen[0] >= seen[1] {
		t.Errorf("pages gave %v", seen)
	}
	found, err := c.Lookup(ctx, 0, []string{a, far, "ghost"})
	if err != nil || len(found) != 1 || found[0].AccountID != a || found[0].Balance.String() != "7" || found[0].Version == 0 {
		t.Errorf("lookup: %v %+v", err, found)
	}

	// No relay runs: the outbox holds every event, none published.
	out, err := c.Outbox(ctx, 0, time.Time{})
	if err != nil || out.LastID == 0 || out.FirstUnpublished == 0 || out.Unpublished == 0 || out.SetAside.Count != 0 {
		t.Errorf("outbox: %v %+v", err, out)
	}

	// Operators only; a shard that does not exist is 404.
	e.token = ""
	if r := e.do(http.MethodGet, "/v1/admin/reconcile/shards/0", "", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.Status)
	}
	if _, err := shardread.NewClient(e.url, "").Summary(ctx, 0, time.Time{}); err == nil {
		t.Error("the client read without a token")
	}
	if _, err := c.Summary(ctx, 4, time.Time{}); err == nil {
		t.Error("shard 4 of 4 answered")
	}
}
