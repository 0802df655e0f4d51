package mysql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type fixture struct {
	*accounttest.Fixture
	t      *testing.T
	store  *mysql.Store
	shards []*sqlx.DB
}

func mustFixture(t *testing.T) *fixture {
	t.Helper()
	f := accounttest.MustStore(t, groupcommit.Config{})
	return &fixture{Fixture: f, t: t, store: f.Store, shards: f.DBs}
}

func idOn(sh int) string { return accounttest.IDOn(sh) }

func (f *fixture) open(id string, deposit string) { f.t.Helper(); f.MustOpen(id, deposit) }

func (f *fixture) transfer(from, to, amount string) account.Transfer {
	f.t.Helper()
	return f.MustTransfer(from, to, amount)
}

// step applies a saga event on the shard that must act on it, as the saga
// consumer does.
func (f *fixture) step(e events.Event) error {
	op, sh, err := account.OpFor(e, accounttest.Shards)
	if err != nil {
		return err
	}
	return f.Writer.Do(context.Background(), sh, []account.Op{op})[0].Err
}

// lastEvent reads the newest outbox event of a type about txID on shard sh.
func (f *fixture) lastEvent(sh int, typ, txID string) events.Event {
	f.t.Helper()
	var r struct {
		ID      string    `db:"event_id"`
		Topic   string    `db:"topic"`
		Data    string    `db:"data"`
		Time    time.Time `db:"occurred_at"`
		Subject string    `db:"subject"`
	}
	err := f.shards[sh].Get(&r, `SELECT event_id, topic, data, occurred_at, subject FROM outbox
		WHERE event_type = ? AND subject = ? ORDER BY id DESC LIMIT 1`, typ, txID)
	if err != nil {
		f.t.Fatalf("no %s event for %s on shard %d: %v", typ, txID, sh, err)
	}
	return events.Event{ID: r.ID, Type: typ, Topic: r.Topic, Subject: r.Subject, Time: r.Time, Data: []byte(r.Data)}
}

func (f *fixture) balance(id string) string {
	f.t.Helper()
	a, err := f.store.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Balance.StringFixed(2)
}

func (f *fixture) status(tr account.Transfer) account.Transfer {
	f.t.Helper()
	got, err := f.store.GetTransfer(context.Background(), account.TransferQuery{TransactionID: tr.TransactionID, From: tr.From})
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func TestSagaCompletesOnceUnderRedelivery(t *testing.T) {
	f := mustFixture(t)
	a, b := idOn(0), idOn(1)
	f.open(a, "50.00")
	f.open(b, "")
	tr := f.transfer(a, b, "20.00")
	if tr.Status != account.Pending || f.balance(a) != "30.00" {
		t.Fatalf("after debit: %s, source %s", tr.Status, f.balance(a))
	}

	debited := f.lastEvent(0, events.TransferDebited, tr.TransactionID)
	redriven := debited
	redriven.ID = uuid.NewString() // the same debit sent again by the redriver
	for _, e := range []events.Event{debited, debited, redriven} {
		if err := f.step(e); err != nil {
			t.Fatal(err)
		}
	}
	if f.balance(b) != "20.00" {
		t.Fatalf("destination %s after three deliveries, want 20.00", f.balance(b))
	}

	credited := f.lastEvent(1, events.TransferCredited, tr.TransactionID)
	for _, e := range []events.Event{credited, credited} {
		if err := f.step(e); err != nil {
			t.Fatal(err)
		}
	}
	// A late rejection for a transfer that completed must not refund it.
	late := credited
	late.ID, late.Type = uuid.NewString(), events.TransferCreditRejected
	if err := f.step(late); err != nil {
		t.Fatal(err)
	}
	got := f.status(tr)
	if got.Status != account.Completed || f.balance(a) != "30.00" || f.balance(b) != "20.00" {
		t.Fatalf("status %s, balances %s / %s", got.Status, f.balance(a), f.balance(b))
	}
	var names []string
	for _, s := range got.Steps {
		names = append(names, s.Name)
	}
	if len(names) != 3 || names[0] != "debited" || names[1] != "credited" || names[2] != "completed" {
		t.Fatalf("steps %v", names)
	}
}

// destination opens an account on shard 1 and gives it status st.
func (f *fixture) destination(st account.Status) string {
	f.t.Helper()
	d := idOn(1)
	f.open(d, "")
	if _, err := f.store.SetStatus(context.Background(), d, st); err != nil {
		f.t.Fatal(err)
	}
	return d
}

func TestSagaRefundsRejectedCredits(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fixture) string // returns the destination id
		reason string
	}{
		{"frozen", func(f *fixture) string { return f.destination(account.Frozen) }, "account_frozen"},
		{"closed", func(f *fixture) string { return f.destination(account.Closed) }, "account_closed"},
		{"not found", func(*fixture) string { return idOn(1) }, "account_not_found"},
		{"currency", func(f *fixture) string {
			d := idOn(1)
			if _, _, err := f.store.Open(context.Background(), account.OpenRequest{AccountID: d, OwnerID: "o", Currency: "EUR"}); err != nil {
				f.t.Fatal(err)
			}
			return d
		}, "currency_mismatch"},
		{"balance limit", func(f *fixture) string {
			d := idOn(1)
			f.open(d, "1.00")
			// Only 3.01 more fits below money.MaxBalance: 4.00 does not. Reaching it
			// with deposits takes 1,001 maximal ones, so set it directly.
			if _, err := f.shards[1].Exec("UPDATE accounts SET balance = ? WHERE account_id = ?", "999999999999999996.98", d); err != nil {
				f.t.Fatal(err)
			}
			return d
		}, "balance_limit_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFixture(t)
			a := idOn(0)
			f.open(a, "10.00")
			tr := f.transfer(a, tt.setup(f), "4.00")
			if err := f.step(f.lastEvent(0, events.TransferDebited, tr.TransactionID)); err != nil {
				t.Fatal(err)
			}
			rejected := f.lastEvent(1, events.TransferCreditRejected, tr.TransactionID)
			for range 2 {
				if err := f.step(rejected); err != nil {
					t.Fatal(err)
				}
			}
			got := f.status(tr)
			if got.Status != account.Failed || string(got.Reason) != tt.reason || f.balance(a) != "10.00" {
				t.Fatalf("status %s reason %s source %s, want failed %s 10.00", got.Status, got.Reason, f.balance(a), tt.reason)
			}
			failed := f.lastEvent(0, events.TransferFailed, tr.TransactionID)
			p, _ := events.Decode[events.Transfer](failed)
			if p.Reason != tt.reason || len(p.Balances) != 1 || p.Balances[0].BalanceAfter != "10.00" {
				t.Fatalf("transfer.failed payload %+v", p)
			}
		})
	}
}

// Transaction ids are scoped to the source account: a shard that used an id
// for a transfer of its own still credits another shard's transfer under
// the same id, and each transfer reads back with its own steps only.
func TestSagaCreditsAnotherSourcesReusedTransactionID(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	a, b, c, d := idOn(0), idOn(1), idOn(1), idOn(1)
	f.open(a, "10.00")
	f.open(b, "10.00")
	f.open(c, "")
	f.open(d, "")
	txID := uuid.NewString()
	amt, _ := money.Parse("1.00", "USD")
	if _, err := f.Writer.Transfer(ctx, account.TransferRequest{TransactionID: txID, From: b, To: c, Amount: amt}); err != nil {
		t.Fatal(err)
	}
	tr, err := f.Writer.Transfer(ctx, account.TransferRequest{TransactionID: txID, From: a, To: d, Amount: amt})
	if err != nil || tr.Status != account.Pending {
		t.Fatalf("cross-shard transfer: %v %v", tr.Status, err)
	}
	if err := f.step(f.lastEvent(0, events.TransferDebited, txID)); err != nil {
		t.Fatal(err)
	}
	if err := f.step(f.lastEvent(1, events.TransferCredited, txID)); err != nil {
		t.Fatal(err)
	}
	if f.balance(d) != "1.00" || f.balance(a) != "9.00" || f.balance(b) != "9.00" || f.balance(c) != "1.00" {
		t.Fatalf("balances a %s b %s c %s d %s, want 9 9 1 1", f.balance(a), f.balance(b), f.balance(c), f.balance(d))
	}
	cross, err := f.store.GetTransfer(ctx, account.TransferQuery{TransactionID: txID, From: a})
	if err != nil || cross.Status != account.Completed || cross.To != d || len(cross.Steps) != 3 {
		t.Fatalf("cross-shard transfer %+v (%v), want completed to %s with debited, credited, completed", cross, err, d)
	}
	local, err := f.store.GetTransfer(ctx, account.TransferQuery{TransactionID: txID, From: b})
	if err != nil || local.Status != account.Completed || local.To != c || len(local.Steps) != 1 || local.Steps[0].Name != account.StepCompleted {
		t.Fatalf("same-shard transfer %+v (%v), want completed to %s with its one step", local, err, c)
	}
	if _, err := f.store.GetTransfer(ctx, account.TransferQuery{TransactionID: txID}); !problem.Is(err, problem.AmbiguousTransactionID) {
		t.Fatalf("lookup by id alone: %v, want ambiguous_transaction_id", err)
	}
}

func TestSagaPoisonIsPermanent(t *testing.T) {
	f := mustFixture(t)
	bad := []events.Event{
		{ID: uuid.NewString(), Type: events.TransferDebited, Data: []byte(`{not json`)},
		{ID: uuid.NewString(), Type: events.TransferDebited, Data: []byte(`{"transaction_id":"x","from_account":"a","to_account":"b","amount":"ten","currency":"USD"}`)},
		{ID: uuid.NewString(), Type: events.TransferDebited, Data: []byte(`{"transaction_id":"x","from_account":"a","to_account":"b","amount":"1","currency":"USD","to_shard":9}`)},
	}
	for i, e := range bad {
		err := f.step(e)
		if !errors.Is(err, account.ErrMisrouted) && !errors.Is(err, events.ErrMalformed) {
			t.Errorf("event %d: err %v, want a permanent error", i, err)
		}
	}
	// Its payload says shard 0, its account is on shard 2: OpFor routes it
	// by the account. Applied on shard 0 all the same, the batch has no
	// account of its own to lock and must still answer, not crash.
	misrouted := events.Event{ID: uuid.NewString(), Type: events.TransferDebited,
		Data: []byte(`{"transaction_id":"` + uuid.NewString() + `","from_account":"` + idOn(1) + `","to_account":"` + idOn(2) + `","amount":"1","currency":"USD","from_shard":1,"to_shard":0}`)}
	op, sh, err := account.OpFor(misrouted, accounttest.Shards)
	if err != nil || sh != 2 {
		t.Fatalf("OpFor routes a credit for shard 2's account to shard %d (%v)", sh, err)
	}
	if res := f.Writer.Do(context.Background(), 0, []account.Op{op}); !errors.Is(res[0].Err, account.ErrMisrouted) {
		t.Errorf("credit applied on a shard that does not hold its account: %v, want misrouted", res[0].Err)
	}
	unknown := events.Event{ID: uuid.NewString(), Type: events.TransferCredited,
		Data: []byte(`{"transaction_id":"` + uuid.NewString() + `","from_account":"` + idOn(2) + `","to_account":"b","amount":"1","currency":"USD","from_shard":2}`)}
	if err := f.step(unknown); !errors.Is(err, account.ErrUnknownTransfer) {
		t.Errorf("settle of an unknown transfer: %v, want permanent", err)
	}
}

func TestRedriveResendsStuckDebits(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	clock := time.Now()
	f.store.Now = func() time.Time { return clock }
	a, b := idOn(0), idOn(3)
	f.open(a, "5.00")
	f.open(b, "")
	tr := f.transfer(a, b, "5.00")
	redrive := func(olderThan time.Duration, want int) {
		t.Helper()
		if n, err := f.store.Redrive(ctx, 0, olderThan); err != nil || n != want {
			t.Fatalf("redrove %d (err %v), want %d", n, err, want)
		}
	}
	relayed := func() { // what the relay does
		t.Helper()
		if _, err := f.shards[0].Exec("UPDATE outbox SET published_at = NOW(6) WHERE published_at IS NULL"); err != nil {
			t.Fatal(err)
		}
	}
	const after = 30 * time.Second
	redrive(time.Hour, 0) // not stuck yet
	clock = clock.Add(after + time.Second)
	redrive(after, 0) // its debit still waits for the relay
	relayed()
	redrive(after, 1)
	relayed()
	clock = clock.Add(after + time.Second)
	redrive(after, 0) // the second redrive waits twice as long
	clock = clock.Add(after)
	redrive(after, 1)
	clock = clock.Add(3 * after)
	redrive(after, 0) // the third four times as long
	clock = clock.Add(after + time.Second)
	relayed()
	redrive(after, 1)

	var debits int
	_ = f.shards[0].Get(&debits, "SELECT COUNT(*) FROM outbox WHERE event_type = 'transfer.debited' AND subject = ?", tr.TransactionID)
	if debits != 4 {
		t.Fatalf("%d debited events, want the original and three redrives", debits)
	}
}
