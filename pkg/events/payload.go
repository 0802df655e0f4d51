package events

// Account is the payload of account.opened and account.status_changed.
type Account struct {
	AccountID    string `json:"account_id"`
	OwnerID      string `json:"owner_id"`
	Currency     string `json:"currency"`
	Status       string `json:"status"`
	BalanceAfter string `json:"balance_after"`
	Version      int64  `json:"version"`
	Shard        int    `json:"shard"`
}

// Movement is the payload of account.deposited and account.withdrawn.
type Movement struct {
	TransactionID string `json:"transaction_id"`
	AccountID     string `json:"account_id"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	BalanceAfter  string `json:"balance_after"`
	Version       int64  `json:"version"`
}

// Transfer is the payload of every transfer.* event. Balances lists the
// accounts whose balance this step changed: the source for debited and failed
// (refund), the destination for credited (none when a redriven debit gets
// the stored answer again), both for a same-shard completed,
// none for credit_rejected and a cross-shard completed. Reason is a
// problem code, set on credit_rejected and failed.
type Transfer struct {
	TransactionID string    `json:"transaction_id"`
	FromAccount   string    `json:"from_account"`
	ToAccount     string    `json:"to_account"`
	Amount        string    `json:"amount"`
	Currency      string    `json:"currency"`
	FromShard     int       `json:"from_shard"`
	ToShard       int       `json:"to_shard"`
	Reason        string    `json:"reason,omitempty"`
	Balances      []Balance `json:"balances,omitempty"`
}

// Balance is an account's balance and version right after an event.
type Balance struct {
	AccountID    string `json:"account_id"`
	BalanceAfter string `json:"balance_after"`
	Version      int64  `json:"version"`
}
