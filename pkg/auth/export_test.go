package auth

import "time"

// SetMinRefetch lets a test see a rotated key without waiting 10 s.
func SetMinRefetch(v *Verifier, d time.Duration) { v.jwks.minRefetch = d }
