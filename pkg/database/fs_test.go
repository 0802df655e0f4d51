package database_test

import (
	"io/fs"
	"testing"
)

func sub(t *testing.T, f fs.FS) fs.FS {
	t.Helper()
	s, err := fs.Sub(f, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
