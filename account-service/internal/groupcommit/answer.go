package groupcommit

import "github.com/walletco/wallet/account-service/internal/account"

// answer tells p's caller its result, once, after its batch committed (done
// has room for it; a TryMany caller waits for all its operations at once).
func (p *pending) answer(r account.Result) {
	if p.many != nil {
		p.many.res[p.at] = r
		p.many.wg.Done()
		return
	}
	p.done <- r
}
