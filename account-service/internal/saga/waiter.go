package saga

import (
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/pkg/events"
)

// Waiter wakes requests waiting for a transfer's end. It listens (core NATS,
// no durable state) to the terminal events the relay publishes; a missed
// notification only delays the waiter until its next poll.
type Waiter struct {
	mu      sync.Mutex
	waiting map[string][]chan account.Transfer
	subs    []*nats.Subscription
}

// NewWaiter subscribes to transfer.completed and transfer.failed of every shard.
func NewWaiter(nc *nats.Conn) (*Waiter, error) {
	w := &Waiter{waiting: map[string][]chan account.Transfer{}}
	for _, typ := range []string{events.TransferCompleted, events.TransferFailed} {
		sub, err := nc.Subscribe("wallet."+typ+".*", w.notify)
		if err != nil {
			w.Close()
			return nil, err
		}
		w.subs = append(w.subs, sub)
	}
	return w, nil
}

func (w *Waiter) notify(m *nats.Msg) { w.wake(m.Header.Get("ce-subject"), nil) }

// Ended hands t, whose saga ended in this process (its settle step just
// committed), to the requests waiting for it.
func (w *Waiter) Ended(t account.Transfer) { w.wake(t.TransactionID, &t) }

// wake closes the waiters of txID, giving each the ended transfer when it
// is known; without it (an end seen on the stream, perhaps settled by
// another instance) they read it themselves.
func (w *Waiter) wake(txID string, t *account.Transfer) {
	w.mu.Lock()
	chans := w.waiting[txID]
	delete(w.waiting, txID)
	w.mu.Unlock()
	for _, c := range chans {
		if t != nil {
			c <- *t
		}
		close(c)
	}
}

// Watch returns a channel closed when txID's saga is seen ending, after
// the ended transfer if this process settled it, and a function to stop
// watching.
func (w *Waiter) Watch(txID string) (<-chan account.Transfer, func()) {
	c := make(chan account.Transfer, 1)
	w.mu.Lock()
	w.waiting[txID] = append(w.waiting[txID], c)
	w.mu.Unlock()
	return c, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.waiting[txID]
		for i, x := range list {
			if x == c {
				w.waiting[txID] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(w.waiting[txID]) == 0 {
			delete(w.waiting, txID)
		}
	}
}

// Close unsubscribes.
func (w *Waiter) Close() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
}
