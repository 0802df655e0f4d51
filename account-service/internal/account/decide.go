package account

import (
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/problem"
	"github.com/walletco/wallet/pkg/shard"
)

// transfer decides a transfer whose source lives on this shard: at once when
// the destination does too, else the saga's first step (debit). A refusal is
// recorded under the transfer's key and replayed (see refuseTransfer).
func (b *Batch) transfer(req TransferRequest) (Transfer, error) {
	hash := req.Hash()
	if t, ok := b.Transfers[req.Key()]; ok {
		return *t, replay(t.Hash, hash, req.TransactionID, t.Refusal)
	}
	t, err := b.newTransfer(req, hash)
	if err != nil {
		return Transfer{}, b.refuseTransfer(req, hash, err)
	}
	return t, nil
}

func (b *Batch) newTransfer(req TransferRequest, hash string) (Transfer, error) {
	if shard.Of(req.From, b.Shards) != b.Shard {
		return Transfer{}, ErrMisrouted
	}
	src, err := b.account(req.From)
	if err != nil {
		return Transfer{}, err
	}
	to := shard.Of(req.To, b.Shards)
	if to != b.Shard {
		return b.debit(req, hash, src, to)
	}
	dst, err := b.account(req.To)
	if err != nil {
		return Transfer{}, err
	}
	if err := src.CanSend(req.Amount); err != nil {
		return Transfer{}, err
	}
	if err := dst.CanReceive(req.Amount); err != nil {
		return Transfer{}, err
	}
	b.add(src, req.Amount.Decimal().Neg())
	b.add(dst, req.Amount.Decimal())
	t := b.record(req, hash, b.Shard, Completed, StepCompleted)
	b.emit(NewEvent(b.Shard, events.TransferCompleted, t.TransactionID, b.Shard,
		TransferPayload(t, BalanceOf(*src), BalanceOf(*dst)), b.Now))
	return t, nil
}

// debit is saga step 1: debit the source, record the transfer pending and
// send transfer.debited to the destination's shard.
func (b *Batch) debit(req TransferRequest, hash string, src *Account, to int) (Transfer, error) {
	if err := src.CanSend(req.Amount); err != nil {
		return Transfer{}, err
	}
	b.add(src, req.Amount.Decimal().Neg())
	t := b.record(req, hash, to, Pending, StepDebited)
	b.emit(NewEvent(b.Shard, events.TransferDebited, t.TransactionID, to, TransferPayload(t, BalanceOf(*src)), b.Now))
	return t, nil
}

func (b *Batch) record(req TransferRequest, hash string, to int, st TransferStatus, step string) Transfer {
	t := &Transfer{TransactionID: req.TransactionID, Hash: hash, From: req.From, To: req.To, Amount: req.Amount,
		FromShard: b.Shard, ToShard: to, Status: st, CreatedAt: b.Now, UpdatedAt: b.Now,
		Steps: []Step{{Name: step, Shard: b.Shard, At: b.Now}}}
	b.Transfers[t.Key()] = t
	b.Changes.Transfers = append(b.Changes.Transfers, t)
	if to != b.Shard {
		// A same-shard transfer's only step is its creation: the transfer
		// row says it (see SameShardSteps), so no step row is written.
		b.step(t.Key(), step)
	}
	return *t
}

// move decides a deposit or withdrawal; a refusal is recorded under its key
// and replayed, as a transfer's is.
func (b *Batch) move(req MovementRequest) (Movement, error) {
	hash := req.Hash()
	if m, ok := b.Movements[req.TransactionID]; ok {
		return *m, replay(m.Hash, hash, req.TransactionID, m.Refusal)
	}
	m, err := b.newMovement(req, hash)
	if err != nil {
		return Movement{}, b.refuseMovement(req, hash, err)
	}
	return m, nil
}

func (b *Batch) newMovement(req MovementRequest, hash string) (Movement, error) {
	if shard.Of(req.AccountID, b.Shards) != b.Shard {
		return Movement{}, ErrMisrouted
	}
	a, err := b.account(req.AccountID)
	if err != nil {
		return Movement{}, err
	}
	delta, typ := req.Amount.Decimal(), events.AccountDeposited
	if req.Kind == Withdrawal {
		if err := a.CanSend(req.Amount); err != nil {
			return Movement{}, err
		}
		delta, typ = delta.Neg(), events.AccountWithdrawn
	} else if err := a.CanReceive(req.Amount); err != nil {
		return Movement{}, err
	}
	b.add(a, delta)
	m := &Movement{TransactionID: req.TransactionID, Hash: hash, Kind: req.Kind, AccountID: a.ID, Amount: req.Amount,
		BalanceAfter: a.Balance, Version: a.Version, CreatedAt: b.Now}
	b.Movements[m.TransactionID] = m
	b.Changes.Movements = append(b.Changes.Movements, *m)
	b.emit(NewEvent(b.Shard, typ, a.ID, b.Shard, MovementPayload(*m, a.Currency), b.Now))
	return *m, nil
}

// credit is saga step 2 on the destination shard, for transfer.debited: it
// credits the destination and emits transfer.credited, or emits
// transfer.credit_rejected with the reason. A debit seen again (a
// redelivery, or a redrive under a new event id) gets the same answer and
// moves no money. A reject reason rejects a credit not decided before.
func (b *Batch) credit(e SagaEvent, reject problem.Code) error {
	// Routed by the destination account, not by the event's shard numbers,
	// which are the old count's for an event sent before a split.
	t := e.Transfer.OnShards(b.Shards)
	if t.ToShard != b.Shard {
		return ErrMisrouted
	}
	if b.Seen[e.ID] {
		return nil
	}
	b.seen(e.ID)
	c, replayed := b.decideCredit(t, reject)
	if c.Status == StepCredited {
		var balances []events.Balance
		if c.Balance != nil && !replayed {
			// A replayed answer changed no balance: it carries none, so the
			// destination's versions stay one change apart in the outbox.
			balances = append(balances, *c.Balance)
		}
		b.emit(NewEvent(b.Shard, events.TransferCredited, t.TransactionID, t.FromShard, TransferPayload(t, balances...), b.Now))
		return nil
	}
	t.Reason = c.Reason
	b.emit(NewEvent(b.Shard, events.TransferCreditRejected, t.TransactionID, t.FromShard, TransferPayload(t), b.Now))
	return nil
}

// decideCredit returns the credit step's outcome for t, and whether it is
// the stored answer to an earlier delivery of the same debit.
func (b *Batch) decideCredit(t Transfer, reject problem.Code) (Credit, bool) {
	hash := requestOf(t).Hash()
	// Keyed by (transaction_id, from_account): a transfer from another
	// source account under the same id is another transfer, credited on
	// its own, even when this shard also used the id as a source.
	if c, ok := b.Credits[t.Key()]; ok {
		if c.RequestHash == hash {
			return *c, true
		}
		// The source shard refuses a reused key with another body before
		// any debit, so this is a debit that does not match its own
		// transfer (tampered, or the shard map changed): reject it, keep
		// the record.
		return Credit{Status: StepCreditRejected, Reason: problem.IdempotencyConflict}, true
	}
	c := &Credit{TransactionID: t.TransactionID, RequestHash: hash, From: t.From, To: t.To, Amount: t.Amount,
		FromShard: t.FromShard, Status: StepCredited, CreatedAt: b.Now}
	if reject != "" {
		c.Status, c.Reason = StepCreditRejected, reject
	} else if dst, err := b.account(t.To); err != nil {
		c.Status, c.Reason = StepCreditRejected, problem.AccountNotFound
	} else if err := dst.CanReceive(t.Amount); err != nil {
		c.Status, c.Reason = StepCreditRejected, problem.CodeOf(err)
	} else {
		b.add(dst, t.Amount.Decimal())
		bal := BalanceOf(*dst)
		c.Balance = &bal
	}
	b.Credits[t.Key()] = c
	b.Changes.Credits = append(b.Changes.Credits, *c)
	b.step(t.Key(), c.Status)
	return *c, false
}

// settle is saga step 3 on the source shard, for transfer.credited (mark
// completed) and transfer.credit_rejected (refund the source, mark failed).
// An outcome for a transfer that already ended changes nothing.
func (b *Batch) settle(e SagaEvent) (Transfer, error) {
	t := e.Transfer.OnShards(b.Shards) // by the source account, as credit does
	if t.FromShard != b.Shard {
		return Transfer{}, ErrMisrouted
	}
	if b.Seen[e.ID] {
		return Transfer{}, nil
	}
	rec, ok := b.Transfers[t.Key()]
	if !ok || rec.Hash != requestOf(t).Hash() || rec.Status == Refused {
		return Transfer{}, ErrUnknownTransfer // a refused transfer was never debited: no saga of it can exist
	}
	if rec.Status != Pending {
		b.seen(e.ID) // ended already: a late or repeated outcome changes nothing
		return *rec, nil
	}
	if e.Type == events.TransferCredited {
		b.seen(e.ID)
		b.end(rec, Completed, "", StepCompleted)
		t.Reason = ""
		b.emit(NewEvent(b.Shard, events.TransferCompleted, t.TransactionID, b.Shard, TransferPayload(t), b.Now))
		return *rec, nil
	}
	// The money left the source for this transfer and comes back whatever
	// the source's status is now, and even above money.MaxBalance (deposits
	// may have refilled the source meanwhile): refusing a refund would lose
	// the money. The ceiling's headroom below the column absorbs it.
	src, err := b.account(t.From)
	if err != nil {
		return Transfer{}, err
	}
	b.seen(e.ID)
	b.add(src, t.Amount.Decimal())
	b.end(rec, Failed, t.Reason, StepRefunded)
	b.emit(NewEvent(b.Shard, events.TransferFailed, t.TransactionID, b.Shard, TransferPayload(t, BalanceOf(*src)), b.Now))
	return *rec, nil
}

func (b *Batch) end(t *Transfer, st TransferStatus, reason problem.Code, step string) {
	t.Status, t.Reason, t.UpdatedAt = st, reason, b.Now
	b.Changes.Settled = append(b.Changes.Settled, t)
	b.step(t.Key(), step)
}

func (b *Batch) seen(eventID string) {
	b.Seen[eventID] = true
	b.Changes.Inbox = append(b.Changes.Inbox, eventID)
}
