package ledger

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
)

// Column limits the values must fit in. Checking them here turns an oversized
// value into a malformed event instead of a database error retried forever.
const (
	maxEventID = 36
	maxID      = 64
)

// Effect is what one event does to the ledger, decided before any I/O.
type Effect struct {
	EventID    string
	EventType  string
	OccurredAt time.Time
	// Open is the account that account.opened creates, nil otherwise.
	Open *Opening
	// Journal reports whether the event is recorded as a journal transaction:
	// every money event, even one without entries.
	Journal       bool
	TransactionID string
	// Origin is the account whose operation this is: the account of a
	// deposit or withdrawal, the source of a transfer. transaction_id keys
	// are unique per origin (per source shard in account-service), so
	// (TransactionID, EventType, Origin) names one business event.
	Origin   string
	Postings []Posting
	// Seq is the event's sequence in the WALLET stream, or 0 for an effect
	// applied without order checks. The ledger applies the stream strictly
	// in sequence (see mysql.Store.ApplyBatch), so its order, and with it
	// every balance_after, is the stream's — the order a replay sees.
	Seq uint64
	// Skip marks a stream position whose event cannot be applied (it is
	// malformed and set aside): it only takes its turn in the sequence.
	Skip bool
}

// Opening is an account to create with a zero balance.
type Opening struct {
	AccountID string
	Currency  string
	// OwnerID is the customer who owns it (account.opened's owner_id);
	// customers' reads are checked against it. "" when the event has none.
	OwnerID string
}

// Posting is one planned entry: Amount (signed) booked to AccountID.
type Posting struct {
	AccountID string
	Currency  string
	Amount    decimal.Decimal
}

// FromEvent maps e onto its effect, as the package documentation lists.
// Payloads that cannot be decoded or hold invalid ids, currencies or amounts
// return an error wrapping events.ErrMalformed.
//
// A saga step copy (subject saga.<p>.…, ADR 0038) is the same event as its
// fact, booked in the fact's partition: it only takes its turn in its
// partition's sequence (a Skip effect without error).
func FromEvent(e events.Event) (Effect, error) {
	if r, err := events.ParseSubject(e.Topic); err == nil && r.Step {
		return Effect{EventID: e.ID, EventType: e.Type, Seq: e.Seq, Skip: true}, nil
	}
	if e.ID == "" || len(e.ID) > maxEventID {
		return Effect{}, fmt.Errorf("%w: event id %q", events.ErrMalformed, e.ID)
	}
	eff := Effect{EventID: e.ID, EventType: e.Type, OccurredAt: e.Time.UTC().Truncate(time.Microsecond), Seq: e.Seq}
	var err error
	switch e.Type {
	case events.AccountOpened:
		err = eff.opened(e)
	case events.AccountDeposited, events.AccountWithdrawn:
		err = eff.movement(e)
	case events.TransferDebited, events.TransferCredited, events.TransferCreditRejected,
		events.TransferCompleted, events.TransferFailed:
		err = eff.transfer(e)
	}
	return eff, err
}

func (eff *Effect) opened(e events.Event) error {
	p, err := events.Decode[events.Account](e)
	if err != nil {
		return err
	}
	if err := validID("account_id", p.AccountID); err != nil {
		return err
	}
	if !money.ValidCurrency(p.Currency) {
		return fmt.Errorf("%w: %s %s: currency %q", events.ErrMalformed, e.Type, e.ID, p.Currency)
	}
	if len(p.OwnerID) > maxID {
		return fmt.Errorf("%w: %s %s: owner_id longer than %d characters", events.ErrMalformed, e.Type, e.ID, maxID)
	}
	eff.Open = &Opening{AccountID: p.AccountID, Currency: p.Currency, OwnerID: p.OwnerID}
	return nil
}

func (eff *Effect) movement(e events.Event) error {
	p, err := events.Decode[events.Movement](e)
	if err != nil {
		return err
	}
	a, err := parse(e, p.TransactionID, p.Amount, p.Currency, p.AccountID)
	if err != nil {
		return err
	}
	eff.Journal, eff.TransactionID, eff.Origin = true, p.TransactionID, p.AccountID
	if e.Type == events.AccountDeposited {
		eff.move(World(p.Currency), p.AccountID, a)
	} else {
		eff.move(p.AccountID, World(p.Currency), a)
	}
	return nil
}

func (eff *Effect) transfer(e events.Event) error {
	p, err := events.Decode[events.Transfer](e)
	if err != nil {
		return err
	}
	a, err := parse(e, p.TransactionID, p.Amount, p.Currency, p.FromAccount, p.ToAccount)
	if err != nil {
		return err
	}
	eff.Journal, eff.TransactionID, eff.Origin = true, p.TransactionID, p.FromAccount
	switch {
	case e.Type == events.TransferCompleted && p.FromShard == p.ToShard:
		eff.move(p.FromAccount, p.ToAccount, a)
	case e.Type == events.TransferDebited:
		eff.move(p.FromAccount, InFlight(p.Currency), a)
	case e.Type == events.TransferCredited:
		eff.move(InFlight(p.Currency), p.ToAccount, a)
	case e.Type == events.TransferFailed:
		eff.move(InFlight(p.Currency), p.FromAccount, a)
	}
	return nil
}

// move books a from one account to another: two entries that sum to zero.
func (eff *Effect) move(from, to string, a money.Amount) {
	eff.Postings = append(eff.Postings,
		Posting{AccountID: from, Currency: a.Currency(), Amount: a.Decimal().Neg()},
		Posting{AccountID: to, Currency: a.Currency(), Amount: a.Decimal()})
}

// parse checks the ids of a money event and reads its amount.
func parse(e events.Event, txID, amount, currency string, accounts ...string) (money.Amount, error) {
	if err := validID("transaction_id", txID); err != nil {
		return money.Amount{}, fmt.Errorf("%s %s: %w", e.Type, e.ID, err)
	}
	for _, id := range accounts {
		if err := validID("account id", id); err != nil {
			return money.Amount{}, fmt.Errorf("%s %s: %w", e.Type, e.ID, err)
		}
	}
	a, err := money.Parse(amount, currency)
	if err != nil {
		return money.Amount{}, fmt.Errorf("%w: %s %s: amount %q %s: %v", events.ErrMalformed, e.Type, e.ID, amount, currency, err)
	}
	return a, nil
}

func validID(field, id string) error {
	if id == "" || len(id) > maxID {
		return fmt.Errorf("%w: %s %q must have 1 to %d characters", events.ErrMalformed, field, id, maxID)
	}
	return nil
}

// Balanced checks the double-entry rule: the postings sum to zero per
// currency. FromEvent only builds balanced effects; stores check again
// before writing because an unbalanced journal is never acceptable.
func (eff Effect) Balanced() error {
	sums := map[string]decimal.Decimal{}
	for _, p := range eff.Postings {
		sums[p.Currency] = sums[p.Currency].Add(p.Amount)
	}
	for cur, s := range sums {
		if !s.IsZero() {
			return fmt.Errorf("event %s: %s postings sum to %s, not zero", eff.EventID, cur, s)
		}
	}
	return nil
}
