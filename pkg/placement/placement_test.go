package placement_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/walletco/wallet/pkg/placement"
)

func mustInitial(t *testing.T, shards int, servers ...string) placement.Map {
	t.Helper()
	m, err := placement.Initial(shards, servers)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Initial spreads shards in contiguous ranges over the sorted servers,
// whatever order the configuration lists them in.
func TestInitial(t *testing.T) {
	m := mustInitial(t, 256, "db2", "db1")
	if m.Version != 1 || m.Shards != 256 || !slices.Equal(m.Servers, []string{"db1", "db2"}) {
		t.Fatalf("map = %d %d %v", m.Version, m.Shards, m.Servers)
	}
	if on := m.ShardsOn("db1"); len(on) != 128 || on[0] != 0 || on[127] != 127 {
		t.Errorf("db1 holds %v", on)
	}
	if m.Server(128) != "db2" || m.Server(255) != "db2" || m.Server(127) != "db1" {
		t.Errorf("owners: 127 %s, 128 %s, 255 %s", m.Server(127), m.Server(128), m.Server(255))
	}
	uneven := mustInitial(t, 8, "c", "a", "b")
	if want := []string{"a", "a", "a", "b", "b", "b", "c", "c"}; !slices.Equal(uneven.Owner, want) {
		t.Errorf("8 over 3 = %v, want %v", uneven.Owner, want)
	}
	if on := m.ShardsOn("db9"); on != nil {
		t.Errorf("an unknown server holds %v", on)
	}
}

func TestInitialRefuses(t *testing.T) {
	for _, tt := range []struct {
		shards  int
		servers []string
		why     string
	}{
		{0, []string{"a"}, "not a positive number"},
		{-4, []string{"a"}, "not a positive number"},
		{4, nil, "no servers"},
		{4, []string{"a", "a"}, "sorted and unique"},
		{4, []string{"a b"}, "server name"},
		{4, []string{""}, "server name"},
		{4, []string{strings.Repeat("x", 65)}, "server name"},
		{4, []string{"a", "b", "c", "d", "e"}, "5 servers for 4 shards"},
	} {
		_, err := placement.Initial(tt.shards, tt.servers)
		if !errors.Is(err, placement.ErrInvalid) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("Initial(%d, %q) = %v, want ErrInvalid: %s", tt.shards, tt.servers, err, tt.why)
		}
	}
}

// Move returns the next version and leaves the map it came from as it was:
// a follower may still be routing by it.
func TestMove(t *testing.T) {
	m := mustInitial(t, 8, "a", "b")
	next, err := m.Move(1, "b")
	if err != nil {
		t.Fatal(err)
	}
	if next.Version != 2 || next.Server(1) != "b" || !slices.Equal(next.ShardsOn("a"), []int{0, 2, 3}) {
		t.Errorf("after the move: version %d, owners %v", next.Version, next.Owner)
	}
	if m.Version != 1 || m.Server(1) != "a" {
		t.Errorf("the original changed: version %d, owners %v", m.Version, m.Owner)
	}
	for _, tt := range []struct {
		shard int
		to    string
		want  error
	}{
		{-1, "b", placement.ErrBadShard},
		{8, "b", placement.ErrBadShard},
		{1, "c", placement.ErrUnknownServer},
		{0, "a", placement.ErrSameServer},
	} {
		if _, err := m.Move(tt.shard, tt.to); !errors.Is(err, tt.want) {
			t.Errorf("Move(%d, %q) = %v, want %v", tt.shard, tt.to, err, tt.want)
		}
	}
}

// Split keeps every account on its server: new shard j starts where old
// shard j % n was, since an account of new shard j was on that one.
func TestSplit(t *testing.T) {
	m, err := mustInitial(t, 4, "a", "b").Move(3, "a")
	if err != nil {
		t.Fatal(err)
	}
	next, err := m.Split(12)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "a", "b", "a", "a", "a", "b", "a", "a", "a", "b", "a"}
	if next.Version != 3 || next.Shards != 12 || !slices.Equal(next.Owner, want) || !slices.Equal(next.Servers, m.Servers) {
		t.Fatalf("split = %+v, want owners %v", next, want)
	}
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.Shards != 4 || len(m.Owner) != 4 {
		t.Errorf("the original changed: %+v", m)
	}
	for _, n := range []int{4, 6, 2, 0, -8} {
		if _, err := m.Split(n); !errors.Is(err, placement.ErrInvalid) {
			t.Errorf("Split(%d) = %v, want ErrInvalid", n, err)
		}
	}
}

// A new server joins empty, and then shards can move to it.
func TestAddServer(t *testing.T) {
	m := mustInitial(t, 4, "a", "c")
	next, err := m.AddServer("b")
	if err != nil {
		t.Fatal(err)
	}
	if next.Version != 2 || !slices.Equal(next.Servers, []string{"a", "b", "c"}) || next.ShardsOn("b") != nil {
		t.Fatalf("after adding b: %+v", next)
	}
	if !slices.Equal(m.Servers, []string{"a", "c"}) {
		t.Errorf("the original changed: %v", m.Servers)
	}
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	if moved, err := next.Move(0, "b"); err != nil || moved.Version != 3 {
		t.Errorf("move to the new server: version %d, %v", moved.Version, err)
	}
	if _, err := m.AddServer("a"); !errors.Is(err, placement.ErrInvalid) {
		t.Errorf("adding a listed server: %v", err)
	}
	if _, err := m.AddServer("x,y"); !errors.Is(err, placement.ErrInvalid) {
		t.Errorf("adding a bad name: %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := mustInitial(t, 4, "a", "b")
	for _, tt := range []struct {
		change func(*placement.Map)
		why    string
	}{
		{func(m *placement.Map) { m.Version = 0 }, "version 0"},
		{func(m *placement.Map) { m.Owner = m.Owner[:3] }, "3 owners for 4 shards"},
		{func(m *placement.Map) { m.Owner = []string{"a", "a", "z", "b"} }, `shard 2 on "z"`},
		{func(m *placement.Map) { m.Servers = []string{"b", "a"} }, "not sorted"},
		{func(m *placement.Map) { m.Servers = nil }, "no servers"},
	} {
		m := good
		m.Owner, m.Servers = slices.Clone(good.Owner), slices.Clone(good.Servers)
		tt.change(&m)
		if err := m.Validate(); !errors.Is(err, placement.ErrInvalid) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: Validate = %v", tt.why, err)
		}
	}
}

// The encoding is a stored contract: pinned here.
func TestEncoding(t *testing.T) {
	m := mustInitial(t, 4, "db2", "db1")
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"version":1,"shards":4,"servers":["db1","db2"],"owner":["db1","db1","db2","db2"]}`
	if string(b) != want {
		t.Fatalf("Encode = %s, want %s", b, want)
	}
	back, err := placement.Decode(b)
	if err != nil || back.Version != 1 || !slices.Equal(back.Owner, m.Owner) || !slices.Equal(back.Servers, m.Servers) {
		t.Fatalf("Decode = %+v, %v", back, err)
	}
	for _, bad := range []string{
		`{"version":1,"shards":4,"servers":["db1"],"owner":["db1","db1","db1","db1"],"weights":[1]}`,
		`{"version":1,"shards":4,"servers":["db1"],"owner":["db1","db1","db1","db9"]}`,
		`{"version":1,"shards":4,"servers":["db1"],"owner":["db1"]}`,
		`not json`,
	} {
		if _, err := placement.Decode([]byte(bad)); !errors.Is(err, placement.ErrInvalid) {
			t.Errorf("Decode(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}
