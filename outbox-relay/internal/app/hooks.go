//go:build !wallettest

package app

import (
	"log/slog"

	"github.com/walletco/wallet/pkg/outbox"
)

// testHooks installs the fault hooks of crash tests; production builds have
// none (see hooks_wallettest.go, built with -tags wallettest).
func testHooks(*outbox.RelayConfig, *slog.Logger) {}
