package events

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestMsgRoundTrip(t *testing.T) {
	e := Event{ID: "e1", Type: TransferDebited, Source: "/account-service/shard/1", Subject: "tx1",
		Topic: Topic(TransferDebited, 3), Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Data: []byte(`{"a":1}`)}
	m := e.Msg()
	if m.Subject != "wallet.transfer.debited.3" || m.Header.Get("ce-type") != "wallet.transfer.debited.v1" ||
		m.Header.Get(nats.MsgIdHdr) != "e1" || m.Header.Get("content-type") != "application/json" {
		t.Fatalf("Msg = %s %v", m.Subject, m.Header)
	}
	got, err := FromMsg(m.Subject, m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Type != e.Type || !got.Time.Equal(e.Time) || got.Subject != "tx1" || string(got.Data) != `{"a":1}` {
		t.Fatalf("FromMsg = %+v", got)
	}
	if s, _ := Shard(got.Topic); s != 3 {
		t.Fatalf("Shard = %d", s)
	}
}

func TestFromMsgRejectsGarbage(t *testing.T) {
	for name, h := range map[string]nats.Header{
		"no headers": {},
		"bad type":   {"ce-specversion": {"1.0"}, "ce-id": {"x"}, "ce-type": {"other"}, "ce-time": {"2026-01-01T00:00:00Z"}},
		"bad time":   {"ce-specversion": {"1.0"}, "ce-id": {"x"}, "ce-type": {"wallet.a.b.v1"}, "ce-time": {"yesterday"}},
	} {
		if _, err := FromMsg("wallet.a.b.0", h, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := Decode[Transfer](Event{Data: []byte("{")}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode(bad json) err = %v", err)
	}
}
