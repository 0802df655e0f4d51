package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/walletco/wallet/pkg/problem"
	"golang.org/x/net/netutil"
)

var requestDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "wallet_http_request_duration_seconds",
	Help:    "HTTP requests by route and status.",
	Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
}, []string{"route", "method", "status"})

type ctxKey struct{}

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// NewRouter returns a gorilla router whose 404 and 405 answers are problems,
// wrapped in request-id, recovery, access-log and metrics middleware.
func NewRouter(log *slog.Logger) *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, log, problem.New(problem.NotFound, "no route for %s", req.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, log, problem.New(problem.MethodNotAllowed, "%s is not allowed on %s", req.Method, req.URL.Path))
	})
	r.Use(middleware(log))
	return r
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	// A client told to back off must not keep its connection (a slot of
	// the listener's limit) while it waits.
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		s.Header().Set("Connection", "close")
	}
	s.ResponseWriter.WriteHeader(code)
}

func middleware(log *slog.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get("X-Request-Id")
			if id == "" || len(id) > 128 {
				id = newID()
			}
			w.Header().Set("X-Request-Id", id)
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			defer func() {
				if p := recover(); p != nil {
					log.ErrorContext(r.Context(), "panic", "panic", p)
					problem.Write(sw, r, nil, problem.New(problem.Internal, "internal error"))
				}
				route := "unmatched"
				if cr := mux.CurrentRoute(r); cr != nil {
					route, _ = cr.GetPathTemplate()
				}
				requestDuration.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
				log.DebugContext(r.Context(), "http", "method", r.Method, "path", r.URL.Path,
					"status", sw.status, "ms", time.Since(start).Milliseconds())
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Health adds /healthz (the process answers), /readyz (ready returns nil),
// /metrics (Prometheus) and /debug/pprof/ (Go profiles, for finding where
// the time goes under load) to r. Each detail's members are added to the
// /readyz body, ready or not, for a caller operator(ctx) accepts; others
// get the status alone (the consumers' states, for instance).
func Health(r *mux.Router, log *slog.Logger, ready func(context.Context) error, operator func(context.Context) bool, detail ...func() map[string]any) {
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		err := ready(ctx)
		members := map[string]any{}
		// Details name internal addresses and states: operators only.
		shown := detail
		if !operator(req.Context()) {
			shown = nil
		}
		for _, d := range shown {
			for k, v := range d() {
				members[k] = v
			}
		}
		if err != nil {
			p := problem.New(problem.Unavailable, "not ready").WithRetryAfter(UnavailableRetryAfter)
			if len(shown) > 0 {
				p = problem.New(problem.Unavailable, "not ready: %v", err).WithRetryAfter(UnavailableRetryAfter)
			}
			for k, v := range members {
				p = p.With(k, v)
			}
			problem.Write(w, req, nil, p)
			return
		}
		members["status"] = "ready"
		JSON(w, http.StatusOK, members)
	}).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.Handler()).Methods(http.MethodGet)
	r.HandleFunc("/debug/pprof/", pprof.Index)
	r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	r.HandleFunc("/debug/pprof/profile", pprof.Profile)
	r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	r.HandleFunc("/debug/pprof/trace", pprof.Trace)
	r.HandleFunc("/debug/pprof/{name}", pprof.Index) // heap, goroutine, … by name
}

// Listen binds addr and accepts at most maxConns connections at once, and
// at most perClient from one remote IP (0 or less: no limit). Beyond
// maxConns new connections wait in the kernel's accept backlog instead of
// each costing a goroutine and its buffers, so a flood of clients costs
// bounded memory; one client's connections beyond perClient are closed, so
// it cannot hold every slot.
func Listen(addr string, maxConns, perClient int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if maxConns > 0 {
		ln = netutil.LimitListener(ln, maxConns)
	}
	return LimitPerClient(ln, perClient), nil
}

// Serve runs srv on ln until ctx ends, then shuts it down gracefully, giving
// in-flight requests up to 10 seconds.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NewLogger returns a JSON slog logger at level (debug|info|warn|error) that
// adds the service name and, when the context has one, the request id, and
// writes to w.
func NewLogger(service, level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})
	return slog.New(requestIDHandler{h}).With("service", service)
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(a)}
}

func (h requestIDHandler) WithGroup(n string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(n)}
}

// Collect registers c with the registry /metrics serves. A collector of the
// same metrics registered before (by an earlier app in the same process,
// as tests boot them) is replaced: the newest app's figures are the ones
// worth reading.
func Collect(c prometheus.Collector) {
	if err := prometheus.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			prometheus.Unregister(dup.ExistingCollector)
			_ = prometheus.Register(c)
		}
	}
}
