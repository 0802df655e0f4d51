package systemtest

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/events"
)

// ev builds a stream event of type typ with payload p.
func ev(id, typ string, p any) events.Event {
	b, _ := json.Marshal(p)
	return events.Event{ID: id, Type: typ, Data: b}
}

func opened(id, account string) events.Event {
	return ev(id, events.AccountOpened, events.Account{AccountID: account, Currency: "USD", BalanceAfter: "0", Version: 0})
}

func deposited(id, tx, account, amount, after string, version int64) events.Event {
	return ev(id, events.AccountDeposited, events.Movement{TransactionID: tx, AccountID: account, Amount: amount,
		Currency: "USD", BalanceAfter: after, Version: version})
}

func debited(id, tx, from, to, amount, after string, version int64) events.Event {
	return ev(id, events.TransferDebited, events.Transfer{TransactionID: tx, FromAccount: from, ToAccount: to, Amount: amount,
		Currency: "USD", FromShard: 0, ToShard: 1, Balances: []events.Balance{{AccountID: from, BalanceAfter: after, Version: version}}})
}

func credited(id, tx, from, to, amount, after string, version int64) events.Event {
	return ev(id, events.TransferCredited, events.Transfer{TransactionID: tx, FromAccount: from, ToAccount: to, Amount: amount,
		Currency: "USD", FromShard: 0, ToShard: 1, Balances: []events.Balance{{AccountID: to, BalanceAfter: after, Version: version}}})
}

func completed(id, tx, from, to, amount string) events.Event {
	return ev(id, events.TransferCompleted, events.Transfer{TransactionID: tx, FromAccount: from, ToAccount: to, Amount: amount,
		Currency: "USD", FromShard: 0, ToShard: 1})
}

// A clean history passes; each way of breaking it is named by the
// invariant it breaks.
func TestCheckerFindsEachViolation(t *testing.T) {
	t.Parallel()
	// a opens, gets 100, sends 30 to b across shards; b opens.
	clean := []events.Event{
		opened("e1", "a"), opened("e2", "b"),
		deposited("e3", "tx-dep", "a", "100", "100", 1),
		debited("e4", "tx-t", "a", "b", "30", "70", 2),
		credited("e5", "tx-t", "a", "b", "30", "30", 1),
		completed("e6", "tx-t", "a", "b", "30"),
	}
	shards := map[string]shardAccount{
		"a": {ID: "a", Currency: "USD", Balance: decimal.RequireFromString("70"), Version: 2},
		"b": {ID: "b", Currency: "USD", Balance: decimal.RequireFromString("30"), Version: 1},
	}
	ops := []*Op{
		{Kind: OpDeposit, TxID: "tx-dep", Account: "a", Amount: "100", Currency: "USD", Outcome: Acked, Status: 200},
		{Kind: OpTransfer, TxID: "tx-t", Account: "a", To: "b", Amount: "30", Currency: "USD", Outcome: Acked, Status: 200, Result: "success"},
	}
	check := func(evs []events.Event, shards map[string]shardAccount, ops []*Op) *Findings {
		fs := newFindings()
		h := newHistory()
		for _, e := range evs {
			h.add(e, fs)
		}
		checkHistories(h, shards, fs)
		checkEffects(h, ops, fs)
		checkConservation(h, shards, fs)
		return fs
	}
	if fs := check(clean, shards, ops); len(fs.Violated()) > 0 {
		t.Fatalf("clean history: %s", fs)
	}

	with := func(evs ...events.Event) []events.Event { return append(append([]events.Event{}, clean...), evs...) }
	for _, tc := range []struct {
		name   string
		evs    []events.Event
		shards map[string]shardAccount
		ops    []*Op
		want   []string
	}{
		{"an event published twice", with(clean[2]), shards, ops, []string{InvPublished}},
		{"a credit applied twice", with(credited("e7", "tx-t", "a", "b", "30", "60", 2)),
			map[string]shardAccount{"a": shards["a"], "b": {ID: "b", Currency: "USD", Balance: decimal.RequireFromString("60"), Version: 2}},
			ops, []string{InvOnce, InvConservation}},
		{"a version skipped", with(deposited("e7", "tx-dep2", "a", "5", "75", 4)),
			map[string]shardAccount{"a": {ID: "a", Currency: "USD", Balance: decimal.RequireFromString("75"), Version: 4}, "b": shards["b"]},
			append(ops, &Op{Kind: OpDeposit, TxID: "tx-dep2", Account: "a", Amount: "5", Currency: "USD", Outcome: Acked}), []string{InvHistory}},
		{"balance_after that does not add up", with(deposited("e7", "tx-dep2", "a", "5", "80", 3)),
			map[string]shardAccount{"a": {ID: "a", Currency: "USD", Balance: decimal.RequireFromString("80"), Version: 3}, "b": shards["b"]},
			append(ops, &Op{Kind: OpDeposit, TxID: "tx-dep2", Account: "a", Amount: "5", Currency: "USD", Outcome: Acked}), []string{InvHistory, InvConservation}},
		{"a shard that differs from its events", clean,
			map[string]shardAccount{"a": {ID: "a", Currency: "USD", Balance: decimal.RequireFromString("71"), Version: 2}, "b": shards["b"]},
			ops, []string{InvHistory, InvConservation}},
		{"an acknowledged deposit lost", clean, shards,
			append(ops, &Op{Kind: OpDeposit, TxID: "tx-lost", Account: "a", Outcome: Acked, Status: 200}), []string{InvAcked}},
		{"a refused operation that moved money", clean, shards,
			[]*Op{ops[0], {Kind: OpTransfer, TxID: "tx-t", Account: "a", To: "b", Amount: "30", Currency: "USD", Outcome: Refused, Status: 422, Code: "insufficient_funds"}},
			[]string{InvRefused}},
		{"a deposit of another amount", clean, shards,
			[]*Op{{Kind: OpDeposit, TxID: "tx-dep", Account: "a", Amount: "10", Currency: "USD", Outcome: Acked, Status: 200}, ops[1]},
			[]string{InvAsIntended}},
		{"a transfer to another account", clean, shards,
			[]*Op{ops[0], {Kind: OpTransfer, TxID: "tx-t", Account: "a", To: "c", Amount: "30", Currency: "USD", Outcome: Acked, Status: 200, Result: "success"}},
			[]string{InvAsIntended}},
		{"a balance negative on the way", []events.Event{opened("e1", "c"), deposited("e2", "tx-1", "c", "-5", "-5", 1), deposited("e3", "tx-2", "c", "10", "5", 2)},
			map[string]shardAccount{"c": {ID: "c", Currency: "USD", Balance: decimal.RequireFromString("5"), Version: 2}},
			[]*Op{{Kind: OpDeposit, TxID: "tx-1", Account: "c", Amount: "-5", Currency: "USD", Outcome: Acked}, {Kind: OpDeposit, TxID: "tx-2", Account: "c", Amount: "10", Currency: "USD", Outcome: Acked}},
			[]string{InvNonNegative}},
		{"money nobody asked for", clean, shards, ops[1:], []string{InvUnasked}},
		{"a saga credited but never completed", clean[:5], shards, []*Op{ops[0], {Kind: OpTransfer, TxID: "tx-t", Account: "a", To: "b", Amount: "30", Currency: "USD", Outcome: Unknown}},
			[]string{InvSagasEnded}},
		{"money left in flight", clean[:4],
			map[string]shardAccount{"a": shards["a"], "b": {ID: "b", Currency: "USD", Balance: decimal.Zero, Version: 0}},
			[]*Op{ops[0], {Kind: OpTransfer, TxID: "tx-t", Account: "a", To: "b", Amount: "30", Currency: "USD", Outcome: Unknown}},
			[]string{InvSagasEnded, InvConservation}},
		{"a negative balance", []events.Event{opened("e1", "c")},
			map[string]shardAccount{"c": {ID: "c", Currency: "USD", Balance: decimal.RequireFromString("-1"), Version: 0}},
			nil, []string{InvNonNegative, InvHistory, InvConservation}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := check(tc.evs, tc.shards, tc.ops)
			for _, inv := range tc.want {
				if fs.Count[inv] == 0 {
					t.Errorf("%q not reported; found:\n%s", inv, fs)
				}
			}
			if len(fs.Violated()) != len(tc.want) {
				t.Errorf("reported %v, want exactly %v:\n%s", fs.Violated(), tc.want, fs)
			}
		})
	}
}
