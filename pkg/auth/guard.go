package auth

import (
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/problem"
)

// Policy maps "METHOD /route/template" (gorilla's path template) to the
// roles allowed on it. A route in Public needs no token; a route in
// neither is refused to everyone (403), so a new route is closed until
// someone decides who may call it.
type Policy struct {
	Routes map[string][]Role
	Public []string
}

// Guard authenticates, rate-limits and authorizes every request of a router.
type Guard struct {
	verifier *Verifier
	limiter  *Limiter
	policy   Policy
	log      *slog.Logger
}

// NewGuard returns the gate of one service. limiter may be nil (no limit).
func NewGuard(v *Verifier, l *Limiter, p Policy, log *slog.Logger) *Guard {
	if v.cfg.Disabled {
		log.Warn("AUTHENTICATION IS DISABLED (auth.disabled): every request is treated as an operator; never do this outside local experiments")
	}
	return &Guard{verifier: v, limiter: l, policy: p, log: log}
}

// Middleware is the gorilla middleware; it runs after route matching, so
// it knows the route template.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := ""
		if cr := mux.CurrentRoute(r); cr != nil {
			route, _ = cr.GetPathTemplate()
		}
		public := route == "" || g.isPublic(route)

		claims, verr := g.authenticate(r)
		if verr == nil {
			r = r.WithContext(WithClaims(r.Context(), claims))
		}
		client := "ip:" + remoteIP(r)
		if verr == nil {
			client = "sub:" + claims.Subject
		}
		// Operators and services are the bank's own callers (and make
		// bench): limiting them would only throttle the bank.
		if g.limiter != nil && (verr != nil || !claims.Privileged()) {
			if wait, ok := g.limiter.Allow(client); !ok {
				problem.Write(w, r, nil, problem.New(problem.RateLimited, "too many requests").WithRetryAfter(wait))
				return
			}
		}
		if public { // unmatched routes go on to the router's 404/405
			next.ServeHTTP(w, r)
			return
		}
		if verr != nil {
			challenge := `Bearer realm="wallet"`
			if r.Header.Get("Authorization") != "" { // RFC 6750: no error code for a request without credentials
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			problem.Write(w, r, nil, problem.New(problem.Unauthorized, "a valid bearer token is required"))
			return
		}
		if !g.allowed(r.Method, route, claims.Role) {
			problem.Write(w, r, nil, problem.New(problem.Forbidden, "role %s may not %s %s", claims.Role, r.Method, route))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Guard) authenticate(r *http.Request) (Claims, error) {
	if g.verifier.cfg.Disabled {
		return g.verifier.Verify(r.Context(), "")
	}
	tok, ok := bearer(r)
	if !ok {
		return Claims{}, ErrInvalid
	}
	return g.verifier.Verify(r.Context(), tok)
}

func (g *Guard) isPublic(route string) bool {
	for _, p := range g.policy.Public {
		if p == route || (strings.HasSuffix(p, "/") && strings.HasPrefix(route, p)) {
			return true
		}
	}
	return false
}

// allowed looks up "METHOD template", then "* template" (any method).
func (g *Guard) allowed(method, route string, role Role) bool {
	roles, ok := g.policy.Routes[method+" "+route]
	if !ok {
		roles = g.policy.Routes["* "+route]
	}
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// HealthPolicy is the part of a policy every service shares: health,
// metrics and the API's OpenAPI document are public (probes and Prometheus
// carry no token; /readyz shows details to operators only), profiles are
// for operators.
func HealthPolicy(routes map[string][]Role) Policy {
	p := Policy{Routes: map[string][]Role{}, Public: []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml"}}
	for _, r := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile", "/debug/pprof/symbol", "/debug/pprof/trace", "/debug/pprof/{name}"} {
		p.Routes["* "+r] = []Role{Operator}
	}
	for k, v := range routes {
		p.Routes[k] = v
	}
	return p
}

// FromConfig builds a service's guard from the auth and http sections,
// so every service reads the configuration the same way.
func FromConfig(a config.AuthConfig, h config.HTTPConfig, p Policy, log *slog.Logger) (*Guard, error) {
	v, err := NewVerifier(Config{Secret: a.JWTSecret, JWKSURL: a.JWKSURL, Issuer: a.Issuer,
		Audience: a.Audience, Disabled: a.Disabled}, nil, log)
	if err != nil {
		return nil, err
	}
	return NewGuard(v, NewLimiter(h.RateLimit, h.RateBurst), p, log), nil
}
