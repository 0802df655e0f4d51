package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/stream"
)

// The invariants the checker verifies, by the names its violations carry.
const (
	InvQuiescence   = "quiescence"                // the system settles after the faults
	InvConservation = "conservation"              // per currency: balances = deposits − withdrawals, nothing in flight
	InvNonNegative  = "no negative balance"       //
	InvSagasEnded   = "every saga ended"          // completed or failed, on the shard and in the stream
	InvOnce         = "no double effect"          // no transaction_id took effect twice
	InvPublished    = "each event published once" // no ce-id twice in the stream
	InvAcked        = "acknowledged is present"   // what a client was told happened, happened
	InvAsIntended   = "done as asked"             // each effect has the request's accounts, amount and currency
	InvRefused      = "refused moved nothing"     // what a client was told was refused moved no money
	InvUnasked      = "no money nobody asked for" // every money event is an operation some client sent
	InvHistory      = "gap-free account history"  // versions rise by one, balance_after adds up, ends at the shard's
	InvLedger       = "ledger equals shards"      // every account's ledger balance is its shard balance
	// per partition: its ledger's wallets sum to its shards' balances and
	// its journal balances; in total: wallets are the shards' money and
	// the partitions' @in_flight sum to what the shards have in flight
	InvLedgerPartitions = "ledger equals shards per partition and in total"
	InvReconcile        = "reconcile exits 0"            // ledger-service reconcile finds nothing
	InvRecovery         = "every fault healed"           // every killed process came back
	InvMoved            = "every move done or undone"    // a move ends with the shard live on its new server or on its old one
	InvPlaced           = "each shard live where placed" // the placement's copy of a shard is live, no other is
)

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	Detail    string
}

// Findings collects violations, keeping the first few of each invariant
// and counting all.
type Findings struct {
	Count   map[string]int
	Samples map[string][]string
	order   []string
}

const samplesPerInvariant = 10

func newFindings() *Findings {
	return &Findings{Count: map[string]int{}, Samples: map[string][]string{}}
}

// Add records a violation of inv.
func (fs *Findings) Add(inv, format string, args ...any) {
	if fs.Count[inv] == 0 {
		fs.order = append(fs.order, inv)
	}
	fs.Count[inv]++
	if len(fs.Samples[inv]) < samplesPerInvariant {
		fs.Samples[inv] = append(fs.Samples[inv], fmt.Sprintf(format, args...))
	}
}

func (fs *Findings) merge(o *Findings) {
	for _, inv := range o.order {
		if fs.Count[inv] == 0 {
			fs.order = append(fs.order, inv)
		}
		fs.Count[inv] += o.Count[inv]
		for _, s := range o.Samples[inv] {
			if len(fs.Samples[inv]) < samplesPerInvariant {
				fs.Samples[inv] = append(fs.Samples[inv], s)
			}
		}
	}
}

// Violated lists the invariants broken, in the order first found.
func (fs *Findings) Violated() []string { return fs.order }

func (fs *Findings) String() string {
	if len(fs.order) == 0 {
		return "invariants: all hold\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invariants: %d violated\n", len(fs.order))
	for _, inv := range fs.order {
		fmt.Fprintf(&b, "  VIOLATED %s (%d)\n", inv, fs.Count[inv])
		for _, s := range fs.Samples[inv] {
			fmt.Fprintf(&b, "    - %s\n", s)
		}
	}
	return b.String()
}

// change is one balance change of an account, as an event told it.
type change struct {
	version int64
	after   decimal.Decimal
	delta   decimal.Decimal
	what    string // event type and transaction, for messages
	id      string // ce-id
}

// effects counts what the stream says happened to one operation (a
// transaction_id of a deposit or withdrawal, or a transfer's
// transaction_id and source).
type effects struct {
	deposited, withdrawn         int
	debited, credited, completed int
	failed, rejected             int
	account, to, currency        string
	amount                       decimal.Decimal
}

// History is what the checker read from the partitions' streams.
type History struct {
	Events   int
	Via      string              // how it was read
	Placed   placement.Map       // the placement the shards were read by
	Leftover []string            // what moves left behind that no writer can use
	Money    []string            // the ledger's money per partition and in total, against the shards'
	accounts map[string][]change // by account id
	effects  map[string]*effects // by opKey
	ids      map[string]int      // ce-id → times seen
}

func opKey(kind, txID, account string) string {
	if kind == OpTransfer {
		return "transfer " + txID + " from " + account
	}
	return kind + " " + txID
}

// ReadHistory reads every event partition's stream (WALLET_<p>) from any
// node of the fleet, one after the other: each through an ordered consumer,
// or, if that fails, message by message from the stream itself (History.Via
// says which, and why). An account's events are all in its shard's
// partition, in order, so each account's history is read in order. A saga
// step copy (saga.<q>.…) is not an event of its own: it must repeat a fact
// of another partition, same ce-id.
func (f *Fleet) ReadHistory(ctx context.Context, fs *Findings) (*History, error) {
	nc, sts, err := f.partitionStreams(ctx)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	h := newHistory()
	var via []string
	copies := map[string]string{} // ce-id → subject of a step copy
	for _, st := range sts {
		name := st.CachedInfo().Config.Name
		info, err := st.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		last := info.State.LastSeq
		msgs, err := readOrdered(ctx, st, last)
		how := "an ordered consumer"
		if err != nil {
			// Should the consumer fail (a node lost meanwhile), read the
			// messages from the stream leader one by one.
			var err2 error
			if msgs, err2 = readBySequence(ctx, st, last); err2 != nil {
				return nil, fmt.Errorf("%s through %s: ordered consumer: %v; by sequence: %w", name, nc.ConnectedServerName(), err, err2)
			}
			how = fmt.Sprintf("sequence by sequence (the ordered consumer failed: %v; routes: %s)", err, f.routeSummary())
		}
		via = append(via, name+": "+how)
		for _, m := range msgs {
			if strings.HasPrefix(m.subject, events.StepRoot+".") {
				copies[m.header.Get("ce-id")] = m.subject
				continue
			}
			h.file(m.seq, m.subject, m.header, m.data, fs)
		}
	}
	for id, subject := range copies {
		if h.ids[id] == 0 {
			fs.Add(InvPublished, "step copy %s (%s) repeats no fact of any partition", id, subject)
		}
	}
	h.Via = strings.Join(via, "; ") + " through " + nc.ConnectedServerName()
	return h, nil
}

func newHistory() *History {
	return &History{accounts: map[string][]change{}, effects: map[string]*effects{}, ids: map[string]int{}}
}

// rawMsg is one stream message as read.
type rawMsg struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// readOrdered reads messages 1 to last through an ordered consumer's
// message iterator. (Not Fetch: an ordered consumer recreates itself for
// every Fetch, and in a cluster the first pull to the new consumer can
// reach a node before its interest does, "no responders".)
func readOrdered(ctx context.Context, st jetstream.Stream, last uint64) ([]rawMsg, error) {
	var out []rawMsg
	if last == 0 {
		return out, nil
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	it, err := c.Messages()
	if err != nil {
		return nil, err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextMaxWait(30 * time.Second))
		if err != nil {
			return nil, err
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		out = append(out, rawMsg{seq: md.Sequence.Stream, subject: m.Subject(), header: m.Headers(), data: m.Data()})
		if md.Sequence.Stream >= last {
			return out, nil
		}
	}
}

// readBySequence reads messages 1 to last one request each.
func readBySequence(ctx context.Context, st jetstream.Stream, last uint64) ([]rawMsg, error) {
	var out []rawMsg
	for seq := uint64(1); seq <= last; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", seq, err)
		}
		out = append(out, rawMsg{seq: seq, subject: m.Subject, header: m.Header, data: m.Data})
	}
	return out, nil
}

// file decodes stream message seq and adds it.
func (h *History) file(seq uint64, subject string, hdr nats.Header, data []byte, fs *Findings) {
	e, err := events.FromMsg(subject, hdr, data)
	if err != nil {
		fs.Add(InvHistory, "stream message %s %d: %v", subject, seq, err)
		return
	}
	e.Seq = seq
	h.add(e, fs)
}

// add files one event: a second copy of a ce-id is a violation and is
// otherwise ignored (a subscriber that dedupes sees it once).
func (h *History) add(e events.Event, fs *Findings) {
	h.Events++
	h.ids[e.ID]++
	if h.ids[e.ID] > 1 {
		fs.Add(InvPublished, "event %s (%s %s) is in the stream %d times, again at sequence %d", e.ID, e.Type, e.Subject, h.ids[e.ID], e.Seq)
		return
	}
	what := fmt.Sprintf("%s %s (seq %d)", e.Type, e.Subject, e.Seq)
	switch e.Type {
	case events.AccountOpened:
		a, err := events.Decode[events.Account](e)
		if err != nil {
			fs.Add(InvHistory, "%s: %v", what, err)
			return
		}
		h.change(a.AccountID, a.Version, a.BalanceAfter, decimal.Zero, what, e.ID, fs)
	case events.AccountDeposited, events.AccountWithdrawn:
		m, err := events.Decode[events.Movement](e)
		if err != nil {
			fs.Add(InvHistory, "%s: %v", what, err)
			return
		}
		amt, err := decimal.NewFromString(m.Amount)
		if err != nil {
			fs.Add(InvHistory, "%s: amount %q: %v", what, m.Amount, err)
			return
		}
		kind := OpDeposit
		if e.Type == events.AccountWithdrawn {
			kind, amt = OpWithdrawal, amt.Neg()
		}
		ef := h.effect(kind, m.TransactionID, m.AccountID)
		ef.account, ef.currency, ef.amount = m.AccountID, m.Currency, amt
		if kind == OpDeposit {
			ef.deposited++
		} else {
			ef.withdrawn++
		}
		h.change(m.AccountID, m.Version, m.BalanceAfter, amt, what, e.ID, fs)
	case events.AccountStatusChanged:
	case events.TransferDebited, events.TransferCredited, events.TransferCreditRejected, events.TransferCompleted, events.TransferFailed:
		t, err := events.Decode[events.Transfer](e)
		if err != nil {
			fs.Add(InvHistory, "%s: %v", what, err)
			return
		}
		amt, err := decimal.NewFromString(t.Amount)
		if err != nil {
			fs.Add(InvHistory, "%s: amount %q: %v", what, t.Amount, err)
			return
		}
		ef := h.effect(OpTransfer, t.TransactionID, t.FromAccount)
		ef.account, ef.to, ef.currency, ef.amount = t.FromAccount, t.ToAccount, t.Currency, amt
		// Each step changes the accounts it is about: the source for a
		// debit or a refund, the destination for a credit, both for a
		// same-shard completion.
		want := map[string][]string{events.TransferDebited: {t.FromAccount}, events.TransferFailed: {t.FromAccount},
			events.TransferCredited: {t.ToAccount}, events.TransferCompleted: {t.FromAccount, t.ToAccount}}[e.Type]
		if len(t.Balances) > 0 && !sameAccounts(t.Balances, want) {
			fs.Add(InvAsIntended, "%s changes %+v, not %v", what, t.Balances, want)
		}
		// Events without balances repeat a step (a redrive, a repeated
		// answer): they change nothing and are not counted.
		for _, b := range t.Balances {
			delta := amt
			switch {
			case e.Type == events.TransferDebited, e.Type == events.TransferCompleted && b.AccountID == t.FromAccount:
				delta = amt.Neg()
			}
			h.change(b.AccountID, b.Version, b.BalanceAfter, delta, what, e.ID, fs)
		}
		if len(t.Balances) == 0 && e.Type != events.TransferCreditRejected && !(e.Type == events.TransferCompleted && t.FromShard != t.ToShard) {
			return
		}
		switch e.Type {
		case events.TransferDebited:
			ef.debited++
		case events.TransferCredited:
			ef.credited++
		case events.TransferCreditRejected:
			ef.rejected++
		case events.TransferCompleted:
			ef.completed++
		case events.TransferFailed:
			ef.failed++
		}
	default:
		fs.Add(InvHistory, "%s: an event type the checker does not know", what)
	}
}

// sameAccounts reports whether bs are the balances of exactly the
// accounts want.
func sameAccounts(bs []events.Balance, want []string) bool {
	if len(bs) != len(want) {
		return false
	}
	for _, b := range bs {
		if !slices.Contains(want, b.AccountID) {
			return false
		}
	}
	return true
}

func (h *History) effect(kind, txID, account string) *effects {
	k := opKey(kind, txID, account)
	ef := h.effects[k]
	if ef == nil {
		ef = &effects{}
		h.effects[k] = ef
	}
	return ef
}

func (h *History) change(account string, version int64, after string, delta decimal.Decimal, what, id string, fs *Findings) {
	a, err := decimal.NewFromString(after)
	if err != nil {
		fs.Add(InvHistory, "%s: balance_after %q: %v", what, after, err)
		return
	}
	h.accounts[account] = append(h.accounts[account], change{version: version, after: a, delta: delta, what: what, id: id})
}

// Check verifies every invariant after the run: ops is what the clients
// were told, injected what the nemesis did. The system must be quiescent.
func (f *Fleet) Check(ctx context.Context, w *Workload, ops []*Op, injected []Injected, fs *Findings) (*History, error) {
	for _, in := range injected {
		switch {
		case in.Err != nil && in.Move != nil:
			fs.Add(InvMoved, "%s on %s: %v", in.Kind, in.Target, in.Err)
		case in.Err != nil:
			fs.Add(InvRecovery, "%s on %s: %v", in.Kind, in.Target, in.Err)
		}
	}
	// A cluster that has just healed may still be electing a leader for
	// the stream or its consumers: read again a few times.
	var h *History
	var err error
	for try := 0; ; try++ {
		read := newFindings()
		if h, err = f.ReadHistory(ctx, read); err == nil {
			fs.merge(read)
			break
		}
		if try == 10 {
			return nil, fmt.Errorf("read the stream: %w", err)
		}
		time.Sleep(3 * time.Second)
	}
	// Every shard is read on the server that holds it now, wherever the
	// nemesis moved it.
	live, placed, err := f.LiveShards(ctx)
	if err != nil {
		return nil, err
	}
	h.Placed = placed
	if h.Leftover, err = f.checkPlacement(ctx, placed, fs); err != nil {
		return nil, err
	}
	shards, err := shardAccounts(ctx, live)
	if err != nil {
		return nil, err
	}
	checkHistories(h, shards, fs)
	checkEffects(h, ops, fs)
	checkConservation(h, shards, fs)
	if err := checkShards(ctx, live, fs); err != nil {
		return nil, err
	}
	if err := f.checkLedger(ctx, w, shards, fs); err != nil {
		return nil, err
	}
	if h.Money, err = f.checkLedgerPartitions(ctx, live, shards, fs); err != nil {
		return nil, err
	}
	if err := f.reconcile(fs); err != nil {
		return nil, err
	}
	return h, nil
}

// shardAccount is an account row of a shard.
type shardAccount struct {
	ID       string          `db:"account_id"`
	Currency string          `db:"currency"`
	Balance  decimal.Decimal `db:"balance"`
	Version  int64           `db:"version"`
	Shard    int             `db:"-"` // the logical shard it lives on
}

// shardAccounts reads every account of the shards' live copies.
func shardAccounts(ctx context.Context, live []*sqlx.DB) (map[string]shardAccount, error) {
	out := map[string]shardAccount{}
	for i, db := range live {
		var rows []shardAccount
		if err := db.SelectContext(ctx, &rows, "SELECT account_id, currency, balance, version FROM accounts"); err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		for _, r := range rows {
			r.Shard = i
			out[r.ID] = r
		}
	}
	return out, nil
}

// checkHistories: per account, the versions the events carry are 0, 1, 2,
// … with none missing or repeated, each balance_after is the previous one
// plus the change, and the last is the shard's balance and version.
func checkHistories(h *History, shards map[string]shardAccount, fs *Findings) {
	for id, acc := range shards {
		cs := h.accounts[id]
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].version < cs[j].version })
		if len(cs) == 0 {
			fs.Add(InvHistory, "account %s has no events (shard version %d)", id, acc.Version)
			continue
		}
		ok := true
		for _, c := range cs {
			if c.after.IsNegative() {
				fs.Add(InvNonNegative, "account %s: version %d leaves %s (%s)", id, c.version, c.after, c.what)
			}
		}
		for i, c := range cs {
			if c.version != int64(i) {
				if i > 0 && c.version == cs[i-1].version {
					fs.Add(InvHistory, "account %s: version %d twice: %s and %s", id, c.version, cs[i-1].what, c.what)
				} else {
					fs.Add(InvHistory, "account %s: version %d follows %d (%s): a gap", id, c.version, int64(i)-1, c.what)
				}
				ok = false
				break
			}
			if i > 0 && !cs[i-1].after.Add(c.delta).Equal(c.after) {
				fs.Add(InvHistory, "account %s: version %d: %s + %s is not balance_after %s (%s)", id, c.version,
					cs[i-1].after, c.delta, c.after, c.what)
				ok = false
				break
			}
		}
		last := cs[len(cs)-1]
		if ok && (last.version != acc.Version || !last.after.Equal(acc.Balance)) {
			fs.Add(InvHistory, "account %s: its events end at version %d balance %s, the shard holds version %d balance %s",
				id, last.version, last.after, acc.Version, acc.Balance)
		}
	}
	for id := range h.accounts {
		if _, ok := shards[id]; !ok {
			fs.Add(InvHistory, "account %s has events but no shard row", id)
		}
	}
}

// checkEffects holds the stream against what clients were told, and
// looks for double effects and money nobody asked for.
func checkEffects(h *History, ops []*Op, fs *Findings) {
	asked := map[string]*Op{}
	for _, op := range ops {
		k := opKey(op.Kind, op.TxID, op.Account)
		asked[k] = op
		ef := h.effects[k]
		if ef == nil {
			ef = &effects{}
		}
		moved := ef.deposited+ef.withdrawn+ef.debited+ef.completed > 0
		if moved {
			checkAsAsked(k, op, ef, fs)
		}
		switch {
		case op.Outcome == Refused && moved:
			fs.Add(InvRefused, "%s was refused (%d %s) but the stream has %+v", k, op.Status, op.Code, *ef)
		case op.Outcome == Acked && op.Kind == OpDeposit && ef.deposited == 0,
			op.Outcome == Acked && op.Kind == OpWithdrawal && ef.withdrawn == 0:
			fs.Add(InvAcked, "%s was answered %d but has no event", k, op.Status)
		case op.Outcome == Acked && op.Result == "success" && ef.completed == 0:
			fs.Add(InvAcked, "%s was answered %d success but did not complete: %+v", k, op.Status, *ef)
		case op.Outcome == Acked && op.Result == "failed" && ef.failed == 0:
			fs.Add(InvAcked, "%s was answered failed (%s) but was not refunded: %+v", k, op.Code, *ef)
		case op.Outcome == Acked && op.Result == "pending" && ef.completed+ef.failed == 0:
			fs.Add(InvAcked, "%s was accepted (202) but never ended: %+v", k, *ef)
		case op.Outcome == Acked && op.Kind == OpTransfer && !slices.Contains([]string{"success", "pending", "failed"}, op.Result):
			fs.Add(InvAcked, "%s was answered %d with status %q", k, op.Status, op.Result)
		}
	}
	for k, ef := range h.effects {
		if asked[k] == nil {
			fs.Add(InvUnasked, "%s is in the stream (%+v) but no client sent it", k, *ef)
		}
		switch {
		case ef.deposited > 1, ef.withdrawn > 1, ef.debited > 1, ef.credited > 1, ef.completed > 1, ef.failed > 1:
			fs.Add(InvOnce, "%s took effect more than once: %+v", k, *ef)
		case ef.completed > 0 && ef.failed > 0, ef.credited > 0 && ef.failed > 0, ef.credited > 0 && ef.rejected > 0,
			ef.completed > 0 && ef.rejected > 0:
			fs.Add(InvOnce, "%s both completed and failed: %+v", k, *ef)
		case ef.debited == 0 && ef.credited+ef.failed > 0:
			fs.Add(InvOnce, "%s was credited or refunded without a debit: %+v", k, *ef)
		case ef.debited > 0 && ef.completed+ef.failed == 0:
			fs.Add(InvSagasEnded, "%s was debited and never completed or refunded: %+v", k, *ef)
		}
	}
}

// checkAsAsked: what the stream says an operation did is what its client
// asked for: the accounts, the amount and the currency.
func checkAsAsked(k string, op *Op, ef *effects, fs *Findings) {
	amt, err := decimal.NewFromString(op.Amount)
	if err != nil {
		fs.Add(InvAsIntended, "%s: the workload sent amount %q", k, op.Amount)
		return
	}
	if op.Kind == OpWithdrawal {
		amt = amt.Neg()
	}
	if ef.account != op.Account || ef.to != op.To || ef.currency != op.Currency || !ef.amount.Equal(amt) {
		fs.Add(InvAsIntended, "%s asked %s %s from %s to %q; the stream moved %s %s from %s to %q", k,
			amt, op.Currency, op.Account, op.To, ef.amount, ef.currency, ef.account, ef.to)
	}
}

// checkConservation: per currency, the shards hold what was deposited
// less what was withdrawn, and no money is in flight; no balance is
// negative.
func checkConservation(h *History, shards map[string]shardAccount, fs *Findings) {
	held, in, out, flight := map[string]decimal.Decimal{}, map[string]decimal.Decimal{}, map[string]decimal.Decimal{}, map[string]decimal.Decimal{}
	for _, a := range shards {
		held[a.Currency] = held[a.Currency].Add(a.Balance)
		if a.Balance.IsNegative() {
			fs.Add(InvNonNegative, "account %s holds %s", a.ID, a.Balance)
		}
	}
	for _, ef := range h.effects {
		n := decimal.NewFromInt(int64(ef.deposited + ef.withdrawn))
		switch {
		case ef.deposited > 0:
			in[ef.currency] = in[ef.currency].Add(ef.amount.Mul(n))
		case ef.withdrawn > 0:
			out[ef.currency] = out[ef.currency].Sub(ef.amount.Mul(n))
		}
		if ef.debited > 0 {
			moved := int64(ef.debited - ef.credited - ef.failed)
			flight[ef.currency] = flight[ef.currency].Add(ef.amount.Mul(decimal.NewFromInt(moved)))
		}
	}
	for _, cur := range Currencies {
		if want := in[cur].Sub(out[cur]); !held[cur].Equal(want) {
			fs.Add(InvConservation, "%s: accounts hold %s, deposits %s less withdrawals %s make %s", cur, held[cur], in[cur], out[cur], want)
		}
		if !flight[cur].IsZero() {
			fs.Add(InvConservation, "%s: %s still in flight after quiescence", cur, flight[cur])
		}
	}
}

// checkShards: no saga pending, no outbox row left behind.
func checkShards(ctx context.Context, live []*sqlx.DB, fs *Findings) error {
	for i, db := range live {
		pending, unpublished, err := shardBacklog(ctx, i, db)
		if err != nil {
			return err
		}
		if pending > 0 {
			fs.Add(InvSagasEnded, "shard %d has %d transfers pending", i, pending)
		}
		if unpublished > 0 {
			fs.Add(InvSagasEnded, "shard %d has %d outbox rows never published (or set aside)", i, unpublished)
		}
	}
	return nil
}

// shardBacklog counts shard i's pending sagas and unpublished outbox rows
// in its copy db.
func shardBacklog(ctx context.Context, i int, db *sqlx.DB) (pending, unpublished int, err error) {
	if err = db.GetContext(ctx, &pending, "SELECT COUNT(*) FROM transfers WHERE status = 'pending'"); err == nil {
		err = db.GetContext(ctx, &unpublished, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
	}
	if err != nil {
		return 0, 0, fmt.Errorf("shard %d: %w", i, err)
	}
	return pending, unpublished, nil
}

// checkLedger: the ledger's balance of every account is the shard's. The
// accounts are asked of the ledger-service instances in turn: every
// instance answers for every partition (it opens every schema), whichever
// it applies.
func (f *Fleet) checkLedger(ctx context.Context, w *Workload, shards map[string]shardAccount, fs *Findings) error {
	client := &http.Client{Timeout: 10 * time.Second}
	n := 0
	for id, acc := range shards {
		n++
		instance := LedgerInstance(n % LedgerInstances)
		if !f.Running(instance) {
			instance = LedgerInstance((n + 1) % LedgerInstances)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", f.URL(instance)+"/v1/ledger/accounts/"+id+"/balance", nil)
		req.Header.Set("Authorization", "Bearer "+w.token)
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("ledger balance of %s: %w", id, err)
		}
		var body struct {
			Balance string `json:"balance"`
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("ledger balance of %s: %d: %w", id, res.StatusCode, err)
		}
		got, err := decimal.NewFromString(body.Balance)
		if res.StatusCode != http.StatusOK || err != nil || !got.Equal(acc.Balance) {
			fs.Add(InvLedger, "account %s: shard %s, %s answered %d %q", id, acc.Balance, instance, res.StatusCode, body.Balance)
		}
	}
	return nil
}

// Quiet reports why the fleet is not quiescent yet ("" once it is): a
// service instance not running or not ready, a JetStream node unhealthy
// or not meshed, a stream replica behind, messages some consumer has not
// acknowledged, sagas pending or outbox rows unpublished. The consumers
// are asked before the shards, so that an answer a consumer is still
// committing shows up as an outbox row.
func (f *Fleet) Quiet(ctx context.Context) string {
	client := &http.Client{Timeout: 2 * time.Second}
	for _, name := range f.Services() {
		if !f.Running(name) {
			return name + " is not running"
		}
		res, err := client.Get(f.URL(name) + "/readyz")
		if err != nil {
			return fmt.Sprintf("%s: readyz: %v", name, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Sprintf("%s: readyz %d", name, res.StatusCode)
		}
	}
	if why := f.ledgerPartitionsHeld(ctx); why != "" {
		return why
	}
	if why := f.clusterWhole(ctx, func(sts []jetstream.Stream) string { return consumersDrained(ctx, sts) }); why != "" {
		return why
	}
	live, _, err := f.LiveShards(ctx)
	if err != nil {
		return err.Error()
	}
	for i, db := range live {
		pending, unpublished, err := shardBacklog(ctx, i, db)
		if err != nil {
			return err.Error()
		}
		if pending+unpublished > 0 {
			return fmt.Sprintf("shard %d: %d sagas pending, %d outbox rows unpublished", i, pending, unpublished)
		}
	}
	return ""
}

// consumersDrained says why some consumer of the streams still has
// messages to deliver or acknowledge, or a stream lacks one of its
// durables (saga, ledger) ("" when drained).
func consumersDrained(ctx context.Context, sts []jetstream.Stream) string {
	for _, st := range sts {
		name := st.CachedInfo().Config.Name
		names := st.ListConsumers(ctx)
		var durables []string
		for info := range names.Info() {
			durables = append(durables, info.Name)
			if info.NumPending+uint64(info.NumAckPending) > 0 {
				return fmt.Sprintf("consumer %s: %d pending, %d unacknowledged", stream.ConsumerLabel(name, info.Name), info.NumPending, info.NumAckPending)
			}
		}
		if err := names.Err(); err != nil {
			return err.Error()
		}
		for _, want := range []string{"saga", "ledger"} {
			if !slices.Contains(durables, want) {
				return fmt.Sprintf("%s has no consumer %s (it has %v)", name, want, durables)
			}
		}
	}
	if len(sts) != Partitions {
		return fmt.Sprintf("%d partition streams, not %d", len(sts), Partitions)
	}
	return ""
}

// ledgerPartitionsHeld says why the ledger-service instances do not apply
// every partition, each exactly once ("" when they do), from their
// /readyz (partitions_held, shown to an operator).
func (f *Fleet) ledgerPartitionsHeld(ctx context.Context) string {
	client := &http.Client{Timeout: 2 * time.Second}
	holders := map[int][]string{}
	for i := range LedgerInstances {
		name := LedgerInstance(i)
		req, _ := http.NewRequestWithContext(ctx, "GET", f.URL(name)+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+f.Token())
		res, err := client.Do(req)
		if err != nil {
			return fmt.Sprintf("%s: readyz: %v", name, err)
		}
		var body struct {
			Held []int `json:"partitions_held"`
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err != nil {
			return fmt.Sprintf("%s: readyz: %v", name, err)
		}
		for _, p := range body.Held {
			holders[p] = append(holders[p], name)
		}
	}
	for p := range Partitions {
		if len(holders[p]) != 1 {
			return fmt.Sprintf("partition %d is applied by %d ledger-service instances %v", p, len(holders[p]), holders[p])
		}
	}
	return ""
}

// partitionStreams connects to any node and opens every partition's stream
// (WALLET_<p>, as many as the server has, in partition order); close the
// connection when done.
func (f *Fleet) partitionStreams(ctx context.Context) (*nats.Conn, []jetstream.Stream, error) {
	nc, err := nats.Connect(f.natsURLs)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		var sts []jetstream.Stream
		if sts, err = PartitionStreams(ctx, js); err == nil {
			return nc, sts, nil
		}
	}
	nc.Close()
	return nil, nil, err
}

// PartitionStreams opens every partition's stream js's server has,
// WALLET_0, WALLET_1, … in partition order; none is an error.
func PartitionStreams(ctx context.Context, js jetstream.JetStream) ([]jetstream.Stream, error) {
	var sts []jetstream.Stream
	for p := 0; ; p++ {
		st, err := js.Stream(ctx, stream.PartitionName(p))
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		sts = append(sts, st)
	}
	if len(sts) == 0 {
		return nil, fmt.Errorf("no partition stream (%s)", stream.PartitionName(0))
	}
	return sts, nil
}

// StreamHealthy says why the JetStream cluster is not whole again ("" when
// it is): every node answers /healthz (JetStream current with the meta
// leader, its streams and consumers), every node has a route to each
// other, and every partition's stream has a leader and two current
// replicas.
func (f *Fleet) StreamHealthy(ctx context.Context) string { return f.clusterWhole(ctx, nil) }

// clusterWhole is StreamHealthy, and then, when the cluster is whole,
// then's verdict on the partitions' streams over the same connection (then
// may be nil).
func (f *Fleet) clusterWhole(ctx context.Context, then func([]jetstream.Stream) string) string {
	if why := f.nodesHealthy(); why != "" {
		return why
	}
	nc, sts, err := f.partitionStreams(ctx)
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	for _, st := range sts {
		if why := replicasCurrent(ctx, st, len(f.NATS)); why != "" {
			return st.CachedInfo().Config.Name + ": " + why
		}
	}
	if then == nil {
		return ""
	}
	return then(sts)
}

// nodesHealthy says why some node does not answer /healthz 200 or is not
// routed to every other ("" when all are).
func (f *Fleet) nodesHealthy() string {
	client := &http.Client{Timeout: 2 * time.Second}
	for _, n := range f.NATS {
		res, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitor))
		if err != nil {
			return fmt.Sprintf("%s: healthz: %v", n.Name, err)
		}
		var body struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Sprintf("%s: healthz %d %s %s", n.Name, res.StatusCode, body.Status, body.Error)
		}
	}
	return f.Meshed()
}

// replicasCurrent says why st has no leader and current replicas on every
// other of nodes ("" when it has).
func replicasCurrent(ctx context.Context, st jetstream.Stream, nodes int) string {
	info, err := st.Info(ctx)
	if err != nil {
		return err.Error()
	}
	if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != nodes-1 {
		return fmt.Sprintf("stream cluster %+v", info.Cluster)
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current {
			return fmt.Sprintf("stream replica %s is not current (lag %d)", r.Name, r.Lag)
		}
	}
	return ""
}
