// Command outbox-relay copies committed outbox rows from every shard to
// JetStream; "republish" sends recently published rows again after the
// stream lost messages.
package main

import (
	"github.com/walletco/wallet/outbox-relay/internal/app"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	service.Main("outbox-relay", "publishes every shard's outbox to the WALLET JetStream stream", app.Build, app.Commands()...)
}
