package account

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shard"
)

const testShards = 4

// idOn returns an account id on shard sh (ids are fixed so the test reads the same every run).
func idOn(sh int, n int) string {
	for i := 0; ; i++ {
		id := "acc-" + string(rune('a'+n)) + "-" + decimal.NewFromInt(int64(i)).String()
		if shard.Of(id, testShards) == sh {
			return id
		}
	}
}

func usd(s string) money.Amount { a, _ := money.Parse(s, "USD"); return a }

func newBatch(accs ...*Account) *Batch {
	b := NewBatch(0, testShards, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	for _, a := range accs {
		b.Accounts[a.ID] = a
	}
	return b
}

func acc(id, balance string) *Account {
	return &Account{ID: id, Currency: "USD", Balance: decimal.RequireFromString(balance), Status: Active, Version: 1}
}

func transferOp(txID, from, to, amount string) Op {
	return Op{Kind: OpTransfer, Transfer: TransferRequest{TransactionID: txID, From: from, To: to, Amount: usd(amount)}}
}

func codeOf(err error) problem.Code {
	if err == nil {
		return ""
	}
	return problem.CodeOf(err)
}

// A hot account's debits apply in order against its running balance: the
// one that no longer fits fails alone, the ones after it still go through.
func TestBatchDecidesInArrivalOrder(t *testing.T) {
	hot, a, b := acc(idOn(0, 0), "10.00"), acc(idOn(0, 1), "0"), acc(idOn(0, 2), "0")
	bt := newBatch(hot, a, b)
	res := bt.Decide([]Op{
		transferOp("00000000-0000-4000-8000-000000000001", hot.ID, a.ID, "6.00"),
		transferOp("00000000-0000-4000-8000-000000000002", hot.ID, b.ID, "6.00"), // 4.00 left: refused
		transferOp("00000000-0000-4000-8000-000000000003", a.ID, hot.ID, "1.00"),
		transferOp("00000000-0000-4000-8000-000000000004", hot.ID, b.ID, "5.00"), // 5.00 left: fits
	})
	want := []problem.Code{"", problem.InsufficientFunds, "", ""}
	for i, r := range res {
		if codeOf(r.Err) != want[i] {
			t.Errorf("op %d: %v, want %q", i, r.Err, want[i])
		}
	}
	if hot.Balance.String() != "0" || a.Balance.String() != "5" || b.Balance.String() != "5" {
		t.Errorf("balances hot %s a %s b %s, want 0 5 5", hot.Balance, a.Balance, b.Balance)
	}
	// Versions rise by one per change, and each event carries the balance
	// right after its own change.
	if hot.Version != 4 {
		t.Errorf("hot version %d, want 4 (1 + three changes)", hot.Version)
	}
	var hotAfter []string
	for _, e := range bt.Changes.Events {
		p, _ := events.Decode[events.Transfer](e)
		for _, bal := range p.Balances {
			if bal.AccountID == hot.ID {
				hotAfter = append(hotAfter, bal.BalanceAfter+"@"+decimal.NewFromInt(bal.Version).String())
			}
		}
	}
	if got := len(hotAfter); got != 3 || hotAfter[0] != "4.00@2" || hotAfter[1] != "5.00@3" || hotAfter[2] != "0.00@4" {
		t.Errorf("hot balances in events %v, want [4.00@2 5.00@3 0.00@4]", hotAfter)
	}
	if len(bt.Changes.Transfers) != 4 || len(bt.Changes.Accounts) != 3 || bt.Changes.Transfers[1].Status != Refused {
		t.Errorf("%d transfers, %d accounts changed; want 4 (the second refused) and 3", len(bt.Changes.Transfers), len(bt.Changes.Accounts))
	}
}

// The same transaction_id twice in one batch: the second replays the first;
// with another body it is a conflict. A refusal is recorded too: the same
// request again replays it (even one the balance would now allow), another
// body under its key is a conflict.
func TestBatchSameKeyTwice(t *testing.T) {
	src, dst := acc(idOn(0, 0), "5.00"), acc(idOn(0, 1), "0")
	bt := newBatch(src, dst)
	k1, k2, k3 := "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c"
	res := bt.Decide([]Op{
		transferOp(k1, src.ID, dst.ID, "2.00"),
		transferOp(k1, src.ID, dst.ID, "2.00"),
		transferOp(k1, src.ID, dst.ID, "3.00"),
		transferOp(k2, src.ID, dst.ID, "9.00"), // refused
		transferOp(k2, src.ID, dst.ID, "9.00"), // the refusal replayed
		transferOp(k2, src.ID, dst.ID, "3.00"), // another body under a refused key
		transferOp(k3, src.ID, dst.ID, "3.00"),
	})
	want := []problem.Code{"", "", problem.IdempotencyConflict, problem.InsufficientFunds, problem.InsufficientFunds,
		problem.IdempotencyConflict, ""}
	for i, r := range res {
		if codeOf(r.Err) != want[i] {
			t.Errorf("op %d: %v, want %q", i, r.Err, want[i])
		}
	}
	if res[1].Transfer.TransactionID != k1 || res[1].Transfer.Status != Completed {
		t.Errorf("replay answered %+v", res[1].Transfer)
	}
	if src.Balance.String() != "0" || len(bt.Changes.Transfers) != 3 || len(bt.Changes.Events) != 2 {
		t.Errorf("source %s, %d transfers, %d events; want 0, 3 (one refused), 2", src.Balance, len(bt.Changes.Transfers), len(bt.Changes.Events))
	}
	if r := bt.Changes.Transfers[1]; r.TransactionID != k2 || r.Status != Refused || r.Reason != problem.InsufficientFunds || r.Refusal == nil {
		t.Errorf("second transfer recorded %+v, want %s refused for insufficient_funds", r, k2)
	}
	if !reflect.DeepEqual(res[4].Err, res[3].Err) {
		t.Errorf("replayed refusal %#v, want %#v", res[4].Err, res[3].Err)
	}
}

// A refusal loaded from an earlier batch is replayed, not decided again:
// the money that arrived since does not let a late copy of the request
// through, for a transfer or a movement; a key used with another body is a
// conflict.
func TestBatchReplaysStoredRefusal(t *testing.T) {
	src, dst := acc(idOn(0, 0), "50.00"), acc(idOn(0, 1), "0")
	bt := newBatch(src, dst)
	tk, mk := "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
	refused := &Refusal{Code: problem.InsufficientFunds, Detail: "account " + src.ID + " cannot pay 9.00 USD",
		Params: map[string]string{"available": "1.00", "requested": "9.00"}}
	tr := transferOp(tk, src.ID, dst.ID, "9.00")
	wd := Op{Kind: OpMove, Movement: MovementRequest{Kind: Withdrawal, AccountID: src.ID, TransactionID: mk, Amount: usd("9.00")}}
	bt.Transfers[tr.Transfer.Key()] = &Transfer{TransactionID: tk, Hash: tr.Transfer.Hash(), From: src.ID, To: dst.ID,
		Amount: usd("9.00"), Status: Refused, Reason: refused.Code, Refusal: refused}
	bt.Movements[mk] = &Movement{TransactionID: mk, Hash: wd.Movement.Hash(), Kind: Withdrawal, AccountID: src.ID,
		Amount: usd("9.00"), Refusal: refused}
	other := transferOp(tk, src.ID, dst.ID, "8.00")
	res := bt.Decide([]Op{tr, wd, other})
	want := []problem.Code{problem.InsufficientFunds, problem.InsufficientFunds, problem.IdempotencyConflict}
	for i, r := range res {
		if codeOf(r.Err) != want[i] {
			t.Errorf("op %d: %v, want %q", i, r.Err, want[i])
		}
	}
	want0 := problem.New(problem.InsufficientFunds, "account %s cannot pay 9.00 USD", src.ID).With("available", "1.00").With("requested", "9.00")
	if !reflect.DeepEqual(res[0].Err, want0) || !reflect.DeepEqual(res[1].Err, want0) {
		t.Errorf("answered %#v / %#v, want the stored refusal %#v", res[0].Err, res[1].Err, want0)
	}
	// No saga of a refused transfer can exist: an outcome for one is unknown.
	settle := bt.Decide([]Op{{Kind: OpSettle, Event: SagaEvent{ID: "e-refused", Type: events.TransferCreditRejected,
		Transfer: Transfer{TransactionID: tk, From: src.ID, To: dst.ID, Amount: usd("9.00")}}}})
	if settle[0].Err != ErrUnknownTransfer {
		t.Errorf("settle of a refused transfer answered %v, want ErrUnknownTransfer", settle[0].Err)
	}
	if src.Balance.String() != "50" || len(bt.Changes.Events) != 0 || len(bt.Changes.Transfers) != 0 || len(bt.Changes.Movements) != 0 {
		t.Errorf("source %s, %d events, %d transfers, %d movements written; want 50 and nothing", src.Balance,
			len(bt.Changes.Events), len(bt.Changes.Transfers), len(bt.Changes.Movements))
	}
}

// A request for an account another shard owns is misrouted, not refused:
// nothing is recorded under its key.
func TestBatchMisroutedIsNotRecorded(t *testing.T) {
	src := acc(idOn(0, 0), "5.00")
	bt := newBatch(src)
	elsewhere := idOn(1, 0)
	res := bt.Decide([]Op{
		transferOp("00000000-0000-4000-8000-0000000000b1", elsewhere, src.ID, "1.00"),
		{Kind: OpMove, Movement: MovementRequest{Kind: Deposit, AccountID: elsewhere, TransactionID: "00000000-0000-4000-8000-0000000000b2", Amount: usd("1.00")}},
	})
	if res[0].Err != ErrMisrouted || res[1].Err != ErrMisrouted {
		t.Errorf("answered %v / %v, want ErrMisrouted", res[0].Err, res[1].Err)
	}
	if len(bt.Changes.Transfers) != 0 || len(bt.Changes.Movements) != 0 {
		t.Errorf("recorded %d transfers, %d movements; want none", len(bt.Changes.Transfers), len(bt.Changes.Movements))
	}
}

func TestBatchMovementsAndRules(t *testing.T) {
	a, frozen := acc(idOn(0, 0), "1.00"), acc(idOn(0, 1), "1.00")
	frozen.Status = Frozen
	bt := newBatch(a, frozen)
	move := func(kind Kind, id, txID, amount string) Op {
		return Op{Kind: OpMove, Movement: MovementRequest{Kind: kind, AccountID: id, TransactionID: txID, Amount: usd(amount)}}
	}
	res := bt.Decide([]Op{
		move(Withdrawal, a.ID, "00000000-0000-4000-8000-000000000001", "2.00"),
		move(Deposit, a.ID, "00000000-0000-4000-8000-000000000002", "4.00"),
		move(Withdrawal, a.ID, "00000000-0000-4000-8000-000000000003", "2.00"),
		move(Deposit, a.ID, "00000000-0000-4000-8000-000000000002", "4.00"), // replay
		move(Deposit, frozen.ID, "00000000-0000-4000-8000-000000000004", "1.00"),
		move(Deposit, idOn(0, 5), "00000000-0000-4000-8000-000000000005", "1.00"),
		transferOp("00000000-0000-4000-8000-000000000006", a.ID, frozen.ID, "1.00"),
		{Kind: OpMove, Movement: MovementRequest{Kind: Deposit, AccountID: a.ID, TransactionID: "00000000-0000-4000-8000-000000000007", Amount: func() money.Amount { x, _ := money.Parse("1", "EUR"); return x }()}},
	})
	want := []problem.Code{problem.InsufficientFunds, "", "", "", problem.AccountFrozen, problem.AccountNotFound, problem.AccountFrozen, problem.CurrencyMismatch}
	for i, r := range res {
		if codeOf(r.Err) != want[i] {
			t.Errorf("op %d: %v, want %q", i, r.Err, want[i])
		}
	}
	if a.Balance.String() != "3" || res[3].Movement.BalanceAfter.String() != "5" {
		t.Errorf("balance %s (want 3), replayed balance_after %s (want 5, as first answered)", a.Balance, res[3].Movement.BalanceAfter)
	}
}

// Saga steps: a credit seen twice (redelivery, redrive) credits once; an
// outcome for a transfer that already ended changes nothing; events for the
// wrong shard or an unknown transfer are errors the consumer terminates.
func TestBatchSagaSteps(t *testing.T) {
	dst := acc(idOn(0, 0), "0")
	src := idOn(1, 1)
	tr := Transfer{TransactionID: "00000000-0000-4000-8000-000000000001", From: src, To: dst.ID, Amount: usd("2.00"), FromShard: 1, ToShard: 0}
	bt := newBatch(dst)
	debited := SagaEvent{ID: "e1", Type: events.TransferDebited, Transfer: tr}
	redriven := SagaEvent{ID: "e2", Type: events.TransferDebited, Transfer: tr}
	res := bt.Decide([]Op{{Kind: OpCredit, Event: debited}, {Kind: OpCredit, Event: debited}, {Kind: OpCredit, Event: redriven}})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("credit %d: %v", i, r.Err)
		}
	}
	if dst.Balance.String() != "2" || len(bt.Changes.Credits) != 1 || len(bt.Changes.Inbox) != 2 || len(bt.Changes.Events) != 2 {
		t.Fatalf("balance %s, %d credits, inbox %v, %d events; want 2, 1, [e1 e2], 2", dst.Balance, len(bt.Changes.Credits), bt.Changes.Inbox, len(bt.Changes.Events))
	}

	// On the source shard.
	s := NewBatch(1, testShards, bt.Now)
	s.Accounts[src] = acc(src, "0")
	rec := tr
	rec.Hash, rec.Status = requestOf(tr).Hash(), Pending
	s.Transfers[tr.Key()] = &rec
	credited := SagaEvent{ID: "e3", Type: events.TransferCredited, Transfer: tr}
	late := SagaEvent{ID: "e4", Type: events.TransferCreditRejected, Transfer: tr}
	unknown := tr
	unknown.TransactionID = "00000000-0000-4000-8000-000000000009"
	res = s.Decide([]Op{{Kind: OpSettle, Event: credited}, {Kind: OpSettle, Event: late},
		{Kind: OpSettle, Event: SagaEvent{ID: "e5", Type: events.TransferCredited, Transfer: unknown}},
		{Kind: OpCredit, Event: debited}})
	if res[0].Err != nil || res[1].Err != nil || res[2].Err != ErrUnknownTransfer || res[3].Err != ErrMisrouted {
		t.Fatalf("settle results %v %v %v %v", res[0].Err, res[1].Err, res[2].Err, res[3].Err)
	}
	if rec.Status != Completed || s.Accounts[src].Balance.String() != "0" || len(s.Changes.Settled) != 1 {
		t.Fatalf("status %s, source %s, %d settled; a late rejection must not refund a completed transfer", rec.Status, s.Accounts[src].Balance, len(s.Changes.Settled))
	}
}

// A saga event sent before the shard count grew (here from 2 shards to 4)
// carries the old count's shard numbers in its subject and payload. Its
// step goes to the shard that holds the account now, and the event that
// answers it to the shard of the other account now.
func TestSagaStepsFromBeforeASplitFollowTheAccounts(t *testing.T) {
	const oldShards = 2
	dst := acc(idOn(2, 0), "0")
	src := idOn(3, 1)
	old := Transfer{TransactionID: "00000000-0000-4000-8000-000000000001", From: src, To: dst.ID, Amount: usd("2.00"),
		FromShard: shard.Of(src, oldShards), ToShard: shard.Of(dst.ID, oldShards)}
	if old.FromShard != 1 || old.ToShard != 0 {
		t.Fatalf("with 2 shards the transfer goes from %d to %d, want 1 to 0", old.FromShard, old.ToShard)
	}
	sent := func(id, typ string, to int) events.Event {
		data, err := json.Marshal(TransferPayload(old))
		if err != nil {
			t.Fatal(err)
		}
		return events.Event{ID: id, Type: typ, Topic: events.Topic(typ, to), Data: data}
	}
	payload := func(e events.Event) events.Transfer {
		p, err := events.Decode[events.Transfer](e)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	op, sh, err := OpFor(sent("e1", events.TransferDebited, old.ToShard), testShards)
	if err != nil || sh != 2 || op.Event.Transfer.FromShard != 3 || op.Event.Transfer.ToShard != 2 {
		t.Fatalf("OpFor(debited) = shard %d, transfer %d -> %d, %v; want shard 2, 3 -> 2",
			sh, op.Event.Transfer.FromShard, op.Event.Transfer.ToShard, err)
	}
	// The batch routes by the accounts too, whoever built the step.
	for _, e := range []SagaEvent{op.Event, {ID: "e1", Type: events.TransferDebited, Transfer: old}} {
		bt := NewBatch(2, testShards, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		bt.Accounts[dst.ID] = acc(dst.ID, "0")
		if res := bt.Decide([]Op{{Kind: OpCredit, Event: e}}); res[0].Err != nil {
			t.Fatalf("credit: %v", res[0].Err)
		}
		if len(bt.Changes.Events) != 1 || bt.Changes.Events[0].Topic != events.Topic(events.TransferCredited, 3) {
			t.Fatalf("credit emitted %+v, want transfer.credited to shard 3", bt.Changes.Events)
		}
		if p := payload(bt.Changes.Events[0]); p.FromShard != 3 || p.ToShard != 2 || bt.Changes.Credits[0].FromShard != 3 {
			t.Fatalf("credited payload says %d -> %d, credit record from %d; want 3 -> 2", p.FromShard, p.ToShard, bt.Changes.Credits[0].FromShard)
		}
	}

	// The answer, also sent before the split, settles on the source's shard.
	op, sh, err = OpFor(sent("e2", events.TransferCredited, old.FromShard), testShards)
	if err != nil || sh != 3 {
		t.Fatalf("OpFor(credited) = shard %d, %v; want 3", sh, err)
	}
	s := NewBatch(3, testShards, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	s.Accounts[src] = acc(src, "0")
	rec := old
	rec.Hash, rec.Status = requestOf(old).Hash(), Pending
	s.Transfers[old.Key()] = &rec
	if res := s.Decide([]Op{op}); res[0].Err != nil || rec.Status != Completed {
		t.Fatalf("settle: %v, status %s", res[0].Err, rec.Status)
	}
	if p := payload(s.Changes.Events[0]); s.Changes.Events[0].Topic != events.Topic(events.TransferCompleted, 3) || p.FromShard != 3 || p.ToShard != 2 {
		t.Fatalf("settle emitted %s %+v, want transfer.completed of shard 3, 3 -> 2", s.Changes.Events[0].Topic, p)
	}
}

func TestRedriveDue(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	pending := Transfer{Status: Pending, UpdatedAt: now.Add(-time.Minute)}
	tests := []struct {
		name     string
		t        Transfer
		redrives int
		want     bool
	}{
		{"first redrive after 30s", pending, 0, true},
		{"second waits twice as long: 60s", pending, 1, true},
		{"third waits 120s", pending, 2, false},
		{"capped at 64x", Transfer{Status: Pending, UpdatedAt: now.Add(-33 * time.Minute)}, 40, true},
		{"ended transfers are never redriven", Transfer{Status: Completed, UpdatedAt: now.Add(-time.Hour)}, 0, false},
	}
	for _, tt := range tests {
		if got := RedriveDue(tt.t, tt.redrives, 30*time.Second, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestChangeStatus(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		a       Account
		to      Status
		pending int
		changed bool
		want    problem.Code
	}{
		{"freeze", Account{Status: Active}, Frozen, 0, true, ""},
		{"same status again", Account{Status: Frozen}, Frozen, 0, false, ""},
		{"closed is final", Account{Status: Closed}, Active, 0, false, problem.AccountClosed},
		{"close with money", Account{Status: Active, Balance: decimal.RequireFromString("0.01"), Currency: "USD"}, Closed, 0, false, problem.AccountNotEmpty},
		{"close with a transfer in flight", Account{Status: Active}, Closed, 1, false, problem.AccountNotEmpty},
		{"close empty", Account{Status: Frozen}, Closed, 0, true, ""},
	}
	for _, tt := range tests {
		got, changed, err := tt.a.ChangeStatus(tt.to, tt.pending, now)
		if changed != tt.changed || codeOf(err) != tt.want || (changed && got.Status != tt.to) {
			t.Errorf("%s: changed %v err %v status %s", tt.name, changed, err, got.Status)
		}
	}
}

// A credit that would take a balance above money.MaxBalance is refused
// before anything changes: a deposit or a same-shard transfer with
// balance_limit_exceeded, a saga credit with a credit_rejected of that
// reason. Reaching the ceiling exactly is allowed.
func TestBatchBalanceLimit(t *testing.T) {
	const ceiling = "999999999999999999.99" // money.MaxBalance("USD")
	txID := "00000000-0000-4000-8000-000000000001"
	src := idOn(1, 1) // a cross-shard transfer's source
	credit := func(to, amount string) Op {
		return Op{Kind: OpCredit, Event: SagaEvent{ID: "e1", Type: events.TransferDebited, Transfer: Transfer{
			TransactionID: txID, From: src, To: to, Amount: usd(amount), FromShard: 1, ToShard: 0}}}
	}
	deposit := func(to, amount string) Op {
		return Op{Kind: OpMove, Movement: MovementRequest{Kind: Deposit, AccountID: to, TransactionID: txID, Amount: usd(amount)}}
	}
	sameShard := func(to, amount string) Op { return transferOp(txID, idOn(0, 1), to, amount) }
	tests := []struct {
		name    string
		op      func(to, amount string) Op
		balance string // the destination's before
		amount  string
		want    problem.Code // the operation's error, or the credit's rejection reason
		after   string       // the destination's balance after
	}{
		{"deposit up to the ceiling", deposit, "999999999999999000.00", "999.99", "", ceiling},
		{"deposit a cent over", deposit, "999999999999999000.00", "1000.00", problem.BalanceLimitExceeded, "999999999999999000"},
		{"deposit into a full account", deposit, ceiling, "0.01", problem.BalanceLimitExceeded, ceiling},
		{"maximal deposit", deposit, "0", "999999999999999.99", "", "999999999999999.99"},
		{"transfer up to the ceiling", sameShard, "999999999999999998.99", "1.00", "", ceiling},
		{"transfer a cent over", sameShard, "999999999999999998.99", "1.01", problem.BalanceLimitExceeded, "999999999999999998.99"},
		{"credit up to the ceiling", credit, "999999999999999998.99", "1.00", "", ceiling},
		{"credit a cent over", credit, "999999999999999998.99", "1.01", problem.BalanceLimitExceeded, "999999999999999998.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, payer := acc(idOn(0, 0), tt.balance), acc(idOn(0, 1), "10.00")
			bt := newBatch(dst, payer)
			res := bt.Decide([]Op{tt.op(dst.ID, tt.amount)})[0]
			got := codeOf(res.Err)
			if len(bt.Changes.Credits) == 1 {
				got = bt.Changes.Credits[0].Reason // a saga credit answers with an event, not an error
			}
			if got != tt.want || !dst.Balance.Equal(decimal.RequireFromString(tt.after)) {
				t.Fatalf("got %q (%v), destination %s; want %q, %s", got, res.Err, dst.Balance, tt.want, tt.after)
			}
			if tt.want == "" {
				return
			}
			if payer.Balance.String() != "10" || len(bt.Changes.Accounts) != 0 {
				t.Errorf("a refused credit changed balances: payer %s, changed %v", payer.Balance, bt.Changes.Accounts)
			}
			if tt.op(dst.ID, tt.amount).Kind != OpCredit {
				if len(bt.Changes.Events) != 0 || !onlyRefusal(bt.Changes) {
					t.Errorf("a refused request recorded more than its refusal: %+v", bt.Changes)
				}
				if l, _ := res.Err.(*problem.Error); l == nil || l.Extra["limit"] != ceiling {
					t.Errorf("the problem must name the limit: %#v", res.Err)
				}
				return
			}
			// The saga's answer: transfer.credit_rejected with the reason, so
			// the source refunds.
			if len(bt.Changes.Events) != 1 || bt.Changes.Events[0].Type != events.TransferCreditRejected {
				t.Fatalf("events %+v, want one transfer.credit_rejected", bt.Changes.Events)
			}
			if p, _ := events.Decode[events.Transfer](bt.Changes.Events[0]); p.Reason != string(problem.BalanceLimitExceeded) {
				t.Errorf("credit_rejected reason %q", p.Reason)
			}
		})
	}
}

// A refund is never refused, even when deposits refilled the source to the
// ceiling while its transfer was in flight: the money was the source's.
func TestBatchRefundIgnoresTheLimit(t *testing.T) {
	src := acc(idOn(1, 0), "999999999999999999.99")
	tr := Transfer{TransactionID: "00000000-0000-4000-8000-000000000001", From: src.ID, To: idOn(0, 1), Amount: usd("5.00"),
		FromShard: 1, ToShard: 0, Reason: problem.AccountFrozen}
	rec := tr
	rec.Hash, rec.Status = requestOf(tr).Hash(), Pending
	bt := NewBatch(1, testShards, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	bt.Accounts[src.ID], bt.Transfers[tr.Key()] = src, &rec
	res := bt.Decide([]Op{{Kind: OpSettle, Event: SagaEvent{ID: "e1", Type: events.TransferCreditRejected, Transfer: tr}}})
	if res[0].Err != nil || rec.Status != Failed || src.Balance.String() != "1000000000000000004.99" {
		t.Fatalf("settle: %v, status %s, source %s; want refunded to 1000000000000000004.99", res[0].Err, rec.Status, src.Balance)
	}
}

// Transaction ids are scoped to the source account: two debits under one id
// from sources on two shards, to accounts of one destination shard and in
// one batch, are two transfers, each credited once, even on a shard that
// used the id for its own transfer.
func TestBatchCreditsSameIDFromTwoSources(t *testing.T) {
	d1, d2 := acc(idOn(0, 0), "0"), acc(idOn(0, 1), "0")
	txID := "00000000-0000-4000-8000-00000000000c"
	bt := newBatch(d1, d2)
	own := Transfer{TransactionID: txID, From: idOn(0, 2), To: idOn(3, 3), Status: Pending}
	bt.Transfers[own.Key()] = &own
	t1 := Transfer{TransactionID: txID, From: idOn(1, 4), To: d1.ID, Amount: usd("2.00"), FromShard: 1, ToShard: 0}
	t2 := Transfer{TransactionID: txID, From: idOn(2, 5), To: d2.ID, Amount: usd("3.00"), FromShard: 2, ToShard: 0}
	res := bt.Decide([]Op{
		{Kind: OpCredit, Event: SagaEvent{ID: "e1", Type: events.TransferDebited, Transfer: t1}},
		{Kind: OpCredit, Event: SagaEvent{ID: "e2", Type: events.TransferDebited, Transfer: t2}},
		{Kind: OpCredit, Event: SagaEvent{ID: "e3", Type: events.TransferDebited, Transfer: t1}}, // a redrive of t1
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("credit %d: %v", i, r.Err)
		}
	}
	if d1.Balance.String() != "2" || d2.Balance.String() != "3" || len(bt.Changes.Credits) != 2 || len(bt.Changes.Steps) != 2 {
		t.Fatalf("balances %s / %s, %d credits, %d steps; want 2 / 3, 2, 2", d1.Balance, d2.Balance, len(bt.Changes.Credits), len(bt.Changes.Steps))
	}
	for i, e := range bt.Changes.Events {
		if e.Type != events.TransferCredited {
			t.Fatalf("event %d is %s, want every debit credited", i, e.Type)
		}
	}
	if bt.Changes.Steps[0].From != t1.From || bt.Changes.Steps[1].From != t2.From {
		t.Fatalf("steps %+v must name their transfer's source", bt.Changes.Steps)
	}
}

// onlyRefusal reports whether c records one refused transfer or movement
// and nothing else.
func onlyRefusal(c Changes) bool {
	switch {
	case len(c.Transfers) == 1 && len(c.Movements) == 0:
		return c.Transfers[0].Status == Refused && c.Transfers[0].Refusal != nil
	case len(c.Movements) == 1 && len(c.Transfers) == 0:
		return c.Movements[0].Refusal != nil
	}
	return false
}
