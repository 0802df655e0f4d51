package testenv

import (
	"testing"
	"time"
)

// Eventually calls check every tick until it returns nil, and fails the test
// with check's last error if that does not happen within timeout.
func Eventually(t testing.TB, timeout, tick time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached within %v: %v", timeout, err)
		}
		time.Sleep(tick)
	}
}
