//go:build wallet_bug_answer_before_commit

package groupcommit

import (
	"context"
	"time"

	"github.com/walletco/wallet/account-service/internal/account"
)

// This deliberately broken test build answers a batch's callers before its
// transaction commits and then waits before committing, so that a crash in
// that window loses work its callers were told succeeded (see answer.go).

type earlyKey struct{}

// answer never blocks: a caller answered before the commit is not answered
// again after it, even if the commit failed.
func (p *pending) answer(r account.Result) {
	select {
	case p.done <- r:
	default:
	}
}

// answerEarly lets the store answer ps's callers through BeforeCommit.
func answerEarly(ctx context.Context, ps []*pending) context.Context {
	return context.WithValue(ctx, earlyKey{}, func(res []account.Result) {
		for i := range min(len(ps), len(res)) {
			ps[i].answer(res[i])
		}
	})
}

// BeforeCommit is called by the store (mysql.Store.Apply, in this build)
// after it saved a batch and before it commits: it answers the batch's
// callers with their results and then waits 300 ms.
func BeforeCommit(ctx context.Context, res []account.Result) {
	if answer, ok := ctx.Value(earlyKey{}).(func([]account.Result)); ok {
		answer(res)
		time.Sleep(300 * time.Millisecond)
	}
}
