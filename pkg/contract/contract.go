// Package contract checks a running HTTP API against its OpenAPI document,
// for tests: every exchange a test drives through a Checker is validated
// (request and response), and the router's routes must be the document's.
package contract

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"
)

// Checker sends requests to a server and validates them and their answers
// against an OpenAPI document.
type Checker struct {
	// Header is sent with every request (an Authorization token, say);
	// a Request's own Header wins.
	Header http.Header

	t      testing.TB
	base   string
	doc    *openapi3.T
	router routers.Router
	// driven holds "METHOD path-template" of the operations exercised.
	driven map[string]bool
}

// New loads and validates doc and returns a Checker for the server at base
// (an httptest.Server URL).
func New(t testing.TB, doc []byte, base string) *Checker {
	t.Helper()
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := d.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	// Match requests to the test server rather than the document's server.
	d.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(d)
	if err != nil {
		t.Fatalf("route OpenAPI document: %v", err)
	}
	return &Checker{Header: http.Header{}, t: t, base: base, doc: d, router: router, driven: map[string]bool{}}
}

// Request is one exchange to drive.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         string
	// Invalid marks a request that breaks the document on purpose (a bad
	// id, a wrong type, a bad Content-Type): only the answer is validated.
	Invalid bool
}

// Response is the server's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req, validates the request (unless Invalid) and the response,
// and returns the response. Any mismatch fails the test.
func (c *Checker) Do(req Request) Response {
	c.t.Helper()
	newReq := func() *http.Request {
		r, err := http.NewRequest(req.Method, c.base+req.Path, strings.NewReader(req.Body))
		if err != nil {
			c.t.Fatal(err)
		}
		for k, vs := range c.Header {
			r.Header[k] = vs
		}
		for k, vs := range req.Header {
			r.Header[k] = vs
		}
		if req.Body != "" && r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/json")
		}
		return r
	}
	vr := newReq()
	route, params, err := c.router.FindRoute(vr)
	if err != nil {
		c.t.Fatalf("%s %s: not in the OpenAPI document: %v", req.Method, req.Path, err)
	}
	c.driven[req.Method+" "+route.Path] = true
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	if !req.Invalid {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.t.Errorf("%s %s: request does not match the document: %v", req.Method, req.Path, err)
		}
	}
	res, err := http.DefaultClient.Do(newReq())
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode,
		Header: res.Header, Body: io.NopCloser(bytes.NewReader(raw)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("%s %s: %d response does not match the document: %v\n%s", req.Method, req.Path, res.StatusCode, err, raw)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// CheckRoutes fails the test unless r's routes (path template and method;
// a route without methods counts as GET) are exactly the document's
// operations.
func (c *Checker) CheckRoutes(r *mux.Router) {
	c.t.Helper()
	inRouter := map[string]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's prefix
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{http.MethodGet}
		}
		for _, m := range methods {
			inRouter[m+" "+tpl] = true
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	inDoc := c.operations()
	for op := range inRouter {
		if !inDoc[op] {
			c.t.Errorf("route %s is not in the OpenAPI document", op)
		}
	}
	for op := range inDoc {
		if !inRouter[op] {
			c.t.Errorf("the OpenAPI document has %s, which the router does not serve", op)
		}
	}
}

// CheckDriven fails the test unless every operation of the document was
// driven through Do at least once.
func (c *Checker) CheckDriven() {
	c.t.Helper()
	var missing []string
	for op := range c.operations() {
		if !c.driven[op] {
			missing = append(missing, op)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		c.t.Errorf("operations never driven: %s", strings.Join(missing, ", "))
	}
}

func (c *Checker) operations() map[string]bool {
	ops := map[string]bool{}
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			ops[fmt.Sprintf("%s %s", method, path)] = true
		}
	}
	return ops
}
