// Package auth authenticates HTTP requests with bearer JWTs and authorizes
// them by role: HS256 with a shared secret for the local stack, RS256 or
// ES256 keys from an identity provider's JWKS for production. Both services
// use it through Guard, their one gate in front of every route.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a caller may do.
type Role string

// The roles. A customer's subject is its owner_id.
const (
	Customer Role = "customer"
	Operator Role = "operator"
	Service  Role = "service"
)

// Claims are the verified facts of a request's token.
type Claims struct {
	Subject string
	Role    Role
}

// Privileged reports whether c acts for the bank rather than one customer.
func (c Claims) Privileged() bool { return c.Role == Operator || c.Role == Service }

// Config says how tokens are verified.
type Config struct {
	// Secret verifies HS256 tokens (the local stack). Empty: HS256 refused.
	Secret string
	// JWKSURL serves the RS256/ES256 public keys of the identity provider.
	// With it, Issuer and Audience are required and Secret must be empty.
	JWKSURL string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// Disabled lets every request through as an operator. Local experiments only.
	Disabled bool
}

// Verifier checks tokens.
type Verifier struct {
	cfg  Config
	jwks *JWKS
}

// NewVerifier returns a verifier for cfg; hc fetches the JWKS (nil: a
// client with a 10 s timeout) and log hears of failed fetches (nil: none).
// With a JWKS it fetches the keys before it returns (at most 10 s).
func NewVerifier(cfg Config, hc *http.Client, log *slog.Logger) (*Verifier, error) {
	if !cfg.Disabled && cfg.Secret == "" && cfg.JWKSURL == "" {
		return nil, errors.New("auth: auth.jwt_secret or auth.jwks_url is required (or auth.disabled for local experiments)")
	}
	if cfg.Secret != "" && len(cfg.Secret) < 32 {
		return nil, errors.New("auth: auth.jwt_secret must be at least 32 bytes")
	}
	// With an identity provider a local HS256 secret would be a master key,
	// and tokens another of its clients was issued must not pass.
	if cfg.JWKSURL != "" && (cfg.Secret != "" || cfg.Issuer == "" || cfg.Audience == "") {
		return nil, errors.New("auth: with auth.jwks_url, auth.issuer and auth.audience are required and auth.jwt_secret is refused")
	}
	v := &Verifier{cfg: cfg}
	if cfg.JWKSURL != "" {
		if hc == nil {
			hc = &http.Client{Timeout: fetchTimeout}
		}
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		// The keys are refreshed for as long as the process runs.
		jwks, err := NewJWKS(context.Background(), cfg.JWKSURL, hc, log)
		if err != nil {
			return nil, err
		}
		v.jwks = jwks
	}
	return v, nil
}

type tokenClaims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid token")

// Verify checks the signature, expiry, issuer and audience of raw and
// returns its claims.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	if v.cfg.Disabled {
		return Claims{Subject: "auth-disabled", Role: Operator}, nil
	}
	opts := []jwt.ParserOption{
		// Only the algorithms a key source exists for; "none" never.
		jwt.WithValidMethods(v.methods()),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30 * time.Second),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	if v.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.cfg.Audience))
	}
	var tc tokenClaims
	_, err := jwt.ParseWithClaims(raw, &tc, func(t *jwt.Token) (any, error) {
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if v.cfg.Secret == "" {
				return nil, errors.New("HS256 is not accepted")
			}
			return []byte(v.cfg.Secret), nil
		default:
			if v.jwks == nil {
				return nil, errors.New("no JWKS configured")
			}
			return v.jwks.Key(ctx, t)
		}
	}, opts...)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c := Claims{Subject: tc.Subject, Role: Role(tc.Role)}
	switch c.Role {
	case Customer, Operator, Service:
	default:
		return Claims{}, fmt.Errorf("%w: unknown role %q", ErrInvalid, tc.Role)
	}
	if c.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrInvalid)
	}
	return c, nil
}

func (v *Verifier) methods() []string {
	var m []string
	if v.cfg.Secret != "" {
		m = append(m, "HS256")
	}
	if v.cfg.JWKSURL != "" {
		m = append(m, "RS256", "ES256")
	}
	return m
}

// Mint signs an HS256 token for the local stack and tests.
func Mint(secret, subject string, role Role, ttl time.Duration, issuer, audience string) (string, error) {
	now := time.Now()
	tc := tokenClaims{Role: string(role), RegisteredClaims: jwt.RegisteredClaims{
		Subject: subject, Issuer: issuer, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	if audience != "" {
		tc.Audience = jwt.ClaimStrings{audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString([]byte(secret))
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

type ctxKey struct{}

// FromContext returns the claims the Guard verified for this request.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(Claims)
	return c, ok
}

// IsOperator reports whether ctx carries an operator's claims.
func IsOperator(ctx context.Context) bool {
	c, ok := FromContext(ctx)
	return ok && c.Role == Operator
}

// WithClaims returns ctx carrying c.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}
