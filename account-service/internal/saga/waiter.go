package saga

import (
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/walletco/wallet/pkg/events"
)

// Waiter wakes requests waiting for a transfer's end. It listens (core NATS,
// no durable state) to the terminal events the relay publishes; a missed
// notification only delays the waiter until its next poll.
type Waiter struct {
	mu      sync.Mutex
	waiting map[string][]chan struct{}
	subs    []*nats.Subscription
}

// NewWaiter subscribes to transfer.completed and transfer.failed of every shard.
func NewWaiter(nc *nats.Conn) (*Waiter, error) {
	w := &Waiter{waiting: map[string][]chan struct{}{}}
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

func (w *Waiter) notify(m *nats.Msg) { w.Ended(m.Header.Get("ce-subject")) }

// Ended wakes the requests waiting for txID: its saga was seen ending, in
// this process (after the settle step's commit) or on the stream.
func (w *Waiter) Ended(txID string) {
	w.mu.Lock()
	chans := w.waiting[txID]
	delete(w.waiting, txID)
	w.mu.Unlock()
	for _, c := range chans {
		close(c)
	}
}

// Watch returns a channel closed when txID's saga is seen ending, and a
// function to stop watching.
func (w *Waiter) Watch(txID string) (<-chan struct{}, func()) {
	c := make(chan struct{})
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
