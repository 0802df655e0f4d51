package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// FreePorts reserves n distinct loopback ports, until the test ends, for
// servers that must be given their port (MariaDB, nats-server, a service
// the test restarts on the same address). See reservePorts.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, release, err := reservePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return ports
}

// reservePorts draws n ports below the kernel's ephemeral range: no
// connection's local port and no listener on :0 ever takes one, so the
// port is still free when the server binds it seconds later, or binds it
// again after a restart. A lock file per port, held until release, keeps
// test binaries running side by side from drawing the same one; the lock
// dies with the process that held it.
func reservePorts(n int) (ports []int, release func(), err error) {
	lo, hi := portRange()
	return reservePortsIn(portLocks(), lo, hi, n)
}

// portLocks is the directory of the ports' lock files, shared by every
// test binary on the machine.
func portLocks() string { return filepath.Join(os.TempDir(), "wallet-test-ports") }

// reservePortsIn draws n ports of [lo, hi) with their locks in dir.
func reservePortsIn(dir string, lo, hi, n int) (ports []int, release func(), err error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, nil, err
	}
	var held []*os.File
	release = func() {
		for _, f := range held {
			f.Close() // drops the lock
		}
	}
	start := lo + rand.IntN(hi-lo)
	for i := 0; i < hi-lo && len(ports) < n; i++ {
		port := lo + (start-lo+i)%(hi-lo)
		f, ok := lockPort(dir, port)
		if !ok {
			continue
		}
		// Another program (not one of ours) may listen there.
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			f.Close()
			continue
		}
		l.Close()
		held = append(held, f)
		ports = append(ports, port)
	}
	if len(ports) < n {
		release()
		return nil, nil, fmt.Errorf("testenv: only %d of %d free ports in %d-%d", len(ports), n, lo, hi)
	}
	return ports, release, nil
}

// lockPort takes the lock on port's file in dir, without waiting.
func lockPort(dir string, port int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// portRange is [20000, start of the ephemeral range): clear of the local
// stack's fixed ports (3307, 4222, 8080…) and of the kernel's picks.
func portRange() (lo, hi int) {
	lo, hi = 20000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > lo+1000 {
				hi = v
			}
		}
	}
	return lo, hi
}
