package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/walletco/wallet/account-service/internal/account"
)

// Accounts returns owner's accounts with ids after after, by id, at most
// limit of them; more reports that others follow. Owners' accounts are
// spread over the shards, so each shard gives its first limit+1.
func (s *Store) Accounts(ctx context.Context, owner, after string, limit int) (page []account.Account, more bool, err error) {
	for sh := range s.schemas {
		db := s.Shard(sh)
		var rows []accountRow
		if err := db.SelectContext(ctx, &rows, "SELECT "+accountColumns+" FROM accounts WHERE owner_id = ? AND account_id > ? ORDER BY account_id LIMIT ?",
			owner, after, limit+1); err != nil {
			return nil, false, fmt.Errorf("shard %d: list accounts: %w", sh, err)
		}
		for _, r := range rows {
			page = append(page, r.toAccount(sh))
		}
	}
	slices.SortFunc(page, func(a, b account.Account) int { return strings.Compare(a.ID, b.ID) })
	if len(page) > limit {
		return page[:limit], true, nil
	}
	return page, false, nil
}

// pageAfter is the keyset condition "after the cursor" of an account's
// list of transfers (newest first, then key descending), spelled out so that
// both servers read it as a range of the index, and the page's order.
func pageAfter(cursor *account.TransferCursor, limit int) (string, []any) {
	const order = " ORDER BY created_at DESC, transaction_id DESC, from_account DESC LIMIT ?"
	if cursor == nil {
		return order, []any{limit + 1}
	}
	c := cursor
	return " AND (created_at < ? OR (created_at = ? AND (transaction_id < ? OR (transaction_id = ? AND from_account < ?))))" + order,
		[]any{c.CreatedAt, c.CreatedAt, c.TransactionID, c.TransactionID, c.From, limit + 1}
}

// AccountTransfers returns a page of account id's transfers after cursor
// (nil: from the newest), at most limit of them, from its own shard: the
// transfers it sent (any status), the same-shard ones it received and the
// cross-shard credits it received (both completed: a refused or rejected
// transfer never reached it). more reports that others follow.
func (s *Store) AccountTransfers(ctx context.Context, id string, cursor *account.TransferCursor, limit int) ([]account.Listed, bool, error) {
	sh := s.ShardOf(id)
	db := s.Shard(sh)
	page, args := pageAfter(cursor, limit)
	var sent, received []transferRow
	if err := db.SelectContext(ctx, &sent, "SELECT "+transferColumns+" FROM transfers WHERE from_account = ?"+page, append([]any{id}, args...)...); err != nil {
		return nil, false, fmt.Errorf("list sent transfers: %w", err)
	}
	if err := db.SelectContext(ctx, &received, "SELECT "+transferColumns+" FROM transfers WHERE to_account = ? AND status = ?"+page,
		append([]any{id, account.Completed}, args...)...); err != nil {
		return nil, false, fmt.Errorf("list received transfers: %w", err)
	}
	var credits []creditRow
	if err := db.SelectContext(ctx, &credits, "SELECT "+creditColumns+" FROM credits WHERE to_account = ? AND status = ?"+page,
		append([]any{id, account.StepCredited}, args...)...); err != nil {
		return nil, false, fmt.Errorf("list credits: %w", err)
	}
	var parts [3][]account.Listed
	for i, rows := range [][]transferRow{sent, received} {
		dir := []account.Direction{account.Outgoing, account.Incoming}[i]
		for _, r := range rows {
			t, err := r.toTransfer()
			if err != nil {
				return nil, false, err
			}
			parts[i] = append(parts[i], account.Listed{Transfer: t, Direction: dir})
		}
	}
	for _, r := range credits {
		cr, err := r.toCredit()
		if err != nil {
			return nil, false, err
		}
		parts[2] = append(parts[2], account.Listed{Direction: account.Incoming, Transfer: account.Transfer{TransactionID: cr.TransactionID,
			From: cr.From, To: cr.To, Amount: cr.Amount, FromShard: cr.FromShard, ToShard: sh, Status: account.Completed,
			CreatedAt: cr.CreatedAt, UpdatedAt: cr.CreatedAt}})
	}
	out, more := account.MergeListed(limit, parts[:]...)
	return out, more, nil
}
