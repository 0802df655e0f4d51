// Command account-service serves the wallet's account and transfer API and
// runs its side of the cross-shard transfer saga.
package main

import (
	"github.com/walletco/wallet/account-service/internal/app"
	"github.com/walletco/wallet/pkg/service"
)

func main() {
	service.Main("account-service", "accounts, deposits, withdrawals and transfers over HTTP, and its side of the cross-shard saga",
		app.Build, app.Commands()...)
}
