package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// OpenAPI serves doc, the service's OpenAPI document, at GET /openapi.yaml.
func OpenAPI(r *mux.Router, doc []byte) {
	r.HandleFunc("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(doc)
	}).Methods(http.MethodGet)
}
