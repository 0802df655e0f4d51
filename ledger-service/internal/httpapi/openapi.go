package httpapi

import _ "embed"

// openAPIDocument is this API's contract, served at /openapi.yaml; the
// contract test validates every route's requests and responses against it.
//
//go:embed openapi.yaml
var openAPIDocument []byte
