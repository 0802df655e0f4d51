//go:build wallet_bug_answer_before_commit

package mysql

import (
	"context"

	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
)

// beforeCommit answers the batch's callers before the commit in this
// deliberately broken test build (see commit.go).
func beforeCommit(ctx context.Context, out []account.Result) { groupcommit.BeforeCommit(ctx, out) }
