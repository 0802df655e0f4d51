package saga

import (
	"sync"

	"github.com/walletco/wallet/account-service/internal/account"
)

// Waiter wakes requests waiting for a transfer's end: the group-commit
// writer hands it every transfer whose settle step just committed in this
// process. A settle in another instance is found by the request's next poll
// (httpapi's await), which is cheaper than sending every terminal event to
// every instance over NATS.
type Waiter struct {
	mu      sync.Mutex
	waiting map[account.Key][]chan account.Transfer // by transfer key: ids alone are not unique
}

// NewWaiter returns a waiter with nobody waiting.
func NewWaiter() *Waiter { return &Waiter{waiting: map[account.Key][]chan account.Transfer{}} }

// Ended hands t, whose saga ended in this process (its settle step just
// committed), to the requests waiting for it.
func (w *Waiter) Ended(t account.Transfer) {
	w.mu.Lock()
	chans := w.waiting[t.Key()]
	delete(w.waiting, t.Key())
	w.mu.Unlock()
	for _, c := range chans {
		c <- t
		close(c)
	}
}

// Watch returns a channel that receives the transfer k when this process
// settles it, and a function to stop watching.
func (w *Waiter) Watch(k account.Key) (<-chan account.Transfer, func()) {
	c := make(chan account.Transfer, 1)
	w.mu.Lock()
	w.waiting[k] = append(w.waiting[k], c)
	w.mu.Unlock()
	return c, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.waiting[k]
		for i, x := range list {
			if x == c {
				w.waiting[k] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(w.waiting[k]) == 0 {
			delete(w.waiting, k)
		}
	}
}
