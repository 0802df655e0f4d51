package database_test

import (
	"testing"

	"github.com/walletco/wallet/pkg/database"
)

func TestTuples(t *testing.T) {
	for _, c := range []struct {
		n, width int
		want     string
	}{
		{1, 1, "(?)"},
		{3, 1, "(?),(?),(?)"},
		{1, 3, "(?,?,?)"},
		{2, 2, "(?,?),(?,?)"},
		{0, 2, ""},
		{2, 0, ""},
		{-1, 2, ""},
	} {
		if got := database.Tuples(c.n, c.width); got != c.want {
			t.Errorf("Tuples(%d, %d) = %q, want %q", c.n, c.width, got, c.want)
		}
	}
}
