package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/walletco/wallet/pkg/problem"
)

type fuzzBody struct {
	FromAccount   string `json:"from_account"`
	Amount        string `json:"amount"`
	TransactionID string `json:"transaction_id"`
	Count         int    `json:"count"`
	Inner         *struct {
		Note string   `json:"note"`
		Tags []string `json:"tags"`
	} `json:"inner"`
}

// FuzzDecodeJSON: DecodeJSON never panics, refuses only with its problem
// codes, and what it accepts has exactly-named, unique top-level keys and
// survives a round trip through encoding/json unchanged. The seed corpus is
// in testdata/fuzz/FuzzDecodeJSON; make test runs only the seeds.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"from_account":"a","amount":"1.00","transaction_id":"t","count":1}`,
		`{"amount":"1.00","amount":"7.00"}`,
		`{"AMOUNT":"1.00"}`,
		`{"inner":{"note":"x","tags":["a","b"]}}`,
		`{"inner":{"note":"x","note":"y"}}`,
		`{"amount":1.5}`,
		`{"amount":"1"} {}`,
		`[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(in))
		r.Header.Set("Content-Type", "application/json")
		var got fuzzBody
		err := DecodeJSON(httptest.NewRecorder(), r, &got)
		if err != nil {
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("DecodeJSON(%q) = %v, not a problem", in, err)
			}
			switch p.Code {
			case problem.InvalidRequest, problem.InvalidAmount, problem.PayloadTooLarge:
			default:
				t.Fatalf("DecodeJSON(%q) = code %s", in, p.Code)
			}
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal([]byte(in), &top) == nil {
			fields := map[string]reflect.Type{}
			jsonFields(reflect.TypeFor[fuzzBody](), fields)
			for k := range top {
				if _, ok := fields[k]; !ok {
					t.Fatalf("DecodeJSON(%q) accepted key %q", in, k)
				}
			}
			if n := strings.Count(in, `"`); n < 2*len(top) {
				t.Fatalf("DecodeJSON(%q): fewer quotes than keys", in)
			}
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var again fuzzBody
		r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(out)))
		if err := DecodeJSON(httptest.NewRecorder(), r, &again); err != nil {
			t.Fatalf("round trip of %q (%s): %v", in, out, err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip of %q: %+v, then %+v", in, got, again)
		}
	})
}
