// Command ledger-service keeps the wallet's double-entry ledger: it consumes
// every event of the WALLET stream into a journal and serves balances, as-of
// balances, account history and transfer journals over HTTP; "replay"
// rebuilds the journal from the stream into an empty schema; "reconcile" is
// the reconciliation batch job; "dead-letters" lists, shows, replays and
// discards the messages consumers gave up on.
package main

import (
	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	service.Main("ledger-service", "the double-entry ledger fed by every event, and its balance API", app.Build, app.Commands()...)
}
