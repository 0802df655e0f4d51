// Package ledgertest holds the ledger tests' helpers: a migrated store on a
// fresh schema of the test MariaDB, and builders of the CloudEvents the
// account service emits. Only tests import it.
package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// MustStore returns a store on a fresh schema migrated with extra too (the
// dead-letter table, say), and the pool under it for direct checks. The
// schema is dropped when the test ends.
func MustStore(t testing.TB, extra ...fs.FS) (*mysql.Store, *sqlx.DB) {
	t.Helper()
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	s, err := mysql.New(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Migrate(ctx, extra...); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s, db
}

// NewID returns a random UUID (version 4), the shape of event ids.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Event returns an event of typ carrying payload, with a fresh id, the
// current time and the subject of shard 0.
func Event(typ, subject string, payload any) events.Event {
	data, err := json.Marshal(payload)
	if err != nil {
		panic(err) // test payloads always marshal
	}
	return events.Event{ID: NewID(), Type: typ, Source: "/account-service/shard/0", Subject: subject,
		Topic: events.Topic(typ, 0), Time: time.Now().UTC(), Data: data}
}

// Opened is account.opened for account in currency.
func Opened(account, currency string) events.Event {
	return Event(events.AccountOpened, account, events.Account{AccountID: account, OwnerID: "owner-" + account,
		Currency: currency, Status: "active", BalanceAfter: "0", Version: 0})
}

// Deposited is account.deposited of amount to account.
func Deposited(account, amount, currency string) events.Event {
	return movement(events.AccountDeposited, account, amount, currency)
}

// Withdrawn is account.withdrawn of amount from account.
func Withdrawn(account, amount, currency string) events.Event {
	return movement(events.AccountWithdrawn, account, amount, currency)
}

func movement(typ, account, amount, currency string) events.Event {
	tx := NewID()
	return Event(typ, tx, events.Movement{TransactionID: tx, AccountID: account, Amount: amount, Currency: currency})
}

// Transfer is a transfer.* event of typ. fromShard == toShard marks a
// same-shard transfer (matters for transfer.completed).
func Transfer(typ, tx, from, to, amount, currency string, fromShard, toShard int) events.Event {
	return Event(typ, tx, events.Transfer{TransactionID: tx, FromAccount: from, ToAccount: to, Amount: amount,
		Currency: currency, FromShard: fromShard, ToShard: toShard})
}

// Streams creates the streams of n event partitions, WALLET_0 … WALLET_<n-1>,
// each with its fact and saga step subjects (ADR 0038), as provisioning
// does.
func Streams(t testing.TB, js jetstream.JetStream, n int) {
	t.Helper()
	for p := range n {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name: stream.PartitionName(p), Subjects: events.PartitionSubjects(p), Duplicates: time.Minute,
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// Fact is e as the relay publishes it in partition p: on its fact subject.
func Fact(e events.Event, p int) *nats.Msg {
	m := e.Msg()
	m.Subject = events.FactSubject(p, e.Topic)
	return m
}

// Step is e as the relay publishes its saga step copy in partition p.
func Step(e events.Event, p int) *nats.Msg {
	m := e.Msg()
	m.Subject = events.StepSubject(p, e.Topic)
	return m
}

// PartitionOf is the partition of account among shards logical shards
// divided into partitions.
func PartitionOf(account string, shards, partitions int) int {
	return events.Partition(shard.Of(account, shards), shards, partitions)
}
