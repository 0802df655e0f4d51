package systemtest

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/walletco/wallet/pkg/testenv"
)

var binDir string

// EnvBin names a directory several systemtest processes share the
// binaries of (make test runs two at once): the first to get there builds
// them, the others use them, and whoever set it removes it. Unset, each
// process builds its own and removes them when it ends.
const EnvBin = "WALLET_SYSTEST_BIN"

func TestMain(m *testing.M) {
	dir := os.Getenv(EnvBin)
	shared := dir != ""
	var err error
	if shared {
		err = buildShared(dir)
	} else if dir, err = os.MkdirTemp("", "wallet-bin-"); err == nil {
		if err = Build(dir, ""); err != nil {
			os.RemoveAll(dir)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	code := testenv.Run(m)
	if !shared {
		os.RemoveAll(dir) // the binaries, some 80 MB
	}
	os.Exit(code)
}

// buildShared builds the binaries into dir unless another process has:
// under an exclusive lock on dir/.lock, so the others wait for the first.
func buildShared(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	built := filepath.Join(dir, ".built")
	if _, err := os.Stat(built); err == nil {
		return nil
	}
	if err := Build(dir, ""); err != nil {
		return err
	}
	return os.WriteFile(built, nil, 0o644)
}
