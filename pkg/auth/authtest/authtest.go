// Package authtest mints the tokens tests send and builds the guard of a
// test server, with a fixed HS256 secret.
package authtest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/auth"
)

// Secret is the HS256 secret of test servers.
const Secret = "test-secret-test-secret-test-secret!"

// Guard returns a guard over p that accepts tokens signed with Secret and
// limits clients to perSecond requests a second (0: no limit).
func Guard(t testing.TB, p auth.Policy, perSecond float64) *auth.Guard {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Secret: Secret}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewGuard(v, auth.NewLimiter(perSecond, int(perSecond)), p, slog.New(slog.DiscardHandler))
}

// Token returns a token for subject in role, valid for an hour.
func Token(t testing.TB, role auth.Role, subject string) string {
	t.Helper()
	tok, err := auth.Mint(Secret, subject, role, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Operator is an operator's token.
func Operator(t testing.TB) string { return Token(t, auth.Operator, "ops") }
