package shardsplit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/shard"
)

// Each event goes with the account on the shard that emitted it.
func TestEventAccount(t *testing.T) {
	amt, err := money.Parse("1.00", "USD")
	if err != nil {
		t.Fatal(err)
	}
	tr := account.TransferPayload(account.Transfer{TransactionID: "tx", From: "src", To: "dst", Amount: amt})
	mv := account.MovementPayload(account.Movement{TransactionID: "tx", AccountID: "mover", Amount: amt}, "USD")
	ac := account.AccountPayload(account.Account{ID: "opener", Currency: "USD"})
	for _, tt := range []struct {
		typ     string
		payload any
		want    string
	}{
		{events.TransferDebited, tr, "src"},
		{events.TransferCompleted, tr, "src"},
		{events.TransferFailed, tr, "src"},
		{events.TransferCredited, tr, "dst"},
		{events.TransferCreditRejected, tr, "dst"},
		{events.AccountDeposited, mv, "mover"},
		{events.AccountWithdrawn, mv, "mover"},
		{events.AccountOpened, ac, "opener"},
		{events.AccountStatusChanged, ac, "opener"},
		{"transfer.unknown", tr, ""},
	} {
		e := account.NewEvent(0, tt.typ, "subject", 0, tt.payload, time.Now())
		if got := eventAccount(e.Type, string(e.Data)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.typ, got, tt.want)
		}
	}
	if got := eventAccount(events.TransferDebited, "{not json"); got != "" {
		t.Errorf("a payload that is not JSON: %q", got)
	}
	// An account of another old shard (the row is misplaced): it stays.
	for _, id := range []string{"src", "a", "b", "c", "d"} {
		p := tr
		p.FromAccount = id
		b, _ := json.Marshal(p)
		got := eventShard(events.TransferDebited, string(b), 1, 4, 256)
		if shard.Of(id, 4) == 1 && got != shard.Of(id, 256) || shard.Of(id, 4) != 1 && got != 1 {
			t.Errorf("account %s (old shard %d) of old shard 1: new shard %d", id, shard.Of(id, 4), got)
		}
	}
}
