package account

import (
	"cmp"
	"slices"
	"time"
)

// Direction tells whether a listed transfer left or reached the account.
type Direction string

// Directions of a listed transfer.
const (
	Outgoing Direction = "outgoing"
	Incoming Direction = "incoming"
)

// Listed is one transfer in an account's list.
type Listed struct {
	Transfer
	Direction Direction
}

// TransferCursor is the last transfer of a page of an account's transfers;
// the next page starts after it. The list is newest first, ties broken by
// the key, so every transfer has one place in it.
type TransferCursor struct {
	CreatedAt     time.Time
	TransactionID string
	From          string
}

// Cursor returns l's position in the list.
func (l Listed) Cursor() TransferCursor {
	return TransferCursor{CreatedAt: l.CreatedAt, TransactionID: l.TransactionID, From: l.From}
}

// compareListed orders an account's transfers: newest first, then by key
// descending.
func compareListed(a, b TransferCursor) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	if c := cmp.Compare(b.TransactionID, a.TransactionID); c != 0 {
		return c
	}
	return cmp.Compare(b.From, a.From)
}

// MergeListed merges the pages read from an account's transfers and
// incoming credits into one page of at most limit, in list order; more
// reports that transfers follow it.
func MergeListed(limit int, parts ...[]Listed) (page []Listed, more bool) {
	for _, p := range parts {
		page = append(page, p...)
	}
	slices.SortFunc(page, func(a, b Listed) int { return compareListed(a.Cursor(), b.Cursor()) })
	if len(page) > limit {
		return page[:limit], true
	}
	return page, false
}
