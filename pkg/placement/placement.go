// Package placement says which database server holds each logical shard
// (ADR 0029). A Map is one versioned placement; Store keeps it in a
// JetStream key-value bucket, the one place every instance reads, and
// Follower keeps a running instance's copy current without a restart.
package placement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// The errors a Map's functions and the Store return, wrapped with detail.
var (
	// ErrInvalid: a map breaks a rule of Validate.
	ErrInvalid = errors.New("invalid placement")
	// ErrBadShard: a shard number outside [0, Shards).
	ErrBadShard = errors.New("no such logical shard")
	// ErrUnknownServer: a server the map does not list.
	ErrUnknownServer = errors.New("unknown server")
	// ErrSameServer: a move to the server that already holds the shard.
	ErrSameServer = errors.New("shard already on that server")
	// ErrStale: the stored map changed since the caller read it.
	ErrStale = errors.New("placement changed meanwhile")
	// ErrNoPlacement: no map has been stored yet.
	ErrNoPlacement = errors.New("no placement yet")
)

// Map is one version of the placement: logical shard i lives on server
// Owner[i]. Shards never changes once a map is created (an account's
// logical shard is its hash mod Shards); Version grows by one with every
// change and is what writers fence on. Shards changes only by Split, the
// upgrade to more logical shards (account-service shards split). A Map is
// a value: treat its slices as read-only, Move, AddServer and Split return
// copies.
//
// Its JSON encoding, stored in the bucket and stable across releases, is
// the fields in this order:
//
//	{"version":1,"shards":256,"servers":["db1","db2"],"owner":["db1",…,"db2"]}
type Map struct {
	Version uint64   `json:"version"`
	Shards  int      `json:"shards"`
	Servers []string `json:"servers"` // sorted, unique; may hold servers without shards
	Owner   []string `json:"owner"`   // len == Shards
}

// Initial is version 1 of a placement of shards logical shards over
// servers (given in any order; they are sorted), in contiguous ranges:
// shard i goes to servers[i*len(servers)/shards]. Two instances given the
// same configuration compute the same map.
func Initial(shards int, servers []string) (Map, error) {
	sorted := slices.Clone(servers)
	slices.Sort(sorted)
	m := Map{Version: 1, Shards: shards, Servers: sorted}
	if len(sorted) > 0 && shards > 0 {
		m.Owner = make([]string, shards)
		for i := range m.Owner {
			m.Owner[i] = sorted[i*len(sorted)/shards]
		}
	}
	if err := m.Validate(); err != nil {
		return Map{}, err
	}
	if len(sorted) > shards {
		return Map{}, fmt.Errorf("%w: %d servers for %d shards", ErrInvalid, len(sorted), shards)
	}
	return m, nil
}

// Validate checks the map's rules: a version from 1, a positive shard
// count, sorted unique server names, and every shard owned by a listed
// server. (Growing the count is Split's rule: a multiple of the old one.)
func (m Map) Validate() error {
	switch {
	case m.Version == 0:
		return fmt.Errorf("%w: version 0 (versions start at 1)", ErrInvalid)
	case m.Shards <= 0:
		return fmt.Errorf("%w: %d logical shards is not a positive number", ErrInvalid, m.Shards)
	case len(m.Servers) == 0:
		return fmt.Errorf("%w: no servers", ErrInvalid)
	case len(m.Owner) != m.Shards:
		return fmt.Errorf("%w: %d owners for %d shards", ErrInvalid, len(m.Owner), m.Shards)
	}
	for i, s := range m.Servers {
		if err := CheckName(s); err != nil {
			return err
		}
		if i > 0 && m.Servers[i-1] >= s {
			return fmt.Errorf("%w: servers not sorted and unique at %q", ErrInvalid, s)
		}
	}
	for i, s := range m.Owner {
		if _, ok := slices.BinarySearch(m.Servers, s); !ok {
			return fmt.Errorf("%w: shard %d on %q, which is not among the servers", ErrInvalid, i, s)
		}
	}
	return nil
}

// CheckName accepts a server name of 1 to 64 letters, digits, '.', '_' and
// '-': one that prints in a table, fits a metric label and needs no quoting.
// The configuration's server names must pass it to appear in a map.
func CheckName(s string) error {
	ok := len(s) > 0 && len(s) <= 64
	for _, c := range s {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%w: server name %q (1-64 of A-Z a-z 0-9 . _ -)", ErrInvalid, s)
	}
	return nil
}

// Move is the next version of m with shard on server to.
func (m Map) Move(shard int, to string) (Map, error) {
	if shard < 0 || shard >= m.Shards {
		return Map{}, fmt.Errorf("%w: %d (there are %d, from 0)", ErrBadShard, shard, m.Shards)
	}
	if _, ok := slices.BinarySearch(m.Servers, to); !ok {
		return Map{}, fmt.Errorf("%w: %q (servers: %v)", ErrUnknownServer, to, m.Servers)
	}
	if m.Owner[shard] == to {
		return Map{}, fmt.Errorf("%w: shard %d is on %s", ErrSameServer, shard, to)
	}
	next := m.next()
	next.Owner[shard] = to
	return next, nil
}

// AddServer is the next version of m that lists server, holding no shard
// yet, so that shards can move to it.
func (m Map) AddServer(server string) (Map, error) {
	if err := CheckName(server); err != nil {
		return Map{}, err
	}
	i, found := slices.BinarySearch(m.Servers, server)
	if found {
		return Map{}, fmt.Errorf("%w: server %q is listed already", ErrInvalid, server)
	}
	next := m.next()
	next.Servers = slices.Insert(next.Servers, i, server)
	return next, nil
}

// Split is the next version of m with n logical shards, n a multiple of
// m.Shards greater than it. An account's shard is FNV-1a mod the count, so
// with n a multiple, shard.Of(id, n) % m.Shards == shard.Of(id, m.Shards):
// new shard j holds accounts of old shard j % m.Shards only, and starts on
// that shard's server (the split makes its schema there, ADR 0036).
func (m Map) Split(n int) (Map, error) {
	if m.Shards <= 0 || n <= m.Shards || n%m.Shards != 0 {
		return Map{}, fmt.Errorf("%w: %d logical shards is not a multiple of the %d there are, greater than it", ErrInvalid, n, m.Shards)
	}
	next := m.next()
	next.Shards = n
	next.Owner = make([]string, n)
	for j := range next.Owner {
		next.Owner[j] = m.Owner[j%m.Shards]
	}
	return next, nil
}

// next is a copy of m, one version on, sharing no slice with it.
func (m Map) next() Map {
	return Map{Version: m.Version + 1, Shards: m.Shards, Servers: slices.Clone(m.Servers), Owner: slices.Clone(m.Owner)}
}

// Server returns the server that holds shard, which must be in [0, Shards).
func (m Map) Server(shard int) string { return m.Owner[shard] }

// ShardsOn returns the logical shards on server, ascending.
func (m Map) ShardsOn(server string) []int {
	var on []int
	for i, s := range m.Owner {
		if s == server {
			on = append(on, i)
		}
	}
	return on
}

// Encode returns m's JSON encoding (see Map).
func (m Map) Encode() ([]byte, error) { return json.Marshal(m) }

// Decode reads a map that Encode wrote and validates it. Unknown fields
// are refused: a map from a newer release may mean something this one
// would route wrongly by.
func Decode(b []byte) (Map, error) {
	var m Map
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Map{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return Map{}, err
	}
	return m, nil
}
