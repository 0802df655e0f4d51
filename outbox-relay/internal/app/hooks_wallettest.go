//go:build wallettest

package app

import (
	"log/slog"
	"os"

	"github.com/walletco/wallet/pkg/outbox"
)

// testHooks installs the fault hooks crash tests need, in binaries built
// with -tags wallettest only (systemtest.Build): with
// WALLET_TEST_STALL_AFTER_PUBLISH=true the relay hangs after JetStream
// acknowledged a batch and before it marks the rows published, so a test
// can SIGKILL it at the worst moment.
func testHooks(rc *outbox.RelayConfig, log *slog.Logger) {
	if os.Getenv("WALLET_TEST_STALL_AFTER_PUBLISH") != "true" {
		return
	}
	rc.BeforeMark = func() {
		log.Warn("test hook: stalled after publish, before marking rows published")
		select {}
	}
}
