package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/walletco/wallet/pkg/problem"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name   string `json:"name"`
		Amount string `json:"amount"`
		Count  int    `json:"count"`
		Inner  *struct {
			Note string `json:"note"`
		} `json:"inner"`
		Tags []struct {
			Key string `json:"key"`
		} `json:"tags"`
		Extra map[string]string `json:"extra"`
	}
	tests := []struct {
		name, ctype, in string
		want            problem.Code
	}{
		{"ok", "application/json", `{"name":"a","amount":"1.00","count":2}`, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"a"}`, ""},
		{"no content type", "", `{"name":"a"}`, ""},
		{"wrong content type", "text/plain", `{"name":"a"}`, problem.UnsupportedMedia},
		{"malformed", "application/json", `{"name":`, problem.InvalidRequest},
		{"syntax error", "application/json", `{"name" "a"}`, problem.InvalidRequest},
		{"empty", "application/json", ``, problem.InvalidRequest},
		{"unknown field", "application/json", `{"nme":"a"}`, problem.InvalidRequest},
		{"wrong type", "application/json", `{"count":"two"}`, problem.InvalidRequest},
		{"amount as number", "application/json", `{"amount":1.5}`, problem.InvalidAmount},
		{"trailing data", "application/json", `{"name":"a"} x`, problem.InvalidRequest},
		{"nested ok", "application/json", `{"inner":{"note":"x"},"tags":[{"key":"a"}],"extra":{"a":"b"}}`, ""},
		{"duplicate key", "application/json", `{"amount":"1.00","amount":"7.00"}`, problem.InvalidRequest},
		{"duplicate key nested", "application/json", `{"inner":{"note":"a","note":"b"}}`, problem.InvalidRequest},
		{"duplicate key in array", "application/json", `{"tags":[{"key":"a","key":"b"}]}`, problem.InvalidRequest},
		{"duplicate key in map", "application/json", `{"extra":{"a":"b","a":"c"}}`, problem.InvalidRequest},
		{"upper case key", "application/json", `{"AMOUNT":"1.00"}`, problem.InvalidRequest},
		{"mixed case key", "application/json", `{"Name":"a"}`, problem.InvalidRequest},
		{"case nested", "application/json", `{"inner":{"Note":"x"}}`, problem.InvalidRequest},
		{"case in array", "application/json", `{"tags":[{"KEY":"x"}]}`, problem.InvalidRequest},
		{"unknown nested", "application/json", `{"inner":{"nope":"x"}}`, problem.InvalidRequest},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", MaxBody) + `"}`, problem.PayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.in))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			var b body
			err := DecodeJSON(httptest.NewRecorder(), r, &b)
			got := problem.Code("")
			if err != nil {
				got = problem.CodeOf(err)
			}
			if got != tt.want {
				t.Fatalf("DecodeJSON(%.40q) = %v, want code %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestDecodeJSONDetailNamesKey(t *testing.T) {
	var body struct {
		Amount        string `json:"amount"`
		TransactionID string `json:"transaction_id"`
	}
	for in, want := range map[string]string{
		`{"amount":"1.00","amount":"7.00"}`: `duplicate key "amount"`,
		`{"Transaction_ID":"x"}`:            `key "Transaction_ID" must be spelled "transaction_id"`,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(in))
		err := DecodeJSON(httptest.NewRecorder(), r, &body)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeJSON(%s) = %v, want detail %q", in, err, want)
		}
		if body.Amount != "" || body.TransactionID != "" {
			t.Errorf("DecodeJSON(%s) filled the body: %+v", in, body)
		}
	}
}

// A json.RawMessage list is checked for its syntax only: its items are
// decoded later, each strictly on its own (a bulk request's), so an item's
// duplicate key is that item's problem, while the envelope's own keys are
// held to the usual rules.
func TestUnmarshalLeavesRawItems(t *testing.T) {
	type envelope struct {
		Items []json.RawMessage `json:"items"`
	}
	type item struct {
		Amount string `json:"amount"`
	}
	var env envelope
	if err := Unmarshal([]byte(`{"items":[{"amount":"1","amount":"2"},{"AMOUNT":"3"},7,{"amount":"4"}]}`), &env); err != nil || len(env.Items) != 4 {
		t.Fatalf("Unmarshal = %v, %d items", err, len(env.Items))
	}
	for i, want := range []problem.Code{problem.InvalidRequest, problem.InvalidRequest, problem.InvalidRequest, ""} {
		var it item
		err := Unmarshal(env.Items[i], &it)
		if got := problem.Code(""); err != nil {
			got = problem.CodeOf(err)
			if got != want {
				t.Errorf("item %d: %v, want %q", i, err, want)
			}
		} else if want != "" || it.Amount != "4" {
			t.Errorf("item %d: accepted %+v, want %q", i, it, want)
		}
	}
	for _, in := range []string{
		`{"items":[{"amount":"1"}],"items":[]}`, // the envelope's duplicate
		`{"Items":[]}`,
		`{"items":[{"amount":}]}`, // an item's syntax is the envelope's
		`{"items":[{"amount":"1"}]`,
	} {
		if err := Unmarshal([]byte(in), &env); problem.CodeOf(err) != problem.InvalidRequest {
			t.Errorf("Unmarshal(%s) = %v, want invalid_request", in, err)
		}
	}
}

func TestDecodeJSONLimit(t *testing.T) {
	var body struct {
		Name string `json:"name"`
	}
	in := `{"name":"` + strings.Repeat("a", MaxBody) + `"}`
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(in))
	if err := DecodeJSONLimit(httptest.NewRecorder(), r, &body, 2*MaxBody); err != nil || len(body.Name) != MaxBody {
		t.Fatalf("DecodeJSONLimit under its limit: %v", err)
	}
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(in))
	if err := DecodeJSONLimit(httptest.NewRecorder(), r, &body, 100); problem.CodeOf(err) != problem.PayloadTooLarge {
		t.Fatalf("DecodeJSONLimit over its limit: %v", err)
	}
}

// BenchmarkDecodeJSON decodes a transfer body: the cost of the key pre-scan
// shows against the plain decoder in the numbers before and after it.
func BenchmarkDecodeJSON(b *testing.B) {
	const in = `{"from_account":"alice-1","to_account":"bob-1","amount":"25.50","currency":"USD","transaction_id":"7f1c2d3e-0000-4000-8000-000000000002"}`
	var body struct {
		FromAccount   string `json:"from_account"`
		ToAccount     string `json:"to_account"`
		Amount        string `json:"amount"`
		Currency      string `json:"currency"`
		TransactionID string `json:"transaction_id"`
	}
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(in))
		if err := DecodeJSON(httptest.NewRecorder(), r, &body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal decodes one bulk item: what each item of a bulk
// request costs to decode strictly.
func BenchmarkUnmarshal(b *testing.B) {
	in := []byte(`{"from_account":"alice-1","to_account":"bob-1","amount":"25.50","currency":"USD","transaction_id":"7f1c2d3e-0000-4000-8000-000000000002"}`)
	var body struct {
		FromAccount   string `json:"from_account"`
		ToAccount     string `json:"to_account"`
		Amount        string `json:"amount"`
		Currency      string `json:"currency"`
		TransactionID string `json:"transaction_id"`
	}
	for b.Loop() {
		if err := Unmarshal(in, &body); err != nil {
			b.Fatal(err)
		}
	}
}
