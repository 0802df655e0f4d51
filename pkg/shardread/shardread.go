// Package shardread is account-service's read side for reconciliation: the
// JSON documents of its operator-only routes under /v1/admin/reconcile
// (account-service's openapi.yaml declares them) and a client for them.
// ledger-service reconcile reads account-service's shards only through it,
// never their tables (ADR 0038): a column renamed in account-service changes
// this contract, visibly, instead of breaking the ledger at run time.
//
// Money is a decimal string (shopspring/decimal marshals as one), never a
// JSON number.
package shardread

import (
	"time"

	"github.com/shopspring/decimal"
)

// Paths of the routes, relative to account-service's base URL.
const (
	// SummaryPath is GET: a shard's money and its plumbing (Summary).
	SummaryPath = "/v1/admin/reconcile/shards/{shard}"
	// AccountsPath is GET: a page of a shard's accounts by id (Accounts),
	// or the accounts named by repeated ?id= (a lookup).
	AccountsPath = "/v1/admin/reconcile/shards/{shard}/accounts"
	// OutboxPath is GET: how far a shard's outbox is published (Outbox).
	OutboxPath = "/v1/admin/reconcile/shards/{shard}/outbox"
)

// MaxLimit bounds a page of accounts and the ids of one lookup.
const MaxLimit = 1000

// MaxListed bounds the rows a summary or outbox document lists of each
// kind; its counts are exact.
const MaxListed = 100

// Summary is one shard's money, read in one snapshot of the shard
// (REPEATABLE READ), and what is stuck on it.
type Summary struct {
	Shard int `json:"shard" db:"shard"`
	// Accounts and Versions are the shard's number of accounts and the sum
	// of their versions. Both only grow, and every change of money on the
	// shard (a balance, a debit, a credit, a refund) changes an account's
	// version: two summaries with the same pair saw the same money.
	Accounts int64 `json:"accounts" db:"accounts"`
	Versions int64 `json:"versions" db:"versions"`
	// Currencies are the shard's money per currency, sorted by currency.
	Currencies []CurrencySums `json:"currencies"`
	// StaleTransfers are the cross-shard transfers pending on this shard
	// (their source) since before ?pending_before.
	StaleTransfers StaleTransfers `json:"stale_transfers"`
	// DeadLetters are the shard's saga messages a consumer gave up on and
	// no operator handled yet.
	DeadLetters DeadLetters `json:"dead_letters"`
}

// CurrencySums is one currency's money on one shard.
type CurrencySums struct {
	Currency string `json:"currency" db:"currency"`
	// Accounts counts the shard's accounts in the currency; Balances is
	// the sum of their balances.
	Accounts int64           `json:"accounts" db:"accounts"`
	Balances decimal.Decimal `json:"balances" db:"balances"`
	// Sent is every cross-shard transfer this shard debited and did not
	// refund (status pending or completed), ever; Received every
	// cross-shard credit this shard booked (credited), ever. Money in
	// flight out of the shard's accounts is what all shards sent less
	// what all shards received.
	Sent     decimal.Decimal `json:"sent" db:"sent"`
	Received decimal.Decimal `json:"received" db:"received"`
	// Pending is the amount of this shard's cross-shard transfers still
	// pending (debited, not yet completed or refunded; some may already be
	// credited on their destination), PendingCount their number.
	Pending      decimal.Decimal `json:"pending" db:"pending"`
	PendingCount int64           `json:"pending_count" db:"pending_count"`
}

// StaleTransfers lists at most MaxListed stale pending transfers, oldest
// first; Count is exact.
type StaleTransfers struct {
	Count  int64          `json:"count" db:"count"`
	Listed []PendingEntry `json:"listed"`
}

// PendingEntry is one pending cross-shard transfer.
type PendingEntry struct {
	TransactionID string          `json:"transaction_id" db:"transaction_id"`
	FromAccount   string          `json:"from_account" db:"from_account"`
	ToAccount     string          `json:"to_account" db:"to_account"`
	Amount        decimal.Decimal `json:"amount" db:"amount"`
	Currency      string          `json:"currency" db:"currency"`
	ToShard       int             `json:"to_shard" db:"to_shard"`
	Redrives      int             `json:"redrives" db:"redrives"`
	UpdatedAt     time.Time       `json:"updated_at" db:"updated_at"`
}

// DeadLetters lists at most MaxListed unhandled dead letters; Count is
// exact.
type DeadLetters struct {
	Count  int64        `json:"count" db:"count"`
	Listed []DeadLetter `json:"listed"`
}

// DeadLetter is one message a consumer gave up on.
type DeadLetter struct {
	ID         int64     `json:"id" db:"id"`
	Consumer   string    `json:"consumer" db:"consumer"`
	Subject    string    `json:"subject" db:"subject"`
	Error      string    `json:"error" db:"error"`
	RecordedAt time.Time `json:"recorded_at" db:"recorded_at"`
}

// Account is one account as its shard holds it. Version grows with every
// change of the account, so an unchanged version is an unchanged account.
type Account struct {
	AccountID string          `json:"account_id" db:"account_id"`
	Currency  string          `json:"currency" db:"currency"`
	Balance   decimal.Decimal `json:"balance" db:"balance"`
	Version   int64           `json:"version" db:"version"`
}

// Accounts is a page of a shard's accounts by account id (or the answer to
// a lookup, which has no next page).
type Accounts struct {
	Shard    int       `json:"shard" db:"shard"`
	Accounts []Account `json:"accounts"`
	// NextAfter is the ?after= of the next page; absent on the last.
	NextAfter string `json:"next_after,omitempty" db:"next_after"`
}

// Outbox is how far a shard's outbox is published, and what is stuck in it.
type Outbox struct {
	Shard int `json:"shard" db:"shard"`
	// LastID is the highest outbox row id (0: none yet).
	LastID int64 `json:"last_id" db:"last_id"`
	// FirstUnpublished is the lowest id of a row still to publish (neither
	// published nor set aside), 0 when there is none: every row up to a
	// mark M is out once it is 0 or above M.
	FirstUnpublished int64 `json:"first_unpublished" db:"first_unpublished"`
	// Unpublished counts the rows not published (set aside included).
	Unpublished int64 `json:"unpublished" db:"unpublished"`
	// Stale are the rows to publish that occurred before
	// ?unpublished_before; SetAside the rows the relay set aside as poison.
	Stale    OutboxRows `json:"stale"`
	SetAside OutboxRows `json:"set_aside"`
}

// OutboxRows lists at most MaxListed outbox rows by id; Count is exact.
type OutboxRows struct {
	Count  int64       `json:"count" db:"count"`
	Listed []OutboxRow `json:"listed"`
}

// OutboxRow is one unpublished outbox row.
type OutboxRow struct {
	ID         int64     `json:"id" db:"id"`
	EventID    string    `json:"event_id" db:"event_id"`
	EventType  string    `json:"event_type" db:"event_type"`
	OccurredAt time.Time `json:"occurred_at" db:"occurred_at"`
	Attempts   int       `json:"attempts" db:"attempts"`
	LastError  string    `json:"last_error,omitempty" db:"last_error"`
}
