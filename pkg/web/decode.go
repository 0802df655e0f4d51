// Package web holds the HTTP plumbing every service shares: strict JSON
// decoding, problem responses, request ids, access logs, metrics, health
// endpoints and graceful shutdown.
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/walletco/wallet/pkg/problem"
)

// MaxBody is the largest request body accepted, in bytes.
const MaxBody = 64 << 10

// DecodeJSON reads one JSON object from r into dst. It requires an
// application/json content type, rejects unknown fields, wrong types,
// trailing data, bodies over MaxBody, duplicate keys and keys whose letter
// case differs from the field's name (see checkKeys), and returns
// *problem.Error values.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	return DecodeJSONLimit(w, r, dst, MaxBody)
}

// DecodeJSONLimit is DecodeJSON with a body limit of limit bytes instead of
// MaxBody, for the routes whose bodies are lists (bulk transfers).
func DecodeJSONLimit(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return problem.New(problem.UnsupportedMedia, "content type must be application/json, got %q", ct)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return decodeProblem(err)
	}
	return Unmarshal(data, dst)
}

// Unmarshal decodes one JSON value from data into dst as strictly as
// DecodeJSON decodes a body. A json.RawMessage field is left to whoever
// decodes it later (one item of a bulk request, with its own answer): only
// its syntax is checked here.
func Unmarshal(data []byte, dst any) error {
	keysErr := checkKeys(data, reflect.TypeOf(dst))
	if keysErr != nil && !errors.Is(keysErr, errSyntax) {
		return keysErr
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return problem.New(problem.InvalidRequest, "body must hold a single JSON object")
	}
	if keysErr != nil {
		// The tokenizer refused what the decoder took: refuse it too.
		return problem.New(problem.InvalidRequest, "invalid JSON")
	}
	return nil
}

func decodeProblem(err error) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return problem.New(problem.PayloadTooLarge, "body exceeds %d bytes", tooBig.Limit)
	case errors.As(err, &syntax):
		return problem.New(problem.InvalidRequest, "malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problem.New(problem.InvalidRequest, "body is empty or truncated JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return problem.New(problem.InvalidRequest, "a JSON object is required, not a JSON %s", typeErr.Value)
		}
		if typeErr.Field == "amount" {
			return problem.New(problem.InvalidAmount, "amount must be a decimal string such as \"10.50\"")
		}
		return problem.New(problem.InvalidRequest, "field %q must be a %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return problem.New(problem.InvalidRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return problem.New(problem.InvalidRequest, "invalid JSON: %v", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	default:
		return fmt.Sprintf("JSON %s", goKind)
	}
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
