package database_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/testenv"
)

// Each statement breaks a rule of the data on a real server; every one is
// permanent and none unavailable. A deadlock is neither (InTx retries it).
func TestPermanentDataErrors(t *testing.T) {
	db := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	for _, s := range []string{
		"CREATE TABLE p (id INT PRIMARY KEY)",
		"CREATE TABLE c (id INT PRIMARY KEY, p INT, small TINYINT, short VARCHAR(3), n INT NOT NULL, d DECIMAL(6,2), pos INT, " +
			"CONSTRAINT c_pos CHECK (pos > 0), FOREIGN KEY (p) REFERENCES p (id))",
		"INSERT INTO p VALUES (1)",
		"INSERT INTO c (id, p, n) VALUES (1, 1, 0)",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	for name, stmt := range map[string]string{
		"out of range":     "INSERT INTO c (id, small, n) VALUES (2, 1000, 0)",
		"decimal range":    "INSERT INTO c (id, d, n) VALUES (2, 100000, 0)",
		"too long":         "INSERT INTO c (id, short, n) VALUES (2, 'abcdef', 0)",
		"null":             "INSERT INTO c (id, n) VALUES (2, NULL)",
		"incorrect value":  "INSERT INTO c (id, n) VALUES (2, 'abc')",
		"check constraint": "INSERT INTO c (id, n, pos) VALUES (2, 0, -1)",
		"no parent":        "INSERT INTO c (id, p, n) VALUES (2, 99, 0)",
		"has children":     "DELETE FROM p WHERE id = 1",
	} {
		_, err := db.Exec(stmt)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !database.Permanent(fmt.Errorf("wrapped: %w", err)) || database.Unavailable(err) {
			t.Errorf("%s: %v: Permanent %v, Unavailable %v", name, err, database.Permanent(err), database.Unavailable(err))
		}
	}
	if database.Permanent(nil) || database.Unavailable(nil) || database.Permanent(errors.New("x")) || database.Unavailable(errors.New("x")) {
		t.Error("nil and unrelated errors must be neither")
	}
}

// A server that refuses connections, one that drops them, and a call that
// runs out of time are unavailable, not permanent.
func TestUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	db, err := database.Open("wallet:wallet@tcp(" + addr + ")/x?timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.PingContext(context.Background())
	if !database.Unavailable(err) || database.Permanent(err) {
		t.Errorf("refused: %v: Unavailable %v", err, database.Unavailable(err))
	}

	// A server that accepts and hangs up at once.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	db2, err := database.Open("wallet:wallet@tcp(" + ln.Addr().String() + ")/x?timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.PingContext(context.Background()); !database.Unavailable(err) {
		t.Errorf("hung up: %v: not unavailable", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	real := testenv.MustOpen(t, testenv.Databases(t, 1)[0])
	if _, err := real.ExecContext(ctx, "SELECT 1"); !database.Unavailable(err) {
		t.Errorf("deadline: %v: not unavailable", err)
	}
}
