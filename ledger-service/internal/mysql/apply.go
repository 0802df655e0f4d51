package mysql

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/inbox"
)

var fallbacks = promauto.NewCounter(prometheus.CounterOpts{
	Name: "wallet_ledger_batch_fallbacks_total",
	Help: "Ledger batches whose transaction failed and whose events were applied one by one instead.",
})

// Apply applies one effect: ApplyBatch with a batch of one. applied is false
// for an event applied before; a conflict wraps ledger.ErrConflict.
func (s *Store) Apply(ctx context.Context, eff ledger.Effect) (applied bool, err error) {
	o := s.ApplyBatch(ctx, []ledger.Effect{eff})[0]
	return o.Applied, o.Err
}

// ApplyBatch applies effs in order in one transaction, with the result of
// applying them one after another, and returns one outcome per effect.
// Redelivered and repeated events change nothing; a conflicting effect (a
// posting in another currency than its account's) is left out with an error
// wrapping ledger.ErrConflict. Deadlocks retry the transaction; any other
// failure falls back to oneByOne, since any one event may be the cause.
func (s *Store) ApplyBatch(ctx context.Context, effs []ledger.Effect) []ledger.Outcome {
	if len(effs) == 0 {
		return nil
	}
	out, err := s.write(ctx, effs, nil)
	if err == nil {
		return out
	}
	fallbacks.Inc()
	return s.oneByOne(ctx, effs)
}

// oneByOne applies each effect in a transaction of its own. At the first
// failure other than a conflict or refused data, the effects behind it get
// the error too, so the ledger's order stays the stream's. Refused data
// (database.Permanent) is set aside in its turn: the position moves past it
// in a transaction that records it in ledger_set_aside, and its outcome wraps
// ledger.ErrConflict (ADR 0008, 0016). A failed batch of one runs again here,
// which settles a unique-key race: the retry sees the winner's rows as a
// duplicate.
func (s *Store) oneByOne(ctx context.Context, effs []ledger.Effect) []ledger.Outcome {
	out := make([]ledger.Outcome, len(effs))
	for i := range effs {
		one, err := s.write(ctx, effs[i:i+1], nil)
		if err == nil {
			out[i] = one[0]
			continue
		}
		if database.Permanent(err) {
			dataErr := err
			skip := ledger.Effect{Seq: effs[i].Seq, EventID: effs[i].EventID, EventType: effs[i].EventType, Skip: true}
			var skipped []ledger.Outcome
			if skipped, err = s.write(ctx, []ledger.Effect{skip}, map[int]error{0: dataErr}); err == nil {
				out[i] = skipped[0] // ErrEarly if it was not its turn after all
				if out[i].Err == nil {
					out[i].Err = refusedErr(dataErr)
				}
				continue
			}
		}
		for j := i; j < len(effs); j++ {
			out[j].Err = err
		}
		break
	}
	return out
}

// write applies effs in one transaction and returns their outcomes.
// refused holds, by index, why a Skip effect is set aside (data the database
// refuses). Every effect whose turn passes without its effect is recorded in
// ledger_set_aside in the same transaction (see setAside).
func (s *Store) write(ctx context.Context, effs []ledger.Effect, refused map[int]error) ([]ledger.Outcome, error) {
	var out []ledger.Outcome
	err := database.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		pos, err := lockPosition(ctx, tx)
		if err != nil {
			return err
		}
		seq := sequence(effs, pos)
		kept := make([]ledger.Effect, len(seq.kept))
		for k, i := range seq.kept {
			kept[k] = effs[i]
		}
		db, err := load(ctx, tx, kept)
		if err != nil {
			return err
		}
		p := decide(kept, db)
		out = seq.outcomes
		for k, i := range seq.kept {
			out[i] = p.outcomes[k]
		}
		if err := s.save(ctx, tx, p); err != nil {
			return err
		}
		aside := setAsideNow(effs, out, seq, refused)
		if err := s.setAside(ctx, tx, effs, aside); err != nil {
			return err
		}
		if err := setAsideBefore(ctx, tx, effs, out, seq.behind, aside); err != nil {
			return err
		}
		return savePosition(ctx, tx, pos, seq.pos)
	})
	if err != nil {
		return nil, fmt.Errorf("apply %d events from %s %s: %w", len(effs), effs[0].EventType, effs[0].EventID, err)
	}
	return out, nil
}

// load reads what the database holds about effs: inbox rows, journaled
// business keys and account currencies, one query each.
func load(ctx context.Context, tx *sqlx.Tx, effs []ledger.Effect) (stored, error) {
	var ids, txIDs, accounts []string
	for _, eff := range effs {
		ids = append(ids, eff.EventID)
		if _, ok := keyOf(eff); ok {
			txIDs = append(txIDs, eff.TransactionID)
		}
		if eff.Open != nil {
			accounts = append(accounts, eff.Open.AccountID)
		}
		for _, p := range eff.Postings {
			accounts = append(accounts, p.AccountID)
		}
	}
	events, err := inbox.Seen(ctx, tx, ledger.Consumer, dedupe(ids))
	if err != nil {
		return stored{}, err
	}
	keys, err := journaled(ctx, tx, dedupe(txIDs))
	if err != nil {
		return stored{}, err
	}
	currencies, err := currenciesOf(ctx, tx, dedupe(accounts))
	if err != nil {
		return stored{}, err
	}
	return stored{events: events, keys: keys, currencies: currencies}, nil
}

// save writes plan p: inbox rows, accounts, journal transactions, entries,
// balances.
func (s *Store) save(ctx context.Context, tx *sqlx.Tx, p plan) error {
	now := s.now()
	if err := inbox.Add(ctx, tx, ledger.Consumer, p.inbox); err != nil {
		return err
	}
	accounts, err := lockAccounts(ctx, tx, p.accounts, now)
	if err != nil {
		return err
	}
	journals, err := insertJournals(ctx, tx, p.effects, now)
	if err != nil {
		return err
	}
	if err := setOwners(ctx, tx, p.effects); err != nil {
		return err
	}
	entries, changed := post(p.effects, journals, accounts)
	if err := insertEntries(ctx, tx, entries); err != nil {
		return err
	}
	return updateBalances(ctx, tx, changed, now)
}
