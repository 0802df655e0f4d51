package account

import (
	"testing"

	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
)

// The domain says which results end a saga: a settle that completes or
// refunds a transfer, and one that finds it ended already; never a credit,
// a new transfer or a settle that cannot apply.
func TestResultEnded(t *testing.T) {
	src, dst := idOn(1, 1), idOn(0, 0)
	tr := func(n string) Transfer {
		return Transfer{TransactionID: "00000000-0000-4000-8000-00000000000" + n, From: src, To: dst, Amount: usd("2.00"), FromShard: 1, ToShard: 0}
	}
	s := NewBatch(1, testShards, newBatch().Now)
	s.Accounts[src] = acc(src, "5.00")
	for _, n := range []string{"1", "2"} {
		rec := tr(n)
		rec.Hash, rec.Status = requestOf(rec).Hash(), Pending
		s.Transfers[rec.Key()] = &rec
	}
	res := s.Decide([]Op{
		{Kind: OpSettle, Event: SagaEvent{ID: "e1", Type: events.TransferCredited, Transfer: tr("1")}},
		{Kind: OpSettle, Event: SagaEvent{ID: "e2", Type: events.TransferCreditRejected, Transfer: tr("2")}},
		{Kind: OpSettle, Event: SagaEvent{ID: "e3", Type: events.TransferCreditRejected, Transfer: tr("1")}}, // late
		{Kind: OpSettle, Event: SagaEvent{ID: "e4", Type: events.TransferCredited, Transfer: tr("9")}},       // unknown
		{Kind: OpCredit, Event: SagaEvent{ID: "e5", Type: events.TransferDebited, Transfer: tr("3")}},        // misrouted
		transferOp("00000000-0000-4000-8000-000000000008", src, dst, "1.00"),                                 // debit: pending
	})
	want := []bool{true, true, true, false, false, false}
	for i, r := range res {
		if r.Ended != want[i] {
			t.Errorf("op %d: Ended %v (status %q, err %v), want %v", i, r.Ended, r.Transfer.Status, r.Err, want[i])
		}
	}
	if res[0].Transfer.Status != Completed || res[1].Transfer.Status != Failed || res[2].Transfer.Status != Completed {
		t.Errorf("ended transfers %q %q %q, want completed failed completed", res[0].Transfer.Status, res[1].Transfer.Status, res[2].Transfer.Status)
	}
}

// A credit whose data the database refused becomes its rejection with
// invalid_data; a credit already turned into one, and every other
// operation, has no replacement.
func TestOnDataRefused(t *testing.T) {
	credit := Op{Kind: OpCredit, Event: SagaEvent{ID: "e1"}}
	next, ok := credit.OnDataRefused()
	if !ok || next.Kind != OpCredit || next.Reject != problem.InvalidData || next.Event.ID != "e1" {
		t.Fatalf("credit: %+v %v, want the same credit rejected with invalid_data", next, ok)
	}
	if credit.Reject != "" {
		t.Errorf("OnDataRefused changed its receiver")
	}
	for _, op := range []Op{next, {Kind: OpSettle}, {Kind: OpTransfer}, {Kind: OpMove}} {
		if _, ok := op.OnDataRefused(); ok {
			t.Errorf("%+v has a replacement, want none", op)
		}
	}
}
