package main

import (
	"database/sql"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// ServerDSN is one entry of -servers: a MariaDB server the shard schemas
// may live on.
type ServerDSN struct {
	// Name is the server's name in the placement (db1, db2: WALLET_SERVERS'
	// names), "" if not given. With it the watcher can tell the live copy
	// of a shard from the copy a move is still building on this server,
	// which names its source server in shard_meta until the switch.
	Name string
	DSN  string // without a schema
}

// serverName is what may precede "=" in a -servers entry. A DSN's text
// before its first "=" always holds a "/" (the schema part comes before
// any parameter), so a DSN is never mistaken for a name.
var serverName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// parseServers reads -servers: comma-separated entries, each NAME=DSN (as
// WALLET_SERVERS and deploy/local/common.sh's servers_env write them) or a
// bare DSN, without a schema. Empty means the -mysql server alone.
func parseServers(list, mysqlDSN string) ([]ServerDSN, error) {
	if strings.TrimSpace(list) == "" {
		return []ServerDSN{{DSN: mysqlDSN}}, nil
	}
	var out []ServerDSN
	seen := map[string]bool{}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		s := ServerDSN{DSN: entry}
		if name, dsn, ok := strings.Cut(entry, "="); ok && serverName.MatchString(name) {
			s = ServerDSN{Name: name, DSN: dsn}
		}
		cfg, err := mysql.ParseDSN(s.DSN)
		if err != nil {
			return nil, fmt.Errorf("-servers entry %q: %w", redactDSN(s.DSN), err)
		}
		if cfg.DBName != "" {
			return nil, fmt.Errorf("-servers entry %q names schema %s: give the server only", redactDSN(s.DSN), cfg.DBName)
		}
		if s.Name != "" && seen[s.Name] {
			return nil, fmt.Errorf("-servers names %s twice", s.Name)
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	return out, nil
}

// ShardServer is an open pool on one server of -servers.
type ShardServer struct {
	Name string // as in ServerDSN
	DB   *sql.DB
}

// openServers opens a small pool on each server (the watcher's looks are
// one statement at a time). The caller closes them with closeServers.
func openServers(servers []ServerDSN) ([]ShardServer, error) {
	out := make([]ShardServer, 0, len(servers))
	for _, s := range servers {
		db, err := openDB(s.DSN, "", 2)
		if err != nil {
			closeServers(out)
			return nil, fmt.Errorf("server %s: %w", redactDSN(s.DSN), err)
		}
		out = append(out, ShardServer{Name: s.Name, DB: db})
	}
	return out, nil
}

func closeServers(servers []ShardServer) {
	for _, s := range servers {
		s.DB.Close()
	}
}

// redactDSN hides a MySQL DSN's password: the settings go into the result
// files.
func redactDSN(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "<invalid>"
	}
	if cfg.Passwd != "" {
		cfg.Passwd = "xxxxx"
	}
	return cfg.FormatDSN()
}

// redactServers renders -servers for the result file, passwords hidden.
func redactServers(servers []ServerDSN) string {
	parts := make([]string, len(servers))
	for i, s := range servers {
		parts[i] = redactDSN(s.DSN)
		if s.Name != "" {
			parts[i] = s.Name + "=" + parts[i]
		}
	}
	return strings.Join(parts, ",")
}
