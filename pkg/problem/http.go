package problem

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ContentType is the media type of RFC 9457 problem documents.
const ContentType = "application/problem+json"

// Document is the RFC 9457 body. Extra members are inlined by Body.
type Document struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Code     Code   `json:"code"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Body renders err as a problem document. Internal errors hide their detail.
func Body(err error, instance string) (int, map[string]any) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: Internal, Detail: "internal error"}
	}
	status := Status(e.Code)
	body := map[string]any{
		"type":   "https://wallet.example/problems/" + strings.ReplaceAll(string(e.Code), "_", "-"),
		"title":  http.StatusText(status),
		"status": status,
		"code":   e.Code,
	}
	if e.Detail != "" {
		body["detail"] = e.Detail
	}
	if instance != "" {
		body["instance"] = instance
	}
	for k, v := range e.Extra {
		if _, standard := body[k]; !standard { // extensions never replace RFC 9457 members
			body[k] = v
		}
	}
	return status, body
}

// Write sends err as application/problem+json. Only internal errors are
// logged: every other code is the client's business, not an incident.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, body := Body(err, r.URL.Path)
	if status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "err", err, "path", r.URL.Path)
	}
	if secs := RetryAfter(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// RetryAfter is the Retry-After err asks for in whole seconds (at least 1),
// or 0 when it asks for none.
func RetryAfter(err error) int {
	var e *Error
	if !errors.As(err, &e) || e.RetryAfter <= 0 {
		return 0
	}
	return int(max(time.Second, e.RetryAfter.Round(time.Second)) / time.Second)
}
