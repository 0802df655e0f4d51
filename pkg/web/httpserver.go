package web

import (
	"net/http"
	"time"
)

// The timeouts every service's http.Server has, so a slow or idle client
// cannot hold a connection (and its goroutine) for ever: headers in 5 s,
// the whole request in 30 s, the response written in 30 s (plus what a
// handler deliberately waits, see NewHTTPServer), idle keep-alives 30 s
// (an idle connection holds a slot of the connection limits).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 30 * time.Second
)

// NewHTTPServer returns an http.Server for h with the timeouts above; wait
// is added to the write timeout for handlers that wait on purpose (the
// account service's account.transfer_wait).
func NewHTTPServer(h http.Handler, wait time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout + wait, IdleTimeout: IdleTimeout}
}
