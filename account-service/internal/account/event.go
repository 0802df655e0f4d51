package account

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
)

// NewEvent builds an event emitted by shard about subject, routed to the
// shard that must act next. Ids are UUIDv7, so they sort by time.
func NewEvent(shard int, typ, subject string, toShard int, payload any, now time.Time) events.Event {
	data, err := json.Marshal(payload)
	if err != nil {
		panic(err) // payloads are plain structs of strings and numbers
	}
	return events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ,
		Source: "/account-service/shard/" + strconv.Itoa(shard), Subject: subject,
		Topic: events.Topic(typ, toShard), Time: now, Data: data}
}

// BalanceOf is an account's balance as events carry it.
func BalanceOf(a Account) events.Balance {
	return events.Balance{AccountID: a.ID, BalanceAfter: money.Format(a.Balance, a.Currency), Version: a.Version}
}

// TransferPayload is the body of a transfer.* event.
func TransferPayload(t Transfer, balances ...events.Balance) events.Transfer {
	return events.Transfer{TransactionID: t.TransactionID, FromAccount: t.From, ToAccount: t.To,
		Amount: t.Amount.String(), Currency: t.Amount.Currency(), FromShard: t.FromShard, ToShard: t.ToShard,
		Reason: string(t.Reason), Balances: balances}
}

// MovementPayload is the body of account.deposited and account.withdrawn.
func MovementPayload(m Movement, currency string) events.Movement {
	return events.Movement{TransactionID: m.TransactionID, AccountID: m.AccountID, Amount: m.Amount.String(),
		Currency: currency, BalanceAfter: money.Format(m.BalanceAfter, currency), Version: m.Version}
}

// AccountPayload is the body of account.opened and account.status_changed.
func AccountPayload(a Account) events.Account {
	return events.Account{AccountID: a.ID, OwnerID: a.OwnerID, Currency: a.Currency, Status: string(a.Status),
		BalanceAfter: money.Format(a.Balance, a.Currency), Version: a.Version, Shard: a.Shard}
}
