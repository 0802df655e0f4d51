// Package events defines the wallet's event types, their JSON payloads (schema
// version 1) and their CloudEvents 1.0 binary-mode mapping onto NATS messages.
//
// Topics are wallet.<aggregate>.<event>.<shard>, where <shard> is the shard
// that must act next; they are published in an event partition as
// wallet.<partition>.<aggregate>.<event>.<shard> (see partition.go). Payload fields are only ever added, never changed; a
// breaking change gets a new ce-type version (…v2).
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Event types.
const (
	AccountOpened          = "account.opened"
	AccountStatusChanged   = "account.status_changed"
	AccountDeposited       = "account.deposited"
	AccountWithdrawn       = "account.withdrawn"
	TransferDebited        = "transfer.debited"
	TransferCredited       = "transfer.credited"
	TransferCreditRejected = "transfer.credit_rejected"
	TransferCompleted      = "transfer.completed"
	TransferFailed         = "transfer.failed"
)

// Types lists every event type above. The published contract
// (docs/events/asyncapi.yaml) documents each one, and a system test fails
// when a type here has no schema there.
var Types = []string{
	AccountOpened, AccountStatusChanged, AccountDeposited, AccountWithdrawn,
	TransferDebited, TransferCredited, TransferCreditRejected, TransferCompleted, TransferFailed,
}

// StreamSubjects matches every fact of every partition (ADR 0038): a core
// NATS subscription to all of them, or a filter before partitions.
const StreamSubjects = "wallet.>"

// Event is one CloudEvent as the outbox stores it and the relay publishes it.
type Event struct {
	ID      string    // ce-id, also Nats-Msg-Id
	Type    string    // short type, e.g. transfer.debited
	Source  string    // ce-source, e.g. /account-service/shard/2
	Subject string    // ce-subject: the transaction or account id
	Topic   string    // the outbox topic; read from JetStream, the subject it came on
	Time    time.Time // ce-time
	Data    []byte    // JSON payload
	// Seq is the message's sequence in its partition's stream when it was read
	// from JetStream (0 otherwise): the order every consumer sees.
	Seq uint64
}

// Topic returns the outbox topic of an event type that shard must act on
// (the relay publishes it on FactSubject and StepSubject).
func Topic(eventType string, shard int) string {
	return "wallet." + eventType + "." + strconv.Itoa(shard)
}

// CEType is the versioned CloudEvents type, e.g. wallet.transfer.debited.v1.
func CEType(eventType string) string { return "wallet." + eventType + ".v1" }

// Shard returns the trailing shard number of a topic.
func Shard(topic string) (int, error) {
	i := strings.LastIndexByte(topic, '.')
	return strconv.Atoi(topic[i+1:])
}

// CloudEvents binary-mode header names.
const (
	hdrSpec    = "ce-specversion"
	hdrID      = "ce-id"
	hdrSource  = "ce-source"
	hdrType    = "ce-type"
	hdrSubject = "ce-subject"
	hdrTime    = "ce-time"
	hdrContent = "content-type"
)

// Msg maps e onto a NATS message in CloudEvents binary mode, on the subject
// e.Topic (the relay sets it to the routed subject first).
func (e Event) Msg() *nats.Msg {
	m := nats.NewMsg(e.Topic)
	m.Header.Set(hdrSpec, "1.0")
	m.Header.Set(hdrID, e.ID)
	m.Header.Set(hdrSource, e.Source)
	m.Header.Set(hdrType, CEType(e.Type))
	m.Header.Set(hdrSubject, e.Subject)
	m.Header.Set(hdrTime, e.Time.UTC().Format(time.RFC3339Nano))
	m.Header.Set(hdrContent, "application/json")
	m.Header.Set(nats.MsgIdHdr, e.ID)
	m.Data = e.Data
	return m
}

// ErrMalformed marks a message that can never be processed.
var ErrMalformed = errors.New("malformed event")

// FromMsg reads a CloudEvent back from NATS headers and data.
func FromMsg(subject string, h nats.Header, data []byte) (Event, error) {
	e := Event{ID: h.Get(hdrID), Source: h.Get(hdrSource), Subject: h.Get(hdrSubject), Topic: subject, Data: data}
	ceType := h.Get(hdrType)
	if h.Get(hdrSpec) != "1.0" || e.ID == "" || !strings.HasPrefix(ceType, "wallet.") || !strings.HasSuffix(ceType, ".v1") {
		return Event{}, fmt.Errorf("%w: specversion %q id %q type %q", ErrMalformed, h.Get(hdrSpec), e.ID, ceType)
	}
	e.Type = strings.TrimSuffix(strings.TrimPrefix(ceType, "wallet."), ".v1")
	t, err := time.Parse(time.RFC3339Nano, h.Get(hdrTime))
	if err != nil {
		return Event{}, fmt.Errorf("%w: ce-time: %v", ErrMalformed, err)
	}
	e.Time = t
	return e, nil
}

// Decode unmarshals the payload strictly; a failure is ErrMalformed.
func Decode[T any](e Event) (T, error) {
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		return v, fmt.Errorf("%w: %s %s: %v", ErrMalformed, e.Type, e.ID, err)
	}
	return v, nil
}
