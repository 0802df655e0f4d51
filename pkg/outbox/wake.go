package outbox

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// WakeSubject is the core NATS subject that says "shard has new outbox rows".
// It lies outside wallet.> so the WALLET stream never stores it.
func WakeSubject(shard int) string { return wakePrefix + strconv.Itoa(shard) }

// wakePrefix starts every WakeSubject; a relay subscribes once to all of
// them, wakeSubjects.
const (
	wakePrefix   = "outbox.committed."
	wakeSubjects = wakePrefix + "*"
)

// wakeShard returns the shard a wake-up names, and false for a subject
// that is not a WakeSubject.
func wakeShard(subject string) (int, bool) {
	s, ok := strings.CutPrefix(subject, wakePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// wakeEvery is the shortest gap between two wake-ups for one shard: a burst
// of commits costs the relay one poll per gap, not one per commit. 5ms (not
// 1ms) lets a busy shard's rows gather into fewer, larger polls: the relay's
// CPU fell by a third at a few thousand transfers/s, while the first commit
// after a quiet spell still wakes it at once.
const wakeEvery = 5 * time.Millisecond

// Notifier tells the relays that a shard has new outbox rows, so they poll at
// once instead of after their idle PollInterval. Writers call Committed after
// each commit. The wake-ups are fire-and-forget core NATS messages without a
// payload: a lost one only delays the rows by one PollInterval.
type Notifier struct {
	nc     *nats.Conn
	mu     sync.Mutex
	shards map[int]*wakeState
}

type wakeState struct {
	dirty     bool // a commit is not yet announced
	scheduled bool // a send is scheduled; commits until then share it
}

// NewNotifier returns a notifier that publishes on nc. It panics on a nil nc.
func NewNotifier(nc *nats.Conn) *Notifier {
	if nc == nil {
		panic("outbox: NewNotifier needs a NATS connection")
	}
	return &Notifier{nc: nc, shards: map[int]*wakeState{}}
}

// Committed announces a commit of outbox rows on shard. It never blocks on
// the network and never fails: the send happens on a timer goroutine, at
// once after a quiet spell and then at most once per wakeEvery while commits
// keep coming, with a last one after the burst so no commit goes unannounced.
// On a nil Notifier it does nothing, so writers without NATS can hold one.
func (n *Notifier) Committed(shard int) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.shards[shard]
	if s == nil {
		s = &wakeState{}
		n.shards[shard] = s
	}
	s.dirty = true
	if !s.scheduled {
		s.scheduled = true
		time.AfterFunc(0, func() { n.send(shard) })
	}
}

// send publishes one wake-up if a commit is unannounced and checks again
// after wakeEvery; with nothing to announce it stops.
func (n *Notifier) send(shard int) {
	n.mu.Lock()
	s := n.shards[shard]
	if !s.dirty {
		s.scheduled = false
		n.mu.Unlock()
		return
	}
	s.dirty = false
	n.mu.Unlock()
	// An error (connection closed, reconnect buffer full) only costs the
	// relay one PollInterval.
	_ = n.nc.Publish(WakeSubject(shard), nil)
	time.AfterFunc(wakeEvery, func() { n.send(shard) })
}
