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
	p := FreePorts(t, 1)[0]
	if _, _, err := reservePortsIn(portLocks(), p, p+1, 1); err == nil {
		t.Fatalf("port %d drawn again while reserved", p)
	}
}

// A port another program listens on is not drawn, though nobody holds its
// lock.
func TestFreePortsSkipsPortsInUse(t *testing.T) {
	ports, release, err := reservePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := ports[0]
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	release()
	if got, _, err := reservePortsIn(portLocks(), p, p+1, 1); err == nil {
		t.Fatalf("port %d is in use but was drawn (%v)", p, got)
	}
}
