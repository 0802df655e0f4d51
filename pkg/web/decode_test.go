package web

import (
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
