//go:build !wallet_bug_answer_before_commit

package groupcommit

import (
	"context"

	"github.com/walletco/wallet/account-service/internal/account"
)

// answer tells p's caller its result, once, after its batch committed (done
// has room for it). System tests built with -tags
// wallet_bug_answer_before_commit (answer_bug.go) answer before the commit.
func (p *pending) answer(r account.Result) { p.done <- r }

// answerEarly returns ctx unchanged: no caller is answered before the commit.
func answerEarly(ctx context.Context, _ []*pending) context.Context { return ctx }
