package auth

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"
)

var jwksFetches = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "wallet_auth_jwks_fetches_total",
	Help: "Requests to the identity provider's JWKS by result (ok, error).",
}, []string{"result"})

const (
	refreshEvery = 15 * time.Minute
	minRefetch   = 10 * time.Second
	fetchTimeout = 10 * time.Second
)

// JWKS holds the identity provider's public keys (keyfunc/jwkset). They are
// fetched at start and every refreshEvery in the background; a token with an
// unknown key id (the provider rotated) triggers a fetch, at most one per
// minRefetch, so forged key ids cannot flood the provider. A verification
// never waits for a fetch unless it is the one that triggered it.
type JWKS struct {
	fetcher jwkset.Storage // reading an unknown kid fetches
	refetch *rate.Limiter
	kf      keyfunc.Keyfunc
}

// NewJWKS fetches the key set at url once (a failure is logged, not fatal:
// the provider may come up later) and keeps it fresh until ctx ends.
func NewJWKS(ctx context.Context, url string, hc *http.Client, log *slog.Logger) (*JWKS, error) {
	counted := *hc
	counted.Transport = countFetches{next: hc.Transport}
	cached, err := jwkset.NewStorageFromHTTP(url, jwkset.HTTPClientStorageOptions{
		Client: &counted, Ctx: ctx, HTTPTimeout: fetchTimeout, NoErrorReturnFirstHTTPReq: true,
		RefreshInterval: refreshEvery,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			log.WarnContext(ctx, "JWKS fetch failed; keeping the keys held", "err", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	// The library's own unknown-kid limiter waits for a token; ours is
	// consulted first and never waits, so this one is unlimited.
	fetcher, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{HTTPURLs: map[string]jwkset.Storage{url: cached},
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1), RateLimitWaitMax: fetchTimeout})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	j := &JWKS{fetcher: fetcher, refetch: rate.NewLimiter(rate.Every(minRefetch), 1)}
	if j.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: gated{Storage: cached, j: j}}); err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	return j, nil
}

// Key returns the verification key of t (jwt.Keyfunc).
func (j *JWKS) Key(ctx context.Context, t *jwt.Token) (any, error) {
	k, err := j.kf.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil, err
	}
	if rk, ok := k.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
		return nil, errors.New("RSA key shorter than 2048 bits")
	}
	return k, nil
}

// gated is the storage keyfunc reads: the keys held, and a fetch for an
// unknown kid only when the refetch limiter allows one now.
type gated struct {
	jwkset.Storage // the keys held
	j              *JWKS
}

func (g gated) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	k, err := g.Storage.KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) && g.j.refetch.Allow() {
		k, err = g.j.fetcher.KeyRead(ctx, kid)
	}
	if err != nil {
		return jwkset.JWK{}, err
	}
	if use := k.Marshal().USE; use != "" && use != jwkset.UseSig {
		return jwkset.JWK{}, fmt.Errorf("key %q is not for signatures", kid)
	}
	return k, nil
}

// countFetches counts the requests to the provider (background refreshes
// included) in wallet_auth_jwks_fetches_total.
type countFetches struct{ next http.RoundTripper }

func (c countFetches) RoundTrip(r *http.Request) (*http.Response, error) {
	next := c.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(r)
	if err != nil || res.StatusCode != http.StatusOK {
		jwksFetches.WithLabelValues("error").Inc()
	} else {
		jwksFetches.WithLabelValues("ok").Inc()
	}
	return res, err
}
