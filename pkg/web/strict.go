package web

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/walletco/wallet/pkg/problem"
)

// encoding/json keeps the last of duplicate keys and matches field names
// case-insensitively, so a proxy or audit log reading the first "amount" (or
// only "amount", not "AMOUNT") would see another request than the one
// executed. checkKeys walks the raw tokens first and rejects both, at every
// depth, against the exact json tag names of dst's type.

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
)

// errSyntax marks a token error: the decoder that runs next reports it
// with its usual detail.
var errSyntax = errors.New("syntax")

// checkKeys returns a *problem.Error for a duplicate or inexact key,
// errSyntax for JSON the tokenizer cannot read, nil otherwise.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	return scanValue(dec, t, "")
}

func scanValue(dec *json.Decoder, t reflect.Type, path string) error {
	if t == rawMessageType {
		// Decoded later by its own strict Unmarshal: skip it whole.
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return errSyntax
		}
		return nil
	}
	t = opaque(t)
	tok, err := dec.Token()
	if err != nil {
		return errSyntax
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	switch delim {
	case '{':
		return scanObject(dec, t, path)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := scanValue(dec, elem, path+"[]"); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errSyntax
		}
	}
	return nil
}

func scanObject(dec *json.Decoder, t reflect.Type, path string) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = map[string]reflect.Type{}
		jsonFields(t, fields)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errSyntax
		}
		key, ok := tok.(string)
		if !ok {
			return errSyntax
		}
		name := path + key
		if seen[key] {
			return problem.New(problem.InvalidRequest, "duplicate key %q", name)
		}
		seen[key] = true
		var ft reflect.Type
		switch {
		case fields != nil:
			if ft, ok = fields[key]; !ok {
				for f := range fields {
					if strings.EqualFold(f, key) {
						return problem.New(problem.InvalidRequest, "key %q must be spelled %q", name, path+f)
					}
				}
				return problem.New(problem.InvalidRequest, "unknown field %q", name)
			}
		case t != nil && t.Kind() == reflect.Map:
			ft = t.Elem()
		}
		if err := scanValue(dec, ft, name+"."); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return errSyntax
	}
	return nil
}

// opaque returns t without pointers, or nil when its JSON shape is its own
// business (decimal.Decimal, time.Time, interfaces): only duplicates are
// checked below such a value.
func opaque(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	p := reflect.PointerTo(t)
	if p.Implements(unmarshalerType) || p.Implements(textUnmarshalerType) {
		return nil
	}
	return t
}

// jsonFields collects the exact names encoding/json uses for t's fields,
// flattening untagged embedded structs as it does.
func jsonFields(t reflect.Type, into map[string]reflect.Type) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				jsonFields(ft, into)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[name] = f.Type
	}
}
