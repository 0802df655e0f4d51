package shardsplit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/account-service/internal/shardsplit"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is a deployment of the release before the split: from logical
// shards, schemas prefix_0 … on one server db1, and its placement, with the
// configuration after the upgrade (to schemas) in layout.
type stack struct {
	t      *testing.T
	from   int
	layout database.Layout
	db     *sqlx.DB
	place  *placement.Store
	store  *mysql.Store // the old release's store, over from shards
	writer *groupcommit.Writer
}

func newStack(t *testing.T, from, to int) *stack {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := &stack{t: t, from: from, db: testenv.MustOpen(t, database.WithMultiStatements(os.Getenv(testenv.EnvMySQL))),
		layout: database.Layout{Names: []string{"db1"}, ServerDSNs: []string{os.Getenv(testenv.EnvMySQL)}}}
	for j := range to {
		s.layout.Schemas = append(s.layout.Schemas, fmt.Sprintf("t_%x_split_%d", b, j))
		s.layout.Owners = append(s.layout.Owners, 0)
	}
	t.Cleanup(func() {
		for _, schema := range s.layout.Schemas {
			_, _ = s.db.Exec("DROP DATABASE IF EXISTS `" + schema + "`")
		}
	})
	for _, schema := range s.layout.Schemas[:from] {
		if _, err := s.db.Exec("CREATE DATABASE `" + schema + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if s.store, err = mysql.NewPlaced([]mysql.Server{{Name: "db1", DB: s.db}}, s.layout.Schemas[:from], make([]int, from)); err != nil {
		t.Fatal(err)
	}
	if err := s.store.Migrate(ctx, deadletter.Migrations()); err != nil {
		t.Fatal(err)
	}
	if s.writer, err = groupcommit.New(s.store, s.store, accounttest.Writer(groupcommit.Config{}), nil, quiet); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.writer.Close)
	if s.place, err = placement.Declare(ctx, testenv.MustJetStream(t), 1); err != nil {
		t.Fatal(err)
	}
	first := placement.Map{Version: 1, Shards: from, Servers: []string{"db1"}}
	for range from {
		first.Owner = append(first.Owner, "db1")
	}
	if _, err := s.place.Bootstrap(ctx, first); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stack) splitter(out io.Writer) *shardsplit.Splitter {
	return &shardsplit.Splitter{Placement: s.place, Layout: s.layout, Pools: []*sqlx.DB{s.db}, Progress: out, Batch: 7, Parallel: 3}
}

// newStore is the store of the release after the split, over all the new
// shards, and its writer.
func (s *stack) newStore() (*mysql.Store, *groupcommit.Writer) {
	s.t.Helper()
	n := len(s.layout.Schemas)
	store, err := mysql.NewPlaced([]mysql.Server{{Name: "db1", DB: s.db}}, s.layout.Schemas, make([]int, n))
	if err != nil {
		s.t.Fatal(err)
	}
	w, err := groupcommit.New(store, store, accounttest.Writer(groupcommit.Config{}), nil, quiet)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(w.Close)
	return store, w
}

// history is what the workload asked and was answered.
type history struct {
	accounts  []string
	movements []account.MovementRequest
	transfers []account.TransferRequest
	delivered map[string]bool // saga events applied
	deposited decimal.Decimal // the money that came in, less what went out
}

// fill runs a workload on the old release: accounts with deposits, some
// frozen, withdrawals (one refused), same-shard and cross-shard transfers
// (some refused, some to unknown accounts), and the saga taken half-way:
// some debits credited or rejected, some of those settled, the rest left
// pending with their events in the outbox, never published.
func (s *stack) fill(seed uint64) *history {
	t, ctx := s.t, context.Background()
	rng := mrand.New(mrand.NewPCG(seed, seed))
	h := &history{delivered: map[string]bool{}}
	for a := range 40 {
		id := fmt.Sprintf("acc-%02d-%x", a, seed)
		h.accounts = append(h.accounts, id)
		if _, _, err := s.store.Open(ctx, account.OpenRequest{AccountID: id, OwnerID: "owner-" + id[4:6], Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
		s.move(h, account.Deposit, id, 10000)
	}
	s.move(h, account.Withdrawal, h.accounts[0], 2500)
	s.move(h, account.Withdrawal, h.accounts[1], 99999999) // refused: insufficient funds
	for _, id := range h.accounts[37:] {
		if _, err := s.store.SetStatus(ctx, id, account.Frozen); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 160 {
		from := h.accounts[rng.IntN(len(h.accounts))]
		to := h.accounts[rng.IntN(len(h.accounts))]
		switch {
		case from == to:
			continue
		case k%23 == 0:
			to = fmt.Sprintf("ghost-%d-%x", k, seed) // unknown: refused on one shard, rejected across two
		}
		amount := 100 + rng.IntN(3000)
		if k%31 == 0 {
			amount = 50000000 // refused: insufficient funds
		}
		req := account.TransferRequest{TransactionID: uuid.NewString(), From: from, To: to, Amount: accounttest.USD(t, decimal.New(int64(amount), -2).StringFixed(2))}
		h.transfers = append(h.transfers, req)
		_, _ = s.writer.Transfer(ctx, req) // refusals are recorded and replayed
	}
	// The saga, half-way: every other debit delivered, every other answer.
	debits := s.events(events.TransferDebited)
	for k, e := range debits {
		if k%2 == 0 {
			deliver(t, s.writer, s.from, e, h)
		}
	}
	answers := append(s.events(events.TransferCredited), s.events(events.TransferCreditRejected)...)
	for k, e := range answers {
		if k%2 == 0 {
			deliver(t, s.writer, s.from, e, h)
		}
	}
	// Releases before 91d9a6a recorded a same-shard transfer's step, and
	// before 0003_transfer_keys a step's source account could stay unknown.
	for i, schema := range s.layout.Schemas[:s.from] {
		if _, err := s.db.Exec("INSERT INTO `" + schema + "`.transfer_steps (transaction_id, from_account, step, shard, at) " +
			"SELECT transaction_id, from_account, 'completed', from_shard, created_at FROM `" + schema + "`.transfers " +
			"WHERE status = 'completed' AND from_shard = to_shard ORDER BY transaction_id LIMIT 3"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec("INSERT INTO `"+schema+"`.transfer_steps (transaction_id, from_account, step, shard, at) VALUES (?, '', 'debited', ?, NOW(6))",
			uuid.NewString(), i); err != nil {
			t.Fatal(err)
		}
	}
	// A message a consumer gave up on, as deadletter.Record keeps it.
	if _, err := s.db.Exec("INSERT INTO `"+s.layout.Schemas[s.from-1]+"`.dead_letters (consumer, subject, headers, data, error, stream_seq) VALUES (?, ?, '{}', ?, ?, ?)",
		"saga-shard-1", "wallet.transfer.debited.1", []byte("{not json"), "malformed", seed); err != nil {
		t.Fatal(err)
	}
	return h
}

func (s *stack) move(h *history, kind account.Kind, id string, cents int) {
	req := account.MovementRequest{Kind: kind, AccountID: id, TransactionID: uuid.NewString(),
		Amount: accounttest.USD(s.t, decimal.New(int64(cents), -2).StringFixed(2))}
	h.movements = append(h.movements, req)
	if _, err := s.writer.Move(context.Background(), req); err == nil {
		if kind == account.Deposit {
			h.deposited = h.deposited.Add(req.Amount.Decimal())
		} else {
			h.deposited = h.deposited.Sub(req.Amount.Decimal())
		}
	}
}

// events reads the outbox rows of type typ of every schema there is.
func (s *stack) events(typ string) []events.Event {
	s.t.Helper()
	var out []events.Event
	for _, schema := range s.schemas() {
		var rows []struct {
			ID      string    `db:"event_id"`
			Type    string    `db:"event_type"`
			Topic   string    `db:"topic"`
			Source  string    `db:"source"`
			Subject string    `db:"subject"`
			Data    string    `db:"data"`
			At      time.Time `db:"occurred_at"`
		}
		if err := s.db.Select(&rows, "SELECT event_id, event_type, topic, source, subject, data, occurred_at FROM `"+schema+
			"`.outbox WHERE event_type = ? ORDER BY id", typ); err != nil {
			s.t.Fatal(err)
		}
		for _, r := range rows {
			out = append(out, events.Event{ID: r.ID, Type: r.Type, Topic: r.Topic, Source: r.Source, Subject: r.Subject, Time: r.At, Data: []byte(r.Data)})
		}
	}
	return out
}

// schemas are the schemas that exist of the layout's.
func (s *stack) schemas() []string {
	var out []string
	for _, schema := range s.layout.Schemas {
		var n int
		if err := s.db.Get(&n, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema); err != nil {
			s.t.Fatal(err)
		}
		if n > 0 {
			out = append(out, schema)
		}
	}
	return out
}

// deliver applies a saga event as the saga consumer does: routed by its
// accounts under n shards (account.OpFor), not by the shard numbers the
// payload was written with, which is what the consumer of the release
// after the split does with the events written before it.
func deliver(t *testing.T, w *groupcommit.Writer, n int, e events.Event, h *history) {
	t.Helper()
	op, sh, err := account.OpFor(e, n)
	if err != nil {
		t.Fatal(err)
	}
	if res := w.Do(context.Background(), sh, []account.Op{op}); res[0].Err != nil {
		t.Fatalf("deliver %s %s: %v", e.Type, e.ID, res[0].Err)
	}
	h.delivered[e.ID] = true
}

// snapshot is what the store answers about the history.
type snapshot struct {
	accounts  map[string]account.Account
	transfers map[account.Key]account.Transfer
	lists     map[string][]string
}

func (s *stack) snapshot(store *mysql.Store, h *history) snapshot {
	s.t.Helper()
	ctx := context.Background()
	snap := snapshot{accounts: map[string]account.Account{}, transfers: map[account.Key]account.Transfer{}, lists: map[string][]string{}}
	for _, id := range h.accounts {
		a, err := store.Get(ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		snap.accounts[id] = a
		list, _, err := store.AccountTransfers(ctx, id, nil, 1000)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, l := range list {
			snap.lists[id] = append(snap.lists[id], fmt.Sprintf("%s %s %s %s %s %s", l.Direction, l.TransactionID, l.From, l.To, l.Amount, l.Status))
		}
	}
	for _, req := range h.transfers {
		tr, err := store.GetTransfer(ctx, account.TransferQuery{TransactionID: req.TransactionID, From: req.From})
		if problem.Is(err, problem.NotFound) {
			continue // refused as misrouted, never recorded: none here
		}
		if err != nil {
			s.t.Fatal(err)
		}
		snap.transfers[tr.Key()] = tr
	}
	return snap
}

// total is the sum of every account's balance.
func (sn snapshot) total() decimal.Decimal {
	var sum decimal.Decimal
	for _, a := range sn.accounts {
		sum = sum.Add(a.Balance)
	}
	return sum
}

func stepNames(tr account.Transfer) []string {
	var out []string
	for _, st := range tr.Steps {
		out = append(out, st.Name)
	}
	return out
}

// A 2-shard deployment with accounts, completed and pending cross-shard
// transfers, refusals and unpublished outbox rows splits into 8: the store
// of 8 shards finds every account, balance, transfer (with its steps, and
// in both accounts' lists), movement and refusal at its account's shard,
// the placement has 8 shards on the old shard's server, every shard is
// unfrozen, and the pending sagas finish with the money conserved.
func TestSplit(t *testing.T) {
	s := newStack(t, 2, 8)
	ctx := context.Background()
	h := s.fill(1)
	before := s.snapshot(s.store, h)
	var pending int
	for _, tr := range before.transfers {
		if tr.Status == account.Pending {
			pending++
		}
	}
	if pending == 0 || len(before.transfers) < 100 {
		t.Fatalf("the workload left %d pending of %d transfers", pending, len(before.transfers))
	}

	var out bytes.Buffer
	p, err := s.splitter(&out).Run(ctx)
	if err != nil {
		t.Fatalf("split: %v\n%s", err, out.String())
	}
	t.Logf("%s", out.String())
	if p.From != 2 || p.To != 8 {
		t.Errorf("plan %d -> %d", p.From, p.To)
	}
	m, _, err := s.place.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 2 || m.Shards != 8 || len(m.Owner) != 8 || m.Owner[7] != "db1" {
		t.Fatalf("placement after the split: %+v", m)
	}
	s.checkSchemas(8)

	store, w := s.newStore()
	after := s.snapshot(store, h)
	for id, a := range before.accounts {
		b := after.accounts[id]
		if !b.Balance.Equal(a.Balance) || b.Version != a.Version || b.Status != a.Status || b.Shard != shard.Of(id, 8) {
			t.Errorf("account %s: %+v, was %+v", id, b, a)
		}
		if !slices.Equal(after.lists[id], before.lists[id]) {
			t.Errorf("account %s lists\n%q\nwas\n%q", id, after.lists[id], before.lists[id])
		}
	}
	for k, a := range before.transfers {
		b, ok := after.transfers[k]
		if !ok {
			t.Errorf("transfer %v lost", k)
			continue
		}
		if b.Status != a.Status || b.Hash != a.Hash || b.Amount.String() != a.Amount.String() || b.Reason != a.Reason ||
			b.FromShard != shard.Of(b.From, 8) || b.ToShard != shard.Of(b.To, 8) || !slices.Equal(stepNames(b), stepNames(a)) {
			t.Errorf("transfer %v: %+v, was %+v", k, b, a)
		}
	}
	if !after.total().Equal(before.total()) {
		t.Errorf("balances sum to %s, were %s", after.total(), before.total())
	}

	// Every request made again is answered as it was first, by its
	// account's new shard: no money moves.
	for _, req := range h.movements {
		m2, err := w.Move(ctx, req)
		if err != nil && problem.CodeOf(err) != problem.InsufficientFunds {
			t.Errorf("movement %s again: %v", req.TransactionID, err)
		}
		if err == nil && m2.Version == 0 {
			t.Errorf("movement %s again: %+v", req.TransactionID, m2)
		}
	}
	for _, req := range h.transfers {
		tr, err := w.Transfer(ctx, req)
		want, recorded := before.transfers[req.Key()]
		switch {
		case !recorded:
			t.Errorf("transfer %s was never recorded", req.TransactionID)
		case want.Status == account.Refused:
			if problem.CodeOf(err) != want.Refusal.Code {
				t.Errorf("refused transfer %s again: %v, want %s", req.TransactionID, err, want.Refusal.Code)
			}
		case err != nil || tr.Status != want.Status:
			t.Errorf("transfer %s again: %+v %v, want %s", req.TransactionID, tr, err, want.Status)
		}
	}
	if again := s.snapshot(store, h); !again.total().Equal(before.total()) {
		t.Fatalf("requests made again moved money: %s, was %s", again.total(), before.total())
	}

	// A pending transfer's debit is still in the outbox of its source's new
	// shard, so a redrive leaves it alone.
	for sh := range 8 {
		if n, err := store.Redrive(ctx, sh, 0); err != nil || n != 0 {
			t.Errorf("redrive shard %d: %d sent, %v", sh, n, err)
		}
	}

	// The sagas left half-way finish on the new shards.
	for round := 0; ; round++ {
		var todo []events.Event
		for _, typ := range []string{events.TransferDebited, events.TransferCredited, events.TransferCreditRejected} {
			for _, e := range s.events(typ) {
				if !h.delivered[e.ID] {
					todo = append(todo, e)
				}
			}
		}
		if len(todo) == 0 {
			break
		}
		if round > 5 {
			t.Fatalf("the sagas do not end: %d events left", len(todo))
		}
		for _, e := range todo {
			deliver(t, w, 8, e, h)
		}
	}
	final := s.snapshot(store, h)
	var inFlight int
	for _, tr := range final.transfers {
		if tr.Status == account.Pending {
			inFlight++
		}
	}
	if inFlight > 0 {
		t.Errorf("%d transfers still pending", inFlight)
	}
	if !final.total().Equal(h.deposited) {
		t.Errorf("after the sagas the balances sum to %s; deposits less withdrawals are %s", final.total(), h.deposited)
	}

	// Done is done.
	out.Reset()
	if p, err := s.splitter(&out).Run(ctx); err != nil || !p.Done() {
		t.Errorf("split again: %+v %v\n%s", p, err, out.String())
	}
}

// checkSchemas checks every new shard's shard_meta (its number, db1, not
// frozen) and that the split left none of its tables.
func (s *stack) checkSchemas(n int) {
	s.t.Helper()
	for j, schema := range s.layout.Schemas[:n] {
		var meta struct {
			Shard  int    `db:"shard"`
			Server string `db:"server"`
			Frozen bool   `db:"frozen"`
		}
		if err := s.db.Get(&meta, "SELECT shard, server, frozen FROM `"+schema+"`.shard_meta WHERE id = 1"); err != nil {
			s.t.Fatal(err)
		}
		if meta.Shard != j || meta.Server != "db1" || meta.Frozen {
			s.t.Errorf("shard %d's shard_meta: %+v", j, meta)
		}
		var left int
		if err := s.db.Get(&left, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE 'split%'", schema); err != nil {
			s.t.Fatal(err)
		}
		if left > 0 {
			s.t.Errorf("shard %d keeps the split's tables", j)
		}
	}
}

// dump renders every row of every table a shard's data is in, of the new
// shards, by schema and key: two splits of the same data compare by it.
func (s *stack) dump() []string {
	s.t.Helper()
	var out []string
	for j, schema := range s.layout.Schemas {
		for _, q := range []string{
			"SELECT * FROM %s.accounts ORDER BY account_id",
			"SELECT * FROM %s.movements ORDER BY transaction_id",
			"SELECT * FROM %s.transfers ORDER BY transaction_id, from_account",
			"SELECT * FROM %s.credits ORDER BY transaction_id, from_account",
			"SELECT * FROM %s.transfer_steps ORDER BY transaction_id, from_account, step",
			"SELECT * FROM %s.outbox ORDER BY id",
			"SELECT * FROM %s.inbox ORDER BY consumer, event_id",
			"SELECT id, consumer, subject, data FROM %s.dead_letters ORDER BY id",
			"SELECT * FROM %s.shard_meta",
		} {
			for _, row := range testenv.Rows(s.t, s.db, fmt.Sprintf(q, "`"+schema+"`")) {
				out = append(out, fmt.Sprintf("%d %s %s", j, strings.Fields(q)[3], row))
			}
		}
	}
	return out
}

// clone is a second deployment with the same rows as s (its own schemas and
// its own NATS for the placement).
func (s *stack) clone() *stack {
	s.t.Helper()
	c := newStack(s.t, s.from, len(s.layout.Schemas))
	for i := range s.from {
		src, dst := "`"+s.layout.Schemas[i]+"`", "`"+c.layout.Schemas[i]+"`"
		var tables []string
		if err := s.db.Select(&tables, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", s.layout.Schemas[i]); err != nil {
			s.t.Fatal(err)
		}
		for _, table := range tables {
			for _, q := range []string{"DELETE FROM %[1]s.%[3]s", "INSERT INTO %[1]s.%[3]s SELECT * FROM %[2]s.%[3]s"} {
				if _, err := s.db.Exec(fmt.Sprintf(q, dst, src, "`"+table+"`")); err != nil {
					s.t.Fatal(err)
				}
			}
		}
	}
	return c
}

// A split stopped half-way, at any of several steps, and run again ends as
// one that ran straight through: the same rows in the same shards, the same
// placement, nothing frozen.
func TestSplitCrashAndRerun(t *testing.T) {
	ctx := context.Background()
	straight := newStack(t, 2, 8)
	straight.fill(2)
	crashed := straight.clone()
	if _, err := straight.splitter(nil).Run(ctx); err != nil {
		t.Fatal(err)
	}
	want := straight.dump()

	// The first runs stop at given steps; the next ones each at a later
	// call of the hook (a batch committed, a table moved), until one stops
	// at the check before the placement; then one stops once the placement
	// is stored, one once the shards are unfrozen, and the last one ends.
	crash := func(stop func(step string, call int32) bool) {
		t.Helper()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var calls atomic.Int32
		sp := crashed.splitter(nil)
		var at atomic.Value
		sp.Hook = func(step string) {
			if stop(step, calls.Add(1)) {
				at.CompareAndSwap(nil, step)
				cancel()
			}
		}
		if _, err := sp.Run(sctx); err == nil {
			t.Fatalf("a run meant to stop ended (stopped at %v)", at.Load())
		}
		t.Logf("stopped at %v", at.Load())
	}
	crash(func(step string, _ int32) bool { return step == "frozen" })
	crash(func(step string, _ int32) bool { return step == "created" })
	for run := int32(0); ; run++ {
		var verified atomic.Bool
		crash(func(step string, call int32) bool {
			if step == "verified" {
				verified.Store(true)
			}
			return step == "verified" || call == 5+3*run
		})
		if verified.Load() {
			break
		}
		if run > 100 {
			t.Fatal("the runs make no progress")
		}
	}
	crash(func(step string, _ int32) bool { return step == "placed" })
	crash(func(step string, _ int32) bool { return step == "unfrozen" })
	var out bytes.Buffer
	if _, err := crashed.splitter(&out).Run(ctx); err != nil {
		t.Fatalf("the last run: %v\n%s", err, out.String())
	}
	t.Logf("the last run:\n%s", out.String())
	got := crashed.dump()
	if !slices.Equal(got, want) {
		for k := range min(len(got), len(want)) {
			if got[k] != want[k] {
				t.Fatalf("row %d differs:\n got %s\nwant %s\n(%d rows, want %d)", k, got[k], want[k], len(got), len(want))
			}
		}
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	crashed.checkSchemas(8)
	if m, _, err := crashed.place.Load(ctx); err != nil || m.Version != 2 || m.Shards != 8 {
		t.Fatalf("placement: %+v %v", m, err)
	}
}

// A count that is not a multiple of the shards there are, or fewer, is
// refused before anything changes.
func TestSplitRefuses(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, 2, 8)
	for _, to := range []int{7, 3, 1} {
		sp := s.splitter(nil)
		sp.Layout.Schemas = s.layout.Schemas[:to]
		_, err := sp.Run(ctx)
		if !errors.Is(err, shardsplit.ErrUsage) {
			t.Errorf("split 2 into %d: %v, want ErrUsage", to, err)
		}
	}
	// The first schemas configured are not the shards there are.
	sp := s.splitter(nil)
	sp.Layout.Schemas = slices.Clone(s.layout.Schemas)
	sp.Layout.Schemas[0], sp.Layout.Schemas[1] = sp.Layout.Schemas[1], sp.Layout.Schemas[0]
	if _, err := sp.Run(ctx); !errors.Is(err, shardsplit.ErrUsage) || !strings.Contains(err.Error(), "records shard 1") {
		t.Errorf("shards reordered: %v", err)
	}
	if m, _, _ := s.place.Load(ctx); m.Version != 1 {
		t.Errorf("a refused split changed the placement: %+v", m)
	}
	s.checkSchemas(2)
	if got := s.schemas(); len(got) != 2 {
		t.Errorf("a refused split made schemas: %v", got)
	}

	// What the databases hold stops it too, before it changes anything.
	for _, tt := range []struct {
		setup, undo []string
		why         string
	}{
		{[]string{"UPDATE `{0}`.shard_meta SET frozen = TRUE"}, []string{"UPDATE `{0}`.shard_meta SET frozen = FALSE"}, "unfinished move"},
		{[]string{"CREATE TABLE `{1}`.extra (id INT PRIMARY KEY)"}, []string{"DROP TABLE `{1}`.extra"}, "table extra"},
		{[]string{"CREATE DATABASE `{5}`", "CREATE TABLE `{5}`.accounts (account_id VARCHAR(64) PRIMARY KEY)", "INSERT INTO `{5}`.accounts VALUES ('x')"},
			[]string{"DROP DATABASE `{5}`"}, "already holds accounts rows"},
		{[]string{"CREATE DATABASE `{6}`", "CREATE TABLE `{6}`.shard_meta (id INT PRIMARY KEY, shard INT)", "INSERT INTO `{6}`.shard_meta VALUES (1, 3)"},
			[]string{"DROP DATABASE `{6}`"}, "records shard 3"},
	} {
		run := func(stmts []string) {
			for _, q := range stmts {
				for j, schema := range s.layout.Schemas {
					q = strings.ReplaceAll(q, fmt.Sprintf("{%d}", j), schema)
				}
				if _, err := s.db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
		}
		run(tt.setup)
		_, err := s.splitter(nil).Run(ctx)
		if err == nil || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: %v", tt.why, err)
		}
		run(tt.undo)
		s.checkSchemas(2)
	}
	if m, _, _ := s.place.Load(ctx); m.Version != 1 {
		t.Errorf("a refused split changed the placement: %+v", m)
	}
}

// Every table of a shard's schema, as the migrations make it, is one the
// split moves or keeps: a migration that adds a table must say which.
func TestEveryTableIsAudited(t *testing.T) {
	s := newStack(t, 1, 1)
	var tables []string
	if err := s.db.Select(&tables, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", s.layout.Schemas[0]); err != nil {
		t.Fatal(err)
	}
	audited := shardsplit.Audited()
	slices.Sort(audited)
	slices.Sort(tables)
	if !slices.Equal(tables, audited) {
		t.Errorf("a shard's tables are %v; the split knows %v (shardsplit/tables.go)", tables, audited)
	}
}
