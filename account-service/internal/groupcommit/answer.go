package groupcommit

import "github.com/walletco/wallet/account-service/internal/account"

// answer tells p's caller its result, once, after its batch committed (done
// has room for it).
func (p *pending) answer(r account.Result) { p.done <- r }
