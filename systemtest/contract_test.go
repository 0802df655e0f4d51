package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/money"
	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
	"go.yaml.in/yaml/v3"
)

// The published contract (docs/events) is the document and its schemas as
// written; these tests hold the code to it: the document is well formed, its
// examples obey it, and every event a real run emits matches the schema of
// its type and carries no field the schema does not name.

// contractDir is docs/events, relative to this package.
const contractDir = "../docs/events"

// shards is the number of shards the system test runs, and the one the
// document's examples assume; partitions is the number of event partitions
// the contract test runs (nats.partitions' default; the harness runs one
// otherwise), so that a shard's partition is its number and every
// cross-shard step has a copy.
const (
	shards     = 4
	partitions = 4
)

// TestEventContractDocument checks the AsyncAPI document without running the
// system: one channel, receive operation and message per event type, every
// example valid, and schemas that accept fields they do not know (the
// versioning rule consumers rely on).
func TestEventContractDocument(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	for _, typ := range events.Types {
		m := c.messages[typ]
		if len(m.examples) == 0 {
			t.Errorf("%s: the document has no example", typ)
		}
		for _, ex := range m.examples {
			got, err := c.check(ex.subject, ex.headers, ex.payload)
			if err == nil && got != typ {
				err = fmt.Errorf("its headers say %s", got)
			}
			if err != nil {
				t.Errorf("%s example %q: %v", typ, ex.name, err)
			}
		}
		if len(m.examples) == 0 {
			continue
		}
		// A consumer validating with the schemas as written must accept an
		// event from a later, additive revision of the same version.
		ex := m.examples[0]
		var p map[string]any
		if err := json.Unmarshal(ex.payload, &p); err != nil {
			t.Fatal(err)
		}
		p["added_later"] = "x"
		h := map[string]any{"ce-dataschema": "added later"}
		for k, v := range ex.headers {
			h[k] = v
		}
		if err := m.looseHeaders.Validate(h); err != nil {
			t.Errorf("%s: the header schema rejects an unknown header: %v", typ, err)
		}
		if err := m.loosePayload.Validate(p); err != nil {
			t.Errorf("%s: the payload schema rejects an unknown field: %v", typ, err)
		}
		// The strict check the live test relies on does catch it.
		if _, err := c.check(ex.subject, ex.headers, mustJSON(t, p)); err == nil {
			t.Errorf("%s: the strict check accepts a field the schema does not name", typ)
		}
	}
}

// TestEventContract runs account-service and the relay, performs operations
// that emit every event type (including a redriven debit and its repeated
// credit), reads every message of every partition's stream as a subscriber receives
// it and checks each against the document.
func TestEventContract(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	s := New(t, binDir)
	// A short redrive time lets the test make the saga send a debit again
	// while the destination is held up, as it does after an outage.
	s.Start("account-service", "WALLET_ACCOUNT_SAGA_REDRIVE_AFTER=200ms", fmt.Sprintf("WALLET_NATS_PARTITIONS=%d", partitions))
	s.Start("outbox-relay", fmt.Sprintf("WALLET_NATS_PARTITIONS=%d", partitions))

	src, same, dst, frozen, closing, won := idOn(0), idOn(0), idOn(1), idOn(3), idOn(2), idOn(2)
	for _, id := range []string{src, same, dst, frozen, closing} {
		s.mustOpen(id, "USD")
	}
	s.mustOpen(won, "KRW") // a currency without minor units
	s.mustMove("deposits", src, "100.00", "USD")
	s.mustMove("withdrawals", src, "0.25", "USD")
	s.mustMove("deposits", won, "5000", "KRW")
	s.mustMove("withdrawals", won, "1200", "KRW")
	s.mustPatch(frozen, "frozen")
	s.mustPatch(closing, "closed")

	transfer := func(to, amount string) (int, map[string]any, string) {
		id := uuid.NewString()
		code, body := s.Do("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", map[string]string{
			"from_account": src, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": id})
		return code, body, id
	}
	if code, body, _ := transfer(same, "10.00"); code != http.StatusOK {
		t.Fatalf("same-shard transfer: %d %v", code, body)
	}
	if code, body, _ := transfer(dst, "10.00"); code != http.StatusOK {
		t.Fatalf("cross-shard transfer: %d %v", code, body)
	}
	if code, body, _ := transfer(frozen, "10.00"); code != http.StatusUnprocessableEntity || body["code"] != "account_frozen" {
		t.Fatalf("transfer to a frozen account: %d %v", code, body)
	}
	redriven := s.redrivenTransfer(src, dst, "1.00")

	s.waitQuiet()
	msgs := s.allMessages()
	seen := map[string]int{}
	for _, m := range msgs {
		typ, err := c.check(m.subject, m.headers, m.data)
		if err != nil {
			t.Errorf("stream seq %d on %s: %v\nheaders %v\ndata %s", m.seq, m.subject, err, m.headers, m.data)
			continue
		}
		seen[typ]++
	}
	for _, typ := range events.Types {
		if seen[typ] == 0 {
			t.Errorf("%s: the run emitted no event of this type, so its schema went unchecked", typ)
		}
	}

	// The redrive repeated the debit and the credit under new event ids: the
	// business key, not the event id, identifies them (docs/events/README.md).
	ids := map[string][]string{}
	for _, m := range facts(msgs) {
		if m.headers["ce-subject"] == redriven {
			typ := strings.TrimSuffix(strings.TrimPrefix(m.headers["ce-type"], "wallet."), ".v1")
			ids[typ] = append(ids[typ], m.headers["ce-id"])
		}
	}
	if d, cr := ids[events.TransferDebited], ids[events.TransferCredited]; len(d) < 2 || len(cr) != len(d) || len(ids[events.TransferCompleted]) != 1 {
		t.Errorf("redriven transfer %s: events %v, want the debit sent again, one credit per debit, one completion", redriven, ids)
	}
	s.checkVersions(facts(msgs), src, same, dst, frozen, closing, won)
	t.Logf("%d events checked: %v", len(msgs), seen)
}

// checkVersions holds the stream to what docs/events/README.md promises
// about version: every balance change of an account is in the stream once
// with its version, 1, 2, 3… without gaps, and the highest one carries the
// account's balance. Repeated saga steps carry no balances.
func (s *System) checkVersions(msgs []streamMsg, ids ...string) {
	s.t.Helper()
	type change struct {
		version int64
		balance string
	}
	changes := map[string][]change{}
	for _, m := range msgs {
		var p struct {
			AccountID    string           `json:"account_id"`
			BalanceAfter string           `json:"balance_after"`
			Version      int64            `json:"version"`
			Balances     []events.Balance `json:"balances"`
		}
		if err := json.Unmarshal(m.data, &p); err != nil {
			s.t.Fatal(err)
		}
		switch typ := strings.TrimSuffix(strings.TrimPrefix(m.headers["ce-type"], "wallet."), ".v1"); typ {
		case events.AccountDeposited, events.AccountWithdrawn:
			changes[p.AccountID] = append(changes[p.AccountID], change{p.Version, p.BalanceAfter})
		default:
			for _, b := range p.Balances {
				changes[b.AccountID] = append(changes[b.AccountID], change{b.Version, b.BalanceAfter})
			}
		}
	}
	for _, id := range ids {
		code, body := s.Do("GET", s.URL("account-service")+"/v1/accounts/"+id, nil)
		if code != http.StatusOK {
			s.t.Fatalf("get %s: %d %v", id, code, body)
		}
		cs := changes[id]
		slices.SortFunc(cs, func(a, b change) int { return int(a.version - b.version) })
		for i, c := range cs {
			if c.version != int64(i+1) {
				s.t.Errorf("account %s: balance versions in the stream %v, want 1…%d once each", id, cs, len(cs))
				break
			}
		}
		last := change{0, body["balance"].(string)}
		if len(cs) > 0 {
			last = cs[len(cs)-1]
		}
		if body["version"] != float64(len(cs)) || body["balance"] != last.balance {
			s.t.Errorf("account %s: version %v balance %v, the stream's last change is %+v", id, body["version"], body["balance"], last)
		}
	}
}

// mustPatch sets an account's status.
func (s *System) mustPatch(id, status string) {
	s.t.Helper()
	if code, body := s.Do("PATCH", s.URL("account-service")+"/v1/accounts/"+id, map[string]string{"status": status}); code != http.StatusOK {
		s.t.Fatalf("set %s %s: %d %v", id, status, code, body)
	}
}

// redrivenTransfer sends a cross-shard transfer while the test holds the
// destination account's row lock, so the destination shard cannot credit
// it; once the source shard has redriven the debit the lock is released.
// It returns the transaction id after the transfer completed.
func (s *System) redrivenTransfer(from, to, amount string) string {
	s.t.Helper()
	ctx := context.Background()
	lock, err := s.Shards[shard.Of(to, shards)].BeginTx(ctx, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	var held string
	if err := lock.QueryRowContext(ctx, "SELECT account_id FROM accounts WHERE account_id = ? FOR UPDATE", to).Scan(&held); err != nil {
		s.t.Fatal(err)
	}
	id := uuid.NewString()
	answered := make(chan int, 1)
	go func() {
		// Prefer: respond-async answers 202 at once; the outcome is read below.
		b, _ := json.Marshal(map[string]string{"from_account": from, "to_account": to, "amount": amount, "currency": "USD", "transaction_id": id})
		req, _ := http.NewRequest("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		s.Authorize(req)
		req.Header.Set("Prefer", "respond-async")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		res.Body.Close()
		answered <- res.StatusCode
	}()
	if code := <-answered; code != http.StatusAccepted {
		s.t.Fatalf("async transfer: %d", code)
	}
	testenv.Eventually(s.t, 60*time.Second, 20*time.Millisecond, func() error {
		var n int
		if err := s.Shards[shard.Of(from, shards)].Get(&n, "SELECT redrives FROM transfers WHERE transaction_id = ?", id); err != nil || n == 0 {
			return fmt.Errorf("transfer %s not redriven yet (%d, %v)", id, n, err)
		}
		return nil
	})
	if err := lock.Rollback(); err != nil {
		s.t.Fatal(err)
	}
	testenv.Eventually(s.t, 60*time.Second, 20*time.Millisecond, func() error {
		code, body := s.Do("GET", s.URL("account-service")+"/v1/wallet/transfers/"+id, nil)
		if code != http.StatusOK || body["status"] != "completed" {
			return fmt.Errorf("transfer %s: %d %v", id, code, body)
		}
		return nil
	})
	return id
}

// waitQuiet waits until every outbox row is in the stream and every saga
// consumer has settled everything: no step is left to emit an event.
// Consumers acknowledge only after their transaction (and its outbox rows)
// committed, so this cannot hold while an event is still on its way.
func (s *System) waitQuiet() {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	testenv.Eventually(s.t, 60*time.Second, 50*time.Millisecond, func() error {
		if total, unpublished := s.outboxRows(); unpublished != 0 || uint64(total) != s.streamMsgs() {
			return fmt.Errorf("outbox %d rows, %d unpublished, stream %d", total, unpublished, s.streamMsgs())
		}
		for p := range s.partitions(js) {
			c, err := js.Consumer(context.Background(), stream.PartitionName(p), "saga")
			if err != nil {
				return err
			}
			info, err := c.Info(context.Background())
			if err != nil {
				return err
			}
			if info.NumPending+uint64(info.NumAckPending) > 0 {
				return fmt.Errorf("saga on %s: %d pending, %d unacknowledged", stream.PartitionName(p), info.NumPending, info.NumAckPending)
			}
		}
		return nil
	})
}

// streamMsg is one message as a subscriber receives it.
type streamMsg struct {
	seq     uint64
	subject string
	headers map[string]string
	data    []byte
}

// allMessages reads every partition's stream as a subscriber does, one
// ordered consumer per stream: the facts and the saga step copies.
func (s *System) allMessages() []streamMsg {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	var out []streamMsg
	for p := range s.partitions(js) {
		out = append(out, s.partitionMessages(js, p)...)
	}
	return out
}

// facts is msgs without the saga step copies.
func facts(msgs []streamMsg) []streamMsg {
	var out []streamMsg
	for _, m := range msgs {
		if strings.HasPrefix(m.subject, events.FactRoot+".") {
			out = append(out, m)
		}
	}
	return out
}

// partitionMessages reads partition p's stream with an ordered consumer.
func (s *System) partitionMessages(js jetstream.JetStream, p int) []streamMsg {
	s.t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream.PartitionName(p))
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	want := int(info.State.Msgs)
	var out []streamMsg
	if want == 0 {
		return out
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		s.t.Fatal(err)
	}
	for len(out) < want {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			s.t.Fatal(err)
		}
		n := len(out)
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				s.t.Fatal(err)
			}
			h := map[string]string{}
			for k, v := range m.Headers() {
				if len(v) != 1 {
					s.t.Fatalf("stream seq %d: header %s has %d values", meta.Sequence.Stream, k, len(v))
				}
				h[k] = v[0]
			}
			out = append(out, streamMsg{seq: meta.Sequence.Stream, subject: m.Subject(), headers: h, data: m.Data()})
		}
		if batch.Error() != nil || len(out) == n {
			s.t.Fatalf("%s: read %d of %d stream messages: %v", stream.PartitionName(p), len(out), want, batch.Error())
		}
	}
	return out
}

// contract is docs/events/asyncapi.yaml with its schemas compiled.
type contract struct {
	messages map[string]*contractMsg // by event type, e.g. transfer.debited
}

type contractMsg struct {
	address string // the fact channel's, e.g. wallet.{partition}.transfer.debited.{shard}
	// step is the saga step copy channel's, e.g.
	// saga.{partition}.transfer.debited.{shard}, for the saga steps only.
	step string
	// headers and payload are the document's schemas made strict: an object
	// that names its properties accepts no others, so a producer cannot
	// emit a field the document does not describe. looseHeaders and
	// loosePayload are the schemas as written, which consumers use.
	headers, payload           *jsonschema.Schema
	looseHeaders, loosePayload *jsonschema.Schema
	examples                   []example
}

type example struct {
	name, subject string
	headers       map[string]string
	payload       []byte
}

// asyncAPI is the part of the document the tests read.
type asyncAPI struct {
	AsyncAPI string `json:"asyncapi"`
	Channels map[string]struct {
		Address  string                    `json:"address"`
		Messages map[string]map[string]any `json:"messages"`
	} `json:"channels"`
	Operations map[string]struct {
		Action  string            `json:"action"`
		Channel map[string]string `json:"channel"`
	} `json:"operations"`
	Components struct {
		Messages map[string]struct {
			Name     string `json:"name"`
			Examples []struct {
				Name    string            `json:"name"`
				Summary string            `json:"summary"`
				Headers map[string]string `json:"headers"`
				Payload json.RawMessage   `json:"payload"`
			} `json:"examples"`
		} `json:"messages"`
	} `json:"components"`
}

// loadContract parses the document, checks its structure and compiles the
// header and payload schema of every message, strict and as written.
func loadContract(t *testing.T) *contract {
	t.Helper()
	dir, err := filepath.Abs(contractDir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "asyncapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	// Through JSON, so the schema compiler and the struct below see the
	// document as a JSON Schema tool would.
	js, err := json.Marshal(y)
	if err != nil {
		t.Fatalf("asyncapi.yaml is not JSON-compatible: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	// The document must be valid AsyncAPI, or the tools other teams use
	// (code generators, viewers) would not read it.
	spec, err := jsonschema.NewCompiler().Compile("testdata/asyncapi-3.0.0.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(doc); err != nil {
		t.Fatalf("asyncapi.yaml is not valid AsyncAPI 3.0.0: %v", err)
	}
	var api asyncAPI
	if err := json.Unmarshal(js, &api); err != nil {
		t.Fatal(err)
	}
	if api.AsyncAPI != "3.0.0" {
		t.Fatalf("asyncapi: %q, want 3.0.0", api.AsyncAPI)
	}

	// The document's own $refs resolve against its location, so schemas/…
	// load from docs/events/schemas.
	docURL := "file://" + filepath.ToSlash(filepath.Join(dir, "asyncapi.yaml"))
	strict, loose := jsonschema.NewCompiler(), jsonschema.NewCompiler()
	strict.UseLoader(jsonschema.SchemeURLLoader{"file": strictLoader{}})
	for _, comp := range []*jsonschema.Compiler{strict, loose} {
		comp.AssertFormat()
		if err := comp.AddResource(docURL, doc); err != nil {
			t.Fatal(err)
		}
	}
	compile := func(comp *jsonschema.Compiler, ptr string) *jsonschema.Schema {
		sch, err := comp.Compile(docURL + "#" + ptr)
		if err != nil {
			t.Fatalf("compile %s: %v", ptr, err)
		}
		return sch
	}

	c := &contract{messages: map[string]*contractMsg{}}
	for key, m := range api.Components.Messages {
		if !slices.Contains(events.Types, m.Name) {
			t.Errorf("message %s documents %q, which is not an event type of pkg/events", key, m.Name)
			continue
		}
		if c.messages[m.Name] != nil {
			t.Fatalf("two messages document %s", m.Name)
		}
		ptr := "/components/messages/" + key
		cm := &contractMsg{
			headers: compile(strict, ptr+"/headers"), payload: compile(strict, ptr+"/payload"),
			looseHeaders: compile(loose, ptr+"/headers"), loosePayload: compile(loose, ptr+"/payload"),
		}
		for _, ex := range m.Examples {
			// AsyncAPI examples have no field for the NATS subject (and allow
			// no extensions), so the summary ends with it.
			sub := exampleSubject.FindStringSubmatch(ex.Summary)
			if sub == nil {
				t.Errorf("message %s example %q: the summary does not end with \"Subject: wallet.…\"", key, ex.Name)
				continue
			}
			cm.examples = append(cm.examples, example{name: ex.Name, subject: sub[1], headers: ex.Headers, payload: ex.Payload})
		}
		c.messages[m.Name] = cm
	}

	// Every message sits on exactly one fact channel, whose address is the
	// subject pattern of its type, a saga step on one step copy channel
	// too, and every channel has a receive operation.
	received := map[string]bool{}
	for name, op := range api.Operations {
		if op.Action != "receive" {
			t.Errorf("operation %s: action %q; subscribers receive", name, op.Action)
		}
		received[strings.TrimPrefix(op.Channel["$ref"], "#/channels/")] = true
	}
	for name, ch := range api.Channels {
		if !received[name] {
			t.Errorf("channel %s has no receive operation", name)
		}
		for _, ref := range ch.Messages {
			key := strings.TrimPrefix(fmt.Sprint(ref["$ref"]), "#/components/messages/")
			m, ok := api.Components.Messages[key]
			if !ok || c.messages[m.Name] == nil {
				t.Errorf("channel %s names message %v, which the document does not define", name, ref["$ref"])
				continue
			}
			cm := c.messages[m.Name]
			switch ch.Address {
			case events.FactRoot + ".{partition}." + m.Name + ".{shard}":
				if cm.address != "" {
					t.Errorf("message %s is on two fact channels", m.Name)
				}
				cm.address = ch.Address
			case events.StepRoot + ".{partition}." + m.Name + ".{shard}":
				if !sagaStep(m.Name) {
					t.Errorf("channel %s: %s is not a saga step, it has no step copy", name, m.Name)
				}
				if cm.step != "" {
					t.Errorf("message %s is on two step copy channels", m.Name)
				}
				cm.step = ch.Address
			default:
				t.Errorf("channel %s: address %q, want wallet.{partition}.%s.{shard} or, for a saga step, saga.{partition}.%[3]s.{shard}", name, ch.Address, m.Name)
			}
		}
	}
	for _, typ := range events.Types {
		m := c.messages[typ]
		if m == nil {
			t.Fatalf("event type %s has no message (and so no schema) in asyncapi.yaml", typ)
		}
		if m.address == "" {
			t.Fatalf("message %s is on no fact channel", typ)
		}
		if sagaStep(typ) && m.step == "" {
			t.Fatalf("saga step %s has no step copy channel", typ)
		}
	}
	return c
}

// sagaStep reports whether typ is a step a shard acts on, which is copied
// into the acting shard's partition (ADR 0038).
func sagaStep(typ string) bool {
	return typ == events.TransferDebited || typ == events.TransferCredited || typ == events.TransferCreditRejected
}

var exampleSubject = regexp.MustCompile(`Subject: ((?:wallet|saga)\.[a-z_.0-9]+)$`)

// strictLoader loads schema files from disk and closes them: see closed.
type strictLoader struct{}

func (strictLoader) Load(url string) (any, error) {
	doc, err := jsonschema.FileLoader{}.Load(url)
	if err != nil {
		return nil, err
	}
	return closed(doc), nil
}

// closed returns schema document v with every object schema that lists
// properties accepting no others. The files allow unknown properties
// (consumers must ignore what they do not know); the test must not, or a
// producer could drift from the document unnoticed. unevaluatedProperties,
// unlike additionalProperties, also sees properties named through $ref and
// allOf.
func closed(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v)+1)
		for k, x := range v {
			out[k] = closed(x)
		}
		if _, ok := v["properties"]; ok {
			if v["additionalProperties"] == true {
				delete(out, "additionalProperties")
			}
			out["unevaluatedProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = closed(x)
		}
		return out
	}
	return v
}

// check validates one message against the document and returns its event
// type: the schemas of its type (strictly), then what the schemas cannot
// say and the document does (ids, routing, which balances an event carries).
func (c *contract) check(subject string, headers map[string]string, data []byte) (string, error) {
	ceType := headers["ce-type"]
	typ := strings.TrimSuffix(strings.TrimPrefix(ceType, "wallet."), ".v1")
	m := c.messages[typ]
	if m == nil {
		return "", fmt.Errorf("ce-type %q: no message in the document", ceType)
	}
	channel := m.address
	if strings.HasPrefix(subject, events.StepRoot+".") && m.step != "" {
		channel = m.step
	}
	number := `(0|[1-9][0-9]*)`
	pattern := "^" + strings.NewReplacer(`\{partition\}`, number, `\{shard\}`, number).Replace(regexp.QuoteMeta(channel)) + "$"
	match := regexp.MustCompile(pattern).FindStringSubmatch(subject)
	if match == nil {
		return typ, fmt.Errorf("subject %q does not match the channel %s", subject, channel)
	}
	h := make(map[string]any, len(headers))
	for k, v := range headers {
		h[k] = v
	}
	if err := m.headers.Validate(h); err != nil {
		return typ, fmt.Errorf("headers: %v", err)
	}
	payload, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return typ, fmt.Errorf("payload is not JSON: %v", err)
	}
	if err := m.payload.Validate(payload); err != nil {
		return typ, fmt.Errorf("payload: %v", err)
	}
	partition, _ := strconv.Atoi(match[1])
	subjectShard, _ := strconv.Atoi(match[2])
	sourceShard, _ := strconv.Atoi(strings.TrimPrefix(headers["ce-source"], "/account-service/shard/"))
	errs := rules(typ, headers, data, subjectShard, sourceShard)
	// A fact is in the emitting shard's partition; a step copy in the
	// acting shard's, and only when that is another one.
	home, acting := events.Partition(sourceShard, shards, partitions), events.Partition(subjectShard, shards, partitions)
	if channel == m.address && partition != home {
		errs = append(errs, fmt.Errorf("fact in partition %d, want the emitting shard %d's, %d", partition, sourceShard, home))
	}
	if channel == m.step && (partition != acting || acting == home) {
		errs = append(errs, fmt.Errorf("step copy in partition %d: want the acting shard %d's (%d), different from the emitting shard's (%d)", partition, subjectShard, acting, home))
	}
	return typ, errors.Join(errs...)
}

// rules checks what docs/events/README.md and the schema descriptions state
// across fields.
func rules(typ string, h map[string]string, data []byte, subjectShard, sourceShard int) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if h["Nats-Msg-Id"] != h["ce-id"] {
		fail("Nats-Msg-Id %s differs from ce-id %s", h["Nats-Msg-Id"], h["ce-id"])
	}
	var p struct {
		TransactionID string           `json:"transaction_id"`
		AccountID     string           `json:"account_id"`
		Amount        string           `json:"amount"`
		Currency      string           `json:"currency"`
		BalanceAfter  string           `json:"balance_after"`
		Shard         *int             `json:"shard"`
		From          string           `json:"from_account"`
		To            string           `json:"to_account"`
		FromShard     int              `json:"from_shard"`
		ToShard       int              `json:"to_shard"`
		Balances      []events.Balance `json:"balances"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return append(errs, err)
	}
	// Amounts and balances have exactly the currency's minor-unit decimals,
	// which a schema cannot say per currency.
	exp, err := money.Exponent(p.Currency)
	if err != nil {
		fail("currency %q: %v", p.Currency, err)
	}
	decimals := []string{p.Amount, p.BalanceAfter}
	for _, b := range p.Balances {
		decimals = append(decimals, b.BalanceAfter)
	}
	for _, d := range decimals {
		if _, frac, _ := strings.Cut(d, "."); d != "" && len(frac) != int(exp) {
			fail("%q has %d decimals; %s has %d", d, len(frac), p.Currency, exp)
		}
	}
	if strings.HasPrefix(typ, "account.") {
		// Account events: about the account, from and to its own shard.
		own := shard.Of(p.AccountID, shards)
		if h["ce-subject"] != p.AccountID {
			fail("ce-subject %s, want the account id %s", h["ce-subject"], p.AccountID)
		}
		if sourceShard != own || subjectShard != own || (p.Shard != nil && *p.Shard != own) {
			fail("account %s lives on shard %d; ce-source shard %d, subject shard %d, payload shard %v", p.AccountID, own, sourceShard, subjectShard, p.Shard)
		}
		return errs
	}
	if h["ce-subject"] != p.TransactionID {
		fail("ce-subject %s, want the transaction_id %s", h["ce-subject"], p.TransactionID)
	}
	if p.FromShard != shard.Of(p.From, shards) || p.ToShard != shard.Of(p.To, shards) {
		fail("from_shard %d / to_shard %d are not the shards of %s and %s", p.FromShard, p.ToShard, p.From, p.To)
	}
	// Which shard emits a step and which one it is addressed to, and whose
	// balance it may carry.
	route := map[string]struct {
		source, subject int
		balanceOf       string
	}{
		events.TransferDebited:        {p.FromShard, p.ToShard, p.From},
		events.TransferCredited:       {p.ToShard, p.FromShard, p.To},
		events.TransferCreditRejected: {p.ToShard, p.FromShard, ""},
		events.TransferCompleted:      {p.FromShard, p.FromShard, ""},
		events.TransferFailed:         {p.FromShard, p.FromShard, p.From},
	}[typ]
	if sourceShard != route.source || subjectShard != route.subject {
		fail("ce-source shard %d and subject shard %d, want %d and %d", sourceShard, subjectShard, route.source, route.subject)
	}
	var accounts []string
	for _, b := range p.Balances {
		accounts = append(accounts, b.AccountID)
	}
	switch {
	case typ == events.TransferCompleted && p.FromShard == p.ToShard:
		if !slices.Equal(accounts, []string{p.From, p.To}) {
			fail("a same-shard transfer.completed carries balances of %v, want the source and the destination", accounts)
		}
	case route.balanceOf == "":
		if len(accounts) > 0 {
			fail("carries balances of %v, want none", accounts)
		}
	case len(accounts) > 0 && !slices.Equal(accounts, []string{route.balanceOf}):
		fail("carries balances of %v, want %s", accounts, route.balanceOf)
	}
	return errs
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
