package auth_test

import (
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/auth"
)

// FuzzVerify: no input panics the verifier, and nothing but a token signed
// with the secret, with a known role and a subject, is accepted. The
// corpus is in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	good, err := auth.Mint(secret, "u-alice", auth.Customer, time.Hour, "", "")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", ".", "..", "a.b.c", good + "x",
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6Im9wZXJhdG9yIiwiZXhwIjo5OTk5OTk5OTk5fQ."} {
		f.Add(s)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: secret}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(t.Context(), raw)
		if err != nil {
			return
		}
		// Only the secret's holder signs: whatever was accepted says what
		// the one signed token says (base64's spare bits may differ).
		if c != (auth.Claims{Subject: "u-alice", Role: auth.Customer}) {
			t.Fatalf("accepted %q as %+v", raw, c)
		}
	})
}
