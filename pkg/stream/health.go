package stream

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	consumerUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wallet_consumer_up",
		Help: "1 while a durable consumer's subscription runs, 0 while it is being recreated.",
	}, []string{"consumer"})
	consumerRestarts = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_consumer_restarts_total",
		Help: "Times a durable consumer's subscription ended (consumer deleted, subscription closed) and was recreated.",
	}, []string{"consumer"})
)

// Consumer states in a Health report.
const (
	StateStarting   = "starting"
	StateRunning    = "running"
	StateRestarting = "restarting"
	StateStopped    = "stopped"
)

// ConsumerHealth is one durable consumer's state as /readyz reports it.
type ConsumerHealth struct {
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	Restarts  int       `json:"restarts"`
}

// Health collects the state of a process's durable consumers for its
// readiness check. The zero value is not usable: see NewHealth. A nil
// *Health records nothing (tests that do not look).
type Health struct {
	mu        sync.Mutex
	consumers map[string]*ConsumerHealth
}

// NewHealth returns an empty Health.
func NewHealth() *Health { return &Health{consumers: map[string]*ConsumerHealth{}} }

// set records consumer name entering state; err, if any, is why. label
// is its metrics' (ConsumerLabel).
func (h *Health) set(name, label, state string, err error) {
	up := 0.0
	if state == StateRunning {
		up = 1
	}
	consumerUp.WithLabelValues(label).Set(up)
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.consumers[name]
	if !ok {
		c = &ConsumerHealth{}
		h.consumers[name] = c
	}
	if c.State != state {
		c.State, c.Since = state, time.Now().UTC()
	}
	if state == StateRestarting {
		c.Restarts++
	}
	if err != nil {
		c.LastError = err.Error()
	}
}

// Report returns every consumer's state, by name.
func (h *Health) Report() map[string]ConsumerHealth {
	out := map[string]ConsumerHealth{}
	if h == nil {
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, c := range h.consumers {
		out[n] = *c
	}
	return out
}

// Err is nil when every consumer runs, otherwise it names the ones that do
// not: a process whose consumer is being recreated is not ready.
func (h *Health) Err() error {
	var down []string
	for n, c := range h.Report() {
		if c.State != StateRunning {
			s := fmt.Sprintf("consumer %s %s since %s", n, c.State, c.Since.Format(time.RFC3339))
			if c.LastError != "" {
				s += ": " + c.LastError
			}
			down = append(down, s)
		}
	}
	if len(down) == 0 {
		return nil
	}
	sort.Strings(down)
	return errors.New(strings.Join(down, "; "))
}
