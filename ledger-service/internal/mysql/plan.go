package mysql

import (
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
)

// bizKey names one business event: a saga step repeated under a new event
// id (a redrive) has the same key and is journaled once. It matches the
// unique key journal_transactions_business.
type bizKey struct{ txID, typ, origin string }

// keyOf is eff's business key; ok is false for effects without one (no
// journal transaction, or no transaction id).
func keyOf(eff ledger.Effect) (k bizKey, ok bool) {
	if !eff.Journal || eff.TransactionID == "" {
		return bizKey{}, false
	}
	return bizKey{eff.TransactionID, eff.EventType, eff.Origin}, true
}

// stored is what the database holds about a batch before it is applied:
// the event ids in the inbox, the business keys journaled, and the
// currencies of the accounts the batch names.
type stored struct {
	events     map[string]bool
	keys       map[bizKey]bool
	currencies map[string]string
}

// plan is a batch decided event by event, as if the events were applied one
// after another.
type plan struct {
	// outcomes has one entry per effect of the batch, in order.
	outcomes []ledger.Outcome
	// inbox lists the event ids to record: the applied events and the
	// repeated business events (so their redelivery is a plain duplicate).
	inbox []string
	// effects are the effects to write, in event order.
	effects []ledger.Effect
	// accounts are the accounts those effects name, with their currency.
	accounts map[string]string
}

// decide plans effs against db, which it updates as it goes, so that
// duplicates inside the batch and accounts opened earlier in it count like
// stored ones. Checks run in the order Apply always ran them: redelivery,
// then repeated business event, then conflicts. A conflicting effect is
// left out and changes nothing, so the events behind it are decided as if
// it had never come.
func decide(effs []ledger.Effect, db stored) plan {
	p := plan{outcomes: make([]ledger.Outcome, len(effs)), accounts: map[string]string{}}
	for i, eff := range effs {
		if err := eff.Balanced(); err != nil {
			p.outcomes[i].Err = fmt.Errorf("%w: %v", ledger.ErrConflict, err)
			continue
		}
		if db.events[eff.EventID] {
			continue // redelivered
		}
		key, keyed := keyOf(eff)
		if keyed && db.keys[key] {
			db.events[eff.EventID] = true
			p.inbox = append(p.inbox, eff.EventID)
			continue // this transaction's step is journaled already
		}
		names, err := accountsOf(eff, db.currencies)
		if err != nil {
			p.outcomes[i].Err = fmt.Errorf("event %s: %w", eff.EventID, err)
			continue
		}
		db.events[eff.EventID] = true
		if keyed {
			db.keys[key] = true
		}
		for id, cur := range names {
			db.currencies[id], p.accounts[id] = cur, cur
		}
		p.inbox = append(p.inbox, eff.EventID)
		p.effects = append(p.effects, eff)
		p.outcomes[i].Applied = true
	}
	return p
}

// accountsOf returns the accounts eff opens or books in, with the currency
// it books them in. An account held in another currency, as known holds
// them, is a ledger.ErrConflict.
func accountsOf(eff ledger.Effect, known map[string]string) (map[string]string, error) {
	out := map[string]string{}
	add := func(id, cur string) error {
		have, ok := known[id]
		if !ok {
			have, ok = out[id]
		}
		if ok && have != cur {
			return fmt.Errorf("%w: account %s holds %s, event posts %s", ledger.ErrConflict, id, have, cur)
		}
		out[id] = cur
		return nil
	}
	if eff.Open != nil {
		if err := add(eff.Open.AccountID, eff.Open.Currency); err != nil {
			return nil, err
		}
	}
	for _, p := range eff.Postings {
		if err := add(p.AccountID, p.Currency); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newEntry is a journal_entries row to insert.
type newEntry struct {
	journalID    int64
	accountID    string
	currency     string
	amount       decimal.Decimal
	balanceAfter decimal.Decimal
	occurredAt   time.Time
}

// post books the postings of effs, in event order, on accounts (locked):
// every entry carries its account's balance right after it, so each
// balance_after is the previous one plus the entry's amount. It returns the
// entries and the accounts whose balance changed, by ascending id.
func post(effs []ledger.Effect, journals map[string]int64, accounts map[string]*accountRow) ([]newEntry, []*accountRow) {
	var entries []newEntry
	changed := map[string]*accountRow{}
	for _, eff := range effs {
		for _, p := range eff.Postings {
			a := accounts[p.AccountID]
			a.Balance = a.Balance.Add(p.Amount)
			changed[a.AccountID] = a
			entries = append(entries, newEntry{journalID: journals[eff.EventID], accountID: p.AccountID,
				currency: p.Currency, amount: p.Amount, balanceAfter: a.Balance, occurredAt: eff.OccurredAt})
		}
	}
	rows := make([]*accountRow, 0, len(changed))
	for _, a := range changed {
		rows = append(rows, a)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].AccountID < rows[j].AccountID })
	return entries, rows
}
