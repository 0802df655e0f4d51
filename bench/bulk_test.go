package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeBulk serves POST /v1/wallet/transfers with answer, which gets the
// decoded request's transfers and writes the response. It fails the test
// on a request that breaks the contract's request side.
func fakeBulk(t *testing.T, answer func(w http.ResponseWriter, items []transferBody)) *API {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != bulkPath {
			t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, bulkPath)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type %q", got)
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string][]transferBody
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || len(body) != 1 || body["transfers"] == nil {
			t.Errorf("body %s: want {\"transfers\":[…]} (%v)", raw, err)
		}
		answer(w, body["transfers"])
	}))
	t.Cleanup(srv.Close)
	api := NewAPI(srv.URL, "tok", 4)
	t.Cleanup(api.Close)
	return api
}

func items(n int) []transferBody {
	out := make([]transferBody, n)
	for i := range out {
		out[i] = transferBody{FromAccount: fmt.Sprintf("a-%d", i), ToAccount: fmt.Sprintf("b-%d", i), Amount: "1.00",
			Currency: "USD", TransactionID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func TestBulkTransferReadsEachResultInOrder(t *testing.T) {
	api := fakeBulk(t, func(w http.ResponseWriter, in []transferBody) {
		if len(in) != 5 || in[0].Amount != "1.00" || in[0].Currency != "USD" || in[0].FromAccount != "a-0" {
			t.Errorf("transfers as sent: %+v", in)
		}
		id := func(i int) string { return in[i].TransactionID }
		writeJSON(w, http.StatusOK, `{"results":[`+
			`{"transaction_id":"`+id(0)+`","status":"success"},`+
			`{"transaction_id":"`+id(1)+`","status":"pending"},`+
			`{"type":"https://wallet.example/problems/insufficient-funds","title":"Unprocessable Entity","status":422,`+
			`"code":"insufficient_funds","transaction_id":"`+id(2)+`","transfer_status":"failed"},`+
			`{"transaction_id":"`+id(3)+`","status":"failed","problem":{"status":404,"code":"account_not_found"}},`+
			`{"transaction_id":"`+id(4)+`","status":"failed","code":"account_frozen"}]}`)
	})
	got, err := api.BulkTransfer(context.Background(), items(5))
	if err != nil {
		t.Fatal(err)
	}
	want := []Reply{{200, "success"}, {202, "pending"}, {422, "insufficient_funds"}, {404, "account_not_found"}, {0, "account_frozen"}}
	for i, w := range want {
		if got[i].Reply != w || got[i].TransactionID != items(5)[i].TransactionID {
			t.Errorf("item %d: %+v, want %+v", i, got[i], w)
		}
	}
}

func TestBulkTransferReadsTheServicesResultShape(t *testing.T) {
	// As account-service writes them: the status word, the single
	// request's status as http_status, a refusal's problem nested.
	api := fakeBulk(t, func(w http.ResponseWriter, in []transferBody) {
		id := func(i int) string { return in[i].TransactionID }
		writeJSON(w, http.StatusOK, `{"results":[`+
			`{"status":"success","http_status":200,"transaction_id":"`+id(0)+`","from_account":"a-0","to_account":"b-0","amount":"1.00","currency":"USD"},`+
			`{"status":"pending","http_status":202,"transaction_id":"`+id(1)+`","location":"/v1/wallet/transfers/x?from_account=a-1"},`+
			`{"status":"error","http_status":422,"transaction_id":"`+id(2)+`","problem":{"type":"https://wallet.example/problems/insufficient-funds",`+
			`"title":"Unprocessable Entity","status":422,"code":"insufficient_funds","available":"0.50","requested":"1.00"}},`+
			`{"status":"error","http_status":503,"retry_after":1,"transaction_id":"`+id(3)+`","problem":{"status":503,"code":"unavailable"}}]}`)
	})
	got, err := api.BulkTransfer(context.Background(), items(4))
	if err != nil {
		t.Fatal(err)
	}
	want := []Reply{{200, "success"}, {202, "pending"}, {422, "insufficient_funds"}, {503, "unavailable"}}
	for i, w := range want {
		if got[i].Reply != w {
			t.Errorf("item %d: %+v, want %+v", i, got[i], w)
		}
	}
}

func TestBulkTransferRefusedWholeGivesEveryItemTheAnswer(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		code   string
	}{
		{413, `{"status":413,"code":"payload_too_large"}`, "payload_too_large"},
		{503, `{"status":503,"code":"unavailable"}`, "unavailable"},
		{404, `404 page not found`, "(unparsable body)"}, // a service without the endpoint
	} {
		api := fakeBulk(t, func(w http.ResponseWriter, _ []transferBody) { writeJSON(w, c.status, c.body) })
		got, err := api.BulkTransfer(context.Background(), items(3))
		if err != nil {
			t.Fatalf("%d: %v", c.status, err)
		}
		for i, r := range got {
			if r.Status != c.status || r.Code != c.code {
				t.Errorf("%d: item %d answered %+v, want %d %s", c.status, i, r, c.status, c.code)
			}
		}
	}
}

func TestBulkTransferRejectsAnAnswerThatBreaksTheContract(t *testing.T) {
	for name, answer := range map[string]func(in []transferBody) string{
		"a result missing": func(in []transferBody) string {
			return `{"results":[{"transaction_id":"` + in[0].TransactionID + `","status":"success"}]}`
		},
		"out of order": func(in []transferBody) string {
			return `{"results":[{"transaction_id":"` + in[1].TransactionID + `","status":"success"},` +
				`{"transaction_id":"` + in[0].TransactionID + `","status":"success"}]}`
		},
		"no transaction ids": func(in []transferBody) string {
			return `{"results":[{"status":"success"},{"status":"success"}]}`
		},
		"not JSON": func(in []transferBody) string { return `ok` },
	} {
		api := fakeBulk(t, func(w http.ResponseWriter, in []transferBody) { writeJSON(w, 200, answer(in)) })
		if got, err := api.BulkTransfer(context.Background(), items(2)); err == nil {
			t.Errorf("%s: no error, replies %+v", name, got)
		}
	}
}

func TestBulkOnceRecordsEveryTransfer(t *testing.T) {
	pairs := []Pair{{From: "a", To: "b"}, {From: "a", To: "c", Cross: true}, {From: "b", To: "a"}}
	ok := fakeBulk(t, func(w http.ResponseWriter, in []transferBody) {
		res := make([]string, len(in))
		for i, it := range in {
			status := `"success"`
			if i == 1 {
				status = `"pending"`
			}
			res[i] = `{"transaction_id":"` + it.TransactionID + `","status":` + status + `}`
		}
		writeJSON(w, 200, `{"results":[`+strings.Join(res, ",")+`]}`)
	})
	rec := NewRecorder()
	bulkOnce(context.Background(), ok, rec, pairs, "1.00")
	s := rec.Summary()
	if s.Sent != 3 || s.Accepted != 3 || s.ByCode["success"] != 2 || s.ByCode["pending"] != 1 ||
		s.LatencyByKind["cross"].Count != 1 || s.LatencyByKind["same"].Count != 2 {
		t.Fatalf("summary %+v", s)
	}

	broken := fakeBulk(t, func(w http.ResponseWriter, _ []transferBody) { writeJSON(w, 200, `{"results":[]}`) })
	rec = NewRecorder()
	bulkOnce(context.Background(), broken, rec, pairs, "1.00")
	s = rec.Summary()
	if s.Sent != 3 || s.Accepted != 0 || s.TransportErrors != 3 || len(s.ErrorSample) != 1 ||
		!strings.Contains(s.ErrorSample[0], "0 results for 3 transfers") {
		t.Fatalf("a broken answer: summary %+v", s)
	}
}
