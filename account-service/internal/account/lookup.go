package account

import "github.com/walletco/wallet/pkg/problem"

// TransferQuery asks for the transfer a transaction id names.
type TransferQuery struct {
	TransactionID string
	// From, when set, names the source account (ids are scoped to it).
	From string
	// Owner, when set, is the customer asking: only transfers from or to
	// its own accounts are considered. Empty for operators and services.
	Owner string
}

// Lookup decides which of the transfers recorded under q's id (found) the
// query answers. owns tells whether an account belongs to q.Owner (unused
// when q.Owner is empty). A customer sees only transfers touching its own
// accounts, and those it sent before those it received: the id is the
// sender's key, so another owner reusing it can neither hide the sender's
// transfer nor learn who else used it. Several left are
// ambiguous_transaction_id, naming only source accounts the caller may see.
func Lookup(q TransferQuery, found []Transfer, owns func(accountID string) bool) (Transfer, error) {
	if q.Owner != "" {
		found = visible(found, owns)
	}
	switch {
	case len(found) == 0 && q.From != "":
		return Transfer{}, problem.New(problem.NotFound, "transfer %s from account %s does not exist", q.TransactionID, q.From)
	case len(found) == 0:
		return Transfer{}, problem.New(problem.NotFound, "transfer %s does not exist", q.TransactionID)
	case len(found) > 1:
		froms := make([]string, len(found))
		for i, t := range found {
			froms[i] = t.From
		}
		return Transfer{}, problem.New(problem.AmbiguousTransactionID,
			"transaction_id %s was used by %d source accounts, each for its own transfer; name one with ?from_account=", q.TransactionID, len(found)).
			With("from_accounts", froms)
	}
	return found[0], nil
}

// visible keeps the transfers sent from an owned account or, when there
// are none, those received by one.
func visible(found []Transfer, owns func(string) bool) []Transfer {
	var sent, received []Transfer
	for _, t := range found {
		switch {
		case owns(t.From):
			sent = append(sent, t)
		case owns(t.To):
			received = append(received, t)
		}
	}
	if len(sent) > 0 {
		return sent
	}
	return received
}
