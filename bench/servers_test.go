package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseServers(t *testing.T) {
	const mysqlDSN = "wallet:wallet@tcp(127.0.0.1:3307)/"
	tests := []struct {
		list string
		want []ServerDSN
	}{
		{"", []ServerDSN{{DSN: mysqlDSN}}},
		{"db1=wallet:wallet@tcp(127.0.0.1:3307)/,db2=wallet:wallet@tcp(127.0.0.1:3309)/",
			[]ServerDSN{{"db1", "wallet:wallet@tcp(127.0.0.1:3307)/"}, {"db2", "wallet:wallet@tcp(127.0.0.1:3309)/"}}},
		// A bare DSN whose parameters hold "=" is not a name.
		{"wallet:wallet@tcp(127.0.0.1:3309)/?timeout=5s", []ServerDSN{{DSN: "wallet:wallet@tcp(127.0.0.1:3309)/?timeout=5s"}}},
		{"wallet:a=b@tcp(127.0.0.1:3309)/", []ServerDSN{{DSN: "wallet:a=b@tcp(127.0.0.1:3309)/"}}},
	}
	for _, tc := range tests {
		got, err := parseServers(tc.list, mysqlDSN)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseServers(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"db1=wallet:wallet@tcp(127.0.0.1:3307)/wallet_shard_0", // a schema
		"db1=wallet:wallet@tcp(127.0.0.1:3307)/,db1=wallet:wallet@tcp(127.0.0.1:3309)/",
		"db1=not a dsn",
	} {
		if got, err := parseServers(bad, mysqlDSN); err == nil {
			t.Errorf("parseServers(%q) = %v; want an error", bad, got)
		}
	}
}

func TestServersFlagReachesTheResultRedacted(t *testing.T) {
	c, err := parseConfig([]string{"-token", "x", "-servers", "db1=wallet:secret@tcp(127.0.0.1:3307)/,db2=wallet:secret@tcp(127.0.0.1:3309)/"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) != 2 || c.Servers[1].Name != "db2" {
		t.Fatalf("servers %v", c.Servers)
	}
	got := c.Flags()["servers"]
	if strings.Contains(got, "secret") || !strings.Contains(got, "db2=wallet:xxxxx@tcp(127.0.0.1:3309)/") {
		t.Fatalf("servers recorded as %q; want names and addresses, no password", got)
	}
	if strings.Contains(c.Flags()["mysql"], ":wallet@") {
		t.Fatalf("mysql recorded as %q; want no password", c.Flags()["mysql"])
	}
}
