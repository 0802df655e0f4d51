//go:build !wallet_bug_answer_before_commit

package mysql

import (
	"context"

	"github.com/walletco/wallet/account-service/internal/account"
)

// beforeCommit runs between saving a batch and committing it: nothing. In
// system tests built with -tags wallet_bug_answer_before_commit
// (commit_bug.go) it answers the batch's callers before the commit.
func beforeCommit(context.Context, []account.Result) {}
