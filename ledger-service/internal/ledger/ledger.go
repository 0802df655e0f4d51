// Package ledger is ledger-service's domain: a double-entry journal fed by
// the wallet's events.
//
// Every money event becomes one journal transaction whose entries sum to zero
// per currency. Money that enters or leaves the wallet system is booked
// against the system account @world:<CUR>; money debited at a source shard and
// not yet credited or refunded sits in @in_flight:<CUR>. The mapping:
//
//	account.opened             create the ledger account (no entries)
//	account.status_changed     nothing
//	account.deposited          account +a, @world −a
//	account.withdrawn          account −a, @world +a
//	transfer.completed         same shard: from −a, to +a; cross shard: no entries
//	transfer.debited           from −a, @in_flight +a
//	transfer.credited          @in_flight −a, to +a
//	transfer.credit_rejected   no entries
//	transfer.failed            @in_flight −a, from +a (the refund)
//
// Transfer events without entries are still journal transactions, so that
// GET /v1/ledger/transfers/{id} shows every step of a saga. Unknown (future)
// event types have no effect. Balances are DECIMAL(65,4), so even the
// unbounded system accounts cannot overflow (ADR 0005).
package ledger

import (
	"errors"
	"time"

	"github.com/shopspring/decimal"
)

// Consumer is the name under which the ledger records applied events in the
// inbox table.
const Consumer = "ledger"

// System account prefixes. The "@" cannot occur in a customer account id
// (^[A-Za-z0-9_-]{1,64}$), so system and customer accounts never collide.
const (
	worldPrefix    = "@world:"
	inFlightPrefix = "@in_flight:"
)

// World is the system account that balances money entering (deposits) or
// leaving (withdrawals) the wallet in currency. Its balance is minus the money
// held in the wallet.
func World(currency string) string { return worldPrefix + currency }

// InFlight is the system account holding money of currency that a source
// shard debited and no destination has credited nor the source refunded yet.
func InFlight(currency string) string { return inFlightPrefix + currency }

// ErrConflict marks an event that contradicts the ledger, such as a posting in
// another currency than its account's. Retrying cannot help: the consumer sets
// such events aside like malformed ones, and reconciliation reports them.
var ErrConflict = errors.New("event conflicts with the ledger")

// ErrEarly marks an event that is not next in the stream: the ledger applies
// the stream strictly in sequence, so it waits for the ones before it (the
// consumer hands it back to the stream as stream.ErrEarly).
var ErrEarly = errors.New("event arrived before an earlier one")

// Outcome is what applying one event's effect did.
type Outcome struct {
	// Applied is false when the event was applied before: the same event
	// redelivered, or the same business event under a new event id (a
	// redriven saga step). Nothing changed then.
	Applied bool
	// Err is why the effect was not applied; it wraps ErrConflict when it
	// never can be, ErrEarly when it is not its turn yet.
	Err error
}

// Balance is an account's ledger balance, now or as of a past instant.
type Balance struct {
	AccountID string
	Currency  string
	Balance   decimal.Decimal
	// AsOf is the instant the balance was asked for; zero for the current one.
	AsOf time.Time
}

// Entry is one line of the journal: a signed amount booked to one account.
type Entry struct {
	ID            int64
	JournalID     int64
	EventType     string
	TransactionID string
	AccountID     string
	Currency      string
	// Amount is positive for money coming into the account, negative for
	// money leaving it.
	Amount decimal.Decimal
	// BalanceAfter is the account's ledger balance right after this entry.
	BalanceAfter decimal.Decimal
	OccurredAt   time.Time
}

// Journal is one journal transaction: the entries one event produced.
type Journal struct {
	ID            int64
	EventID       string
	EventType     string
	TransactionID string
	// Origin is the account whose operation it is (the transfer's source).
	Origin     string
	OccurredAt time.Time
	RecordedAt time.Time
	Entries    []Entry
}

// Page is one page of an account's entries, newest first. Next is the entry id
// to continue before, 0 when there are no older entries.
type Page struct {
	Entries []Entry
	Next    int64
}
