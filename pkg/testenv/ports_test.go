package testenv

import (
	"net"
	"strconv"
	"testing"
)

// Ports held by one reservation are never drawn by another, and all lie
// below the ephemeral range, where no :0 listener or outgoing connection
// can land.
func TestFreePortsAreHeldUntilTheTestEnds(t *testing.T) {
	lo, hi := portRange()
	seen := map[int]bool{}
	for range 3 {
		for _, p := range FreePorts(t, 40) {
			if seen[p] {
				t.Fatalf("port %d drawn twice while reserved", p)
			}
			if p < lo || p >= hi {
				t.Fatalf("port %d outside [%d, %d)", p, lo, hi)
			}
			seen[p] = true
		}
	}
}

// A port something else listens on is not drawn.
func TestFreePortsSkipsPortsInUse(t *testing.T) {
	lo, hi := portRange()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	busy := map[int]bool{}
	for p := lo; p < hi; p += 2 { // every other port of the range
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		busy[p] = true
	}
	for _, p := range FreePorts(t, 20) {
		if busy[p] {
			t.Fatalf("port %d is in use but was drawn", p)
		}
	}
}
