package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/mux"
	"github.com/walletco/wallet/pkg/auth"
)

const secret = "0123456789abcdef0123456789abcdef"

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// idp is an identity provider: a JWKS endpoint with one RSA and one EC key.
type idp struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	url     string
	fetches atomic.Int32
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{rsa: rk, ec: ek}
	ecPub, err := ek.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecPub[1:33]), "y": b64(ecPub[33:])},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "u-alice", "role": "customer", "iss": "https://idp.example", "aud": "wallet",
		"exp": time.Now().Add(time.Hour).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	p := newIDP(t)
	v, err := auth.NewVerifier(auth.Config{JWKSURL: p.url, Issuer: "https://idp.example", Audience: "wallet"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := auth.NewVerifier(auth.Config{Secret: secret, Issuer: "https://idp.example", Audience: "wallet"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	none := sign(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, claims(nil))
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims(nil)), true},
		{"RS256 from the JWKS", sign(t, jwt.SigningMethodRS256, "r1", p.rsa, claims(nil)), true},
		{"ES256 from the JWKS", sign(t, jwt.SigningMethodES256, "e1", p.ec, claims(nil)), true},
		{"alg none", none, false},
		{"expired", sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), false},
		{"no expiry", sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, "r1", p.rsa, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), false},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, "r1", p.rsa, claims(func(c jwt.MapClaims) { c["aud"] = "other" })), false},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, "", []byte("another-secret-another-secret-!!"), claims(nil)), false},
		{"key not in the JWKS", sign(t, jwt.SigningMethodRS256, "r1", other, claims(nil)), false},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, "r9", p.rsa, claims(nil)), false},
		{"unknown role", sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims(func(c jwt.MapClaims) { c["role"] = "admin" })), false},
		{"no subject", sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims(func(c jwt.MapClaims) { delete(c, "sub") })), false},
		{"garbage", "a.b.c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// HS256 passes the secret's verifier only, the rest the JWKS's only.
			c, err := v.Verify(t.Context(), tt.token)
			if hc, herr := hs.Verify(t.Context(), tt.token); herr == nil {
				if err == nil {
					t.Fatal("accepted by both the JWKS and the secret")
				}
				c, err = hc, nil
			}
			if tt.ok && (err != nil || c != (auth.Claims{Subject: "u-alice", Role: auth.Customer})) {
				t.Fatalf("refused or wrong claims %+v: %v", c, err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("accepted: %+v", c)
			}
		})
	}
	// The keys are cached: the unknown kid cost at most one more fetch.
	if n := p.fetches.Load(); n > 2 {
		t.Errorf("JWKS fetched %d times, want the keys cached", n)
	}
}

// An HS256 token is refused when only a JWKS is configured, so a public key
// cannot be abused as an HMAC secret.
func TestVerifyHS256WithoutSecret(t *testing.T) {
	p := newIDP(t)
	v, err := auth.NewVerifier(auth.Config{JWKSURL: p.url, Issuer: "https://idp.example", Audience: "wallet"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims(nil))); err == nil {
		t.Fatal("HS256 accepted without a secret")
	}
}

func TestNewVerifierNeedsAKeySource(t *testing.T) {
	if _, err := auth.NewVerifier(auth.Config{}, nil, nil); err == nil {
		t.Error("no secret, no JWKS: accepted")
	}
	if _, err := auth.NewVerifier(auth.Config{Secret: "short"}, nil, nil); err == nil {
		t.Error("a short secret: accepted")
	}
}

// With an identity provider, a local HS256 secret would be a master key and
// tokens without the provider's issuer and this audience must not pass.
func TestNewVerifierWithJWKSIsStrict(t *testing.T) {
	p := newIDP(t)
	for name, c := range map[string]auth.Config{
		"and a secret":  {JWKSURL: p.url, Issuer: "https://idp.example", Audience: "wallet", Secret: secret},
		"and no issuer": {JWKSURL: p.url, Audience: "wallet"},
		"no audience":   {JWKSURL: p.url, Issuer: "https://idp.example"},
	} {
		if _, err := auth.NewVerifier(c, nil, nil); err == nil {
			t.Errorf("JWKS %s: accepted", name)
		}
	}
}

func guarded(t *testing.T, perSecond float64, disabled bool) *httptest.Server {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Secret: secret, Disabled: disabled}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := mux.NewRouter()
	r.HandleFunc("/staff", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }).Methods("POST")
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	r.HandleFunc("/unlisted", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	p := auth.HealthPolicy(map[string][]auth.Role{"POST /staff": {auth.Operator}})
	r.Use(auth.NewGuard(v, auth.NewLimiter(perSecond, int(perSecond)), p, slog.New(slog.DiscardHandler)).Middleware)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res
}

func mint(t *testing.T, role auth.Role) string {
	t.Helper()
	tok, err := auth.Mint(secret, "someone", role, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestGuard(t *testing.T) {
	srv := guarded(t, 0, false)
	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"operator", "POST", "/staff", mint(t, auth.Operator), 200},
		{"no token", "POST", "/staff", "", 401},
		{"bad token", "POST", "/staff", "xyz", 401},
		{"customer on a staff route", "POST", "/staff", mint(t, auth.Customer), 403},
		{"service on a staff route", "POST", "/staff", mint(t, auth.Service), 403},
		{"a route no policy lists", "GET", "/unlisted", mint(t, auth.Operator), 403},
		{"public", "GET", "/healthz", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, tt.method, srv.URL+tt.path, tt.token)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestGuardDisabled(t *testing.T) {
	srv := guarded(t, 0, true)
	if res := call(t, "POST", srv.URL+"/staff", ""); res.StatusCode != 200 {
		t.Fatalf("auth.disabled: status %d, want 200", res.StatusCode)
	}
}

// A client past its rate gets 429 with Retry-After; operators are not limited.
func TestRateLimit(t *testing.T) {
	srv := guarded(t, 2, false)
	customer := mint(t, auth.Customer)
	var limited *http.Response
	for range 10 {
		if res := call(t, "POST", srv.URL+"/staff", customer); res.StatusCode == http.StatusTooManyRequests {
			limited = res
			break
		}
	}
	if limited == nil {
		t.Fatal("10 requests at once at 2/s: never limited")
	}
	if s, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", limited.Header.Get("Retry-After"))
	}
	var anon bool
	for range 10 {
		if call(t, "GET", srv.URL+"/healthz", "").StatusCode == http.StatusTooManyRequests {
			anon = true
		}
	}
	if !anon {
		t.Error("anonymous requests by IP: never limited")
	}
	op := mint(t, auth.Operator)
	for range 20 {
		if res := call(t, "POST", srv.URL+"/staff", op); res.StatusCode != 200 {
			t.Fatalf("operator: status %d", res.StatusCode)
		}
	}
}

// The provider rotates: a token signed with a key the cache has not seen
// makes the verifier fetch the set again and accept it; a failed fetch
// keeps the keys already known.
func TestJWKSRotation(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk := func(kid string, k *rsa.PrivateKey) map[string]string {
		return map[string]string{"kty": "RSA", "kid": kid, "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	}
	var keys atomic.Value
	keys.Store([]map[string]string{jwk("k1", k1)})
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys.Load()})
	}))
	t.Cleanup(srv.Close)
	v, err := auth.NewVerifier(auth.Config{JWKSURL: srv.URL, Issuer: "https://idp.example", Audience: "wallet"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth.SetMinRefetch(v, 0)
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, "k1", k1, claims(nil))); err != nil {
		t.Fatalf("k1: %v", err)
	}
	keys.Store([]map[string]string{jwk("k1", k1), jwk("k2", k2)})
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, "k2", k2, claims(nil))); err != nil {
		t.Fatalf("k2 after rotation: %v", err)
	}
	down.Store(true)
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, "k3", k2, claims(nil))); err == nil {
		t.Fatal("unknown k3 accepted")
	}
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, "k1", k1, claims(nil))); err != nil {
		t.Fatalf("k1 while the provider is down: %v", err)
	}
}
