package auth

import (
	"time"

	"golang.org/x/time/rate"
)

// SetMinRefetch lets a test see a rotated key without waiting 10 s.
func SetMinRefetch(v *Verifier, d time.Duration) { v.jwks.refetch.SetLimit(rate.Every(d)) }

// JWKSFetches is wallet_auth_jwks_fetches_total.
var JWKSFetches = jwksFetches
