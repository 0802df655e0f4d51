package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/pkg/auth"
)

// slowIDP serves one RSA key until hang is set; then every request hangs
// until the client gives up or the test ends. down makes it answer 503.
type slowIDP struct {
	key        *rsa.PrivateKey
	url        string
	hang, down atomic.Bool
	fetches    atomic.Int32
	// unhang ends the hanging requests.
	unhang func()
}

func newSlowIDP(t *testing.T) *slowIDP {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &slowIDP{key: k}
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "k1", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())},
	}}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		if p.hang.Load() {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	p.unhang = sync.OnceFunc(func() { close(release) })
	t.Cleanup(srv.Close)
	t.Cleanup(p.unhang) // runs first: the hanging handlers return
	p.url = srv.URL
	return p
}

// With the keys cached, a hanging provider and a stream of made-up key ids
// (each a reason to fetch) do not delay a token signed with a cached key.
func TestJWKSSlowProviderDoesNotDelayCachedKeys(t *testing.T) {
	p := newSlowIDP(t)
	v, err := auth.NewVerifier(auth.Config{JWKSURL: p.url, Issuer: "https://idp.example", Audience: "wallet"}, &http.Client{Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth.SetMinRefetch(v, 50*time.Millisecond)
	good := sign(t, jwt.SigningMethodRS256, "k1", p.key, claims(nil))
	if _, err := v.Verify(t.Context(), good); err != nil {
		t.Fatalf("k1: %v", err)
	}
	p.hang.Store(true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // forged kids, each able to start a fetch that hangs
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			wg.Go(func() {
				_, _ = v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, fmt.Sprint("forged-", i), p.key, claims(nil)))
			})
		}
	})
	time.Sleep(200 * time.Millisecond) // some fetches are hanging now
	var worst time.Duration
	for range 20 {
		start := time.Now()
		if _, err := v.Verify(t.Context(), good); err != nil {
			t.Errorf("cached k1 while the provider hangs: %v", err)
		}
		worst = max(worst, time.Since(start))
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	p.unhang()
	t.Logf("slowest of 20 verifications with a cached key while the provider hangs for 5 s: %v (fetches started: %d)", worst, p.fetches.Load())
	if worst > time.Second {
		t.Errorf("a verification with a cached key took %v: it waited for the provider", worst)
	}
	if p.fetches.Load() < 2 {
		t.Errorf("fetches = %d: the forged kids never reached the provider, the test shows nothing", p.fetches.Load())
	}
	wg.Wait()
}

// With the provider down and no key ever fetched, every token names an
// unknown key; fetches stay bounded by the refetch interval (10 s) instead
// of one per request, and each is counted in wallet_auth_jwks_fetches_total.
func TestJWKSForgedKidsAreBounded(t *testing.T) {
	p := newSlowIDP(t)
	p.down.Store(true)
	before := testutil.ToFloat64(auth.JWKSFetches.WithLabelValues("error"))
	v, err := auth.NewVerifier(auth.Config{JWKSURL: p.url, Issuer: "https://idp.example", Audience: "wallet"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := 0
	for start := time.Now(); time.Since(start) < time.Second; forged++ {
		tok := sign(t, jwt.SigningMethodRS256, fmt.Sprint("forged-", forged), p.key, claims(nil))
		if _, err := v.Verify(t.Context(), tok); err == nil {
			t.Fatal("a token with a made-up kid accepted")
		}
	}
	n := p.fetches.Load()
	t.Logf("%d tokens with made-up kids in 1 s, provider down: %d fetches", forged, n)
	// One at start, one for the first unknown kid; the next is 10 s later.
	if n > 2 {
		t.Errorf("%d fetches for %d forged tokens in 1 s, want at most 2", n, forged)
	}
	if got := testutil.ToFloat64(auth.JWKSFetches.WithLabelValues("error")) - before; got != float64(n) {
		t.Errorf("wallet_auth_jwks_fetches_total{result=error} rose by %v, the provider saw %d", got, n)
	}
}
