package problem

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The codes are a wire contract: this list may only grow at the end.
func TestCodesArePinned(t *testing.T) {
	want := []Code{"insufficient_funds", "account_not_found", "account_frozen", "account_closed",
		"currency_mismatch", "invalid_amount", "invalid_request", "same_account", "idempotency_conflict",
		"unauthorized", "forbidden", "not_found", "method_not_allowed", "payload_too_large",
		"unsupported_media_type", "account_not_empty", "unavailable", "internal", "account_exists",
		"balance_limit_exceeded", "ambiguous_transaction_id", "invalid_data"}
	got := Codes()
	if len(got) < len(want) {
		t.Fatalf("codes shrank: %v", got)
	}
	for i, c := range want {
		if got[i] != c {
			t.Fatalf("code %d = %q, want %q", i, got[i], c)
		}
		if _, ok := statuses[c]; !ok {
			t.Fatalf("code %q has no HTTP status", c)
		}
	}
}

func TestBody(t *testing.T) {
	err := fmt.Errorf("transfer: %w", New(InsufficientFunds, "not enough").With("available", "1.00"))
	status, body := Body(err, "/x")
	if status != http.StatusUnprocessableEntity || body["code"] != InsufficientFunds || body["available"] != "1.00" {
		t.Fatalf("Body = %d %v", status, body)
	}
	_, body = Body(New(AccountFrozen, "x").With("status", "failed"), "")
	if body["status"] != http.StatusUnprocessableEntity {
		t.Fatalf("an extension replaced the status member: %v", body)
	}
	status, body = Body(fmt.Errorf("boom"), "")
	if status != 500 || body["code"] != Internal || body["detail"] != "internal error" {
		t.Fatalf("Body(internal) = %d %v", status, body)
	}
}

func TestWriteRetryAfter(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{New(Unavailable, "busy").WithRetryAfter(time.Second), "1"},
		{New(Unavailable, "busy").WithRetryAfter(2400 * time.Millisecond), "2"},
		{New(Unavailable, "busy").WithRetryAfter(time.Millisecond), "1"}, // never "0"
		{New(Unavailable, "busy"), ""},
		{New(InsufficientFunds, "no"), ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		Write(rec, httptest.NewRequest("POST", "/x", nil), nil, tt.err)
		if got := rec.Header().Get("Retry-After"); got != tt.want {
			t.Errorf("%v: Retry-After %q, want %q", tt.err, got, tt.want)
		}
		if got := RetryAfter(tt.err); (got == 0 && tt.want != "") || (got != 0 && fmt.Sprint(got) != tt.want) {
			t.Errorf("RetryAfter(%v) = %d, want %q", tt.err, got, tt.want)
		}
	}
	rec := httptest.NewRecorder()
	Write(rec, httptest.NewRequest("POST", "/x", nil), nil, New(Unavailable, "busy").WithRetryAfter(time.Second))
	if rec.Code != 503 {
		t.Errorf("unavailable answered %d, want 503", rec.Code)
	}
}
