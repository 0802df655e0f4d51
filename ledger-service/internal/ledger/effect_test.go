package ledger_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/events"
)

// postings renders an effect's postings as "account amount" pairs.
func postings(eff ledger.Effect) string {
	var out []string
	for _, p := range eff.Postings {
		out = append(out, fmt.Sprintf("%s %s", p.AccountID, p.Amount))
	}
	return strings.Join(out, ", ")
}

func TestFromEventMapping(t *testing.T) {
	tr := func(typ string, fromShard, toShard int) events.Event {
		return ledgertest.Transfer(typ, "tx", "a", "b", "2.50", "EUR", fromShard, toShard)
	}
	tests := []struct {
		name     string
		event    events.Event
		journal  bool
		postings string
	}{
		{"opened", ledgertest.Opened("a", "EUR"), false, ""},
		{"status changed", ledgertest.Event(events.AccountStatusChanged, "a", events.Account{AccountID: "a"}), false, ""},
		{"deposited", ledgertest.Deposited("a", "2.50", "EUR"), true, "@world:EUR -2.5, a 2.5"},
		{"withdrawn", ledgertest.Withdrawn("a", "2.50", "EUR"), true, "a -2.5, @world:EUR 2.5"},
		{"same-shard completed", tr(events.TransferCompleted, 1, 1), true, "a -2.5, b 2.5"},
		{"cross-shard completed", tr(events.TransferCompleted, 0, 1), true, ""},
		{"debited", tr(events.TransferDebited, 0, 1), true, "a -2.5, @in_flight:EUR 2.5"},
		{"credited", tr(events.TransferCredited, 0, 1), true, "@in_flight:EUR -2.5, b 2.5"},
		{"credit rejected", tr(events.TransferCreditRejected, 0, 1), true, ""},
		{"failed", tr(events.TransferFailed, 0, 1), true, "@in_flight:EUR -2.5, a 2.5"},
		{"future type", ledgertest.Event("account.renamed", "a", map[string]int{"v": 2}), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff, err := ledger.FromEvent(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if eff.Journal != tt.journal || postings(eff) != tt.postings {
				t.Errorf("journal %v postings %q, want %v %q", eff.Journal, postings(eff), tt.journal, tt.postings)
			}
			if err := eff.Balanced(); err != nil {
				t.Error(err)
			}
			if eff.EventID != tt.event.ID || eff.EventType != tt.event.Type {
				t.Errorf("effect of %s %s is %s %s", tt.event.Type, tt.event.ID, eff.EventType, eff.EventID)
			}
		})
	}
}

func TestFromEventRejectsMalformed(t *testing.T) {
	long := strings.Repeat("x", 65)
	badJSON := ledgertest.Deposited("a", "1", "USD")
	badJSON.Data = []byte(`{"amount":`)
	noID := ledgertest.Deposited("a", "1", "USD")
	noID.ID = ""
	tests := map[string]events.Event{
		"bad json":          badJSON,
		"no event id":       noID,
		"zero amount":       ledgertest.Deposited("a", "0", "USD"),
		"negative amount":   ledgertest.Withdrawn("a", "-1", "USD"),
		"too precise":       ledgertest.Deposited("a", "1.5", "KRW"),
		"not a number":      ledgertest.Deposited("a", "1e3", "USD"),
		"unknown currency":  ledgertest.Deposited("a", "1", "XXX"),
		"no account":        ledgertest.Deposited("", "1", "USD"),
		"account too long":  ledgertest.Deposited(long, "1", "USD"),
		"no transaction id": ledgertest.Transfer(events.TransferDebited, "", "a", "b", "1", "USD", 0, 1),
		"no destination":    ledgertest.Transfer(events.TransferCredited, "tx", "a", "", "1", "USD", 0, 1),
		"opened bad cur":    ledgertest.Opened("a", "usd"),
	}
	for name, e := range tests {
		if _, err := ledger.FromEvent(e); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestBalancedRejectsUnbalanced(t *testing.T) {
	eff, err := ledger.FromEvent(ledgertest.Deposited("a", "1", "USD"))
	if err != nil {
		t.Fatal(err)
	}
	eff.Postings = eff.Postings[:1]
	if eff.Balanced() == nil {
		t.Fatal("one-legged effect reported balanced")
	}
}

// A saga step copy (saga.<p>.…) books nothing: its fact, in the partition
// of the shard that wrote it, does. It only takes its turn.
func TestSagaStepCopyIsSkipped(t *testing.T) {
	e := ledgertest.Transfer(events.TransferDebited, "tx-1", "a", "b", "5", "USD", 0, 7)
	e.Topic, e.Seq = events.StepSubject(3, e.Topic), 12
	eff, err := ledger.FromEvent(e)
	if err != nil || !eff.Skip || eff.Seq != 12 || len(eff.Postings) != 0 || eff.Journal {
		t.Fatalf("step copy: %+v, %v; want a Skip effect at 12", eff, err)
	}
	e.Topic = events.FactSubject(0, "wallet.transfer.debited.7")
	if eff, err := ledger.FromEvent(e); err != nil || eff.Skip || len(eff.Postings) != 2 {
		t.Fatalf("fact: %+v, %v; want the debit's postings", eff, err)
	}
}
