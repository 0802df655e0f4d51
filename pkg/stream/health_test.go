package stream

import (
	"errors"
	"strings"
	"testing"
)

// A consumer that is not running makes Err name it, its state and why; a
// nil Health records nothing and reports healthy.
func TestHealth(t *testing.T) {
	h := NewHealth()
	h.set("a", "a", StateRunning, nil)
	h.set("b", "b", StateRunning, nil)
	if err := h.Err(); err != nil {
		t.Fatalf("all running: %v", err)
	}
	h.set("b", "b", StateRestarting, errors.New("consumer deleted"))
	err := h.Err()
	if err == nil || !strings.Contains(err.Error(), "consumer b restarting since") || !strings.Contains(err.Error(), "consumer deleted") ||
		strings.Contains(err.Error(), "consumer a") {
		t.Fatalf("b restarting: %v", err)
	}
	h.set("b", "b", StateRunning, nil)
	if err := h.Err(); err != nil {
		t.Fatalf("b back: %v", err)
	}
	if b := h.Report()["b"]; b.Restarts != 1 || b.LastError != "consumer deleted" || b.State != StateRunning {
		t.Fatalf("report of b: %+v", b)
	}
	var none *Health
	none.set("c", "c", StateRestarting, errors.New("x"))
	if none.Err() != nil || len(none.Report()) != 0 {
		t.Fatal("nil Health reported something")
	}
}
