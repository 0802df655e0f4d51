package systemtest

import (
	"fmt"
	"os"
	"testing"

	"github.com/walletco/wallet/pkg/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wallet-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := Build(dir, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	binDir = dir
	code := testenv.Run(m)
	os.RemoveAll(dir) // the binaries, some 80 MB
	os.Exit(code)
}
