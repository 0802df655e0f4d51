package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestShardOfIsPkgShard(t *testing.T) {
	// pkg/shard's pinned values: the bench's cross-shard is the services'.
	for _, c := range []struct {
		id   string
		want int
	}{{"alice", 3}, {"bob", 0}, {"acc-1", 0}, {"acc-2", 1}} {
		if got := shardOf(c.id, 4); got != c.want {
			t.Fatalf("shardOf(%q, 4) = %d, want %d", c.id, got, c.want)
		}
	}
}

func TestAccountIDsFillChosenShards(t *testing.T) {
	cases := []struct {
		n, shards  int
		wantShards int // shards used
	}{
		{8, 4, 2},      // too few for all four: two shards of four
		{10, 4, 2},     // 5 + 5
		{200, 4, 4},    // today's stack: 50 each
		{200, 256, 50}, // logical shards: 50 shards of 4
		{203, 256, 50}, // 4 or 5 each
		{1000, 256, 250},
		{2048, 256, 256}, // every shard, 8 each
	}
	for _, c := range cases {
		ids := accountIDs("p-", c.n, c.shards)
		if len(ids) != c.n {
			t.Fatalf("%+v: got %d ids", c, len(ids))
		}
		perShard := map[int]int{}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%+v: duplicate id %s", c, id)
			}
			seen[id] = true
			perShard[shardOf(id, c.shards)]++
		}
		if len(perShard) != c.wantShards {
			t.Fatalf("%+v: ids on %d shards, want %d: %v", c, len(perShard), c.wantShards, perShard)
		}
		lo, hi := c.n/c.wantShards, (c.n+c.wantShards-1)/c.wantShards
		for s, k := range perShard {
			if k < lo || k > hi || k < minPerShard {
				t.Fatalf("%+v: shard %d has %d ids, want %d..%d and at least %d", c, s, k, lo, hi, minPerShard)
			}
		}
	}
}

func TestAccountIDsSpreadOverTheShardRange(t *testing.T) {
	// 50 of 256 logical shards: they must not bunch up at the low end, or
	// a placement by ranges would put all the load on one server.
	halves := [2]int{}
	residues := map[int]bool{}
	for _, id := range accountIDs("p-", 200, 256) {
		s := shardOf(id, 256)
		halves[s/128]++
		residues[s%4] = true
	}
	if halves[0] != 100 || halves[1] != 100 {
		t.Fatalf("accounts per half of the shard range: %v, want 100 each", halves)
	}
	if len(residues) != 4 {
		t.Fatalf("shards modulo 4: %v, want all four (today's servers)", residues)
	}
}

func TestPickerShares(t *testing.T) {
	cases := []struct {
		shards     int
		cross, hot float64
	}{{4, 0, 0}, {4, 0.1, 0}, {4, 0.5, 0}, {4, 1, 0}, {4, 0.1, 0.5}, {4, 0.5, 0.5}, {4, 0, 1},
		{256, 0.1, 0}, {256, 0.5, 0}, {256, 0.1, 0.5}, {256, 0, 0}}
	const n = 100_000
	for _, c := range cases {
		ids := accountIDs("acct-", 200, c.shards)
		p, err := NewPicker(ids, c.shards, c.cross, c.hot)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var cross, hot, hotFrom, hotTo int
		for range n {
			pair := p.Next(rng)
			if pair.From == pair.To {
				t.Fatalf("%+v: same account %s", c, pair.From)
			}
			isCross := shardOf(pair.From, c.shards) != shardOf(pair.To, c.shards)
			if isCross != pair.Cross {
				t.Fatalf("%+v: pair %+v says cross=%v", c, pair, pair.Cross)
			}
			touchesHot := pair.From == p.HotID() || pair.To == p.HotID()
			if touchesHot != pair.Hot {
				t.Fatalf("%+v: pair %+v says hot=%v", c, pair, pair.Hot)
			}
			if isCross {
				cross++
			}
			if touchesHot {
				hot++
			}
			if pair.From == p.HotID() {
				hotFrom++
			}
			if pair.To == p.HotID() {
				hotTo++
			}
		}
		if got := float64(cross) / n; math.Abs(got-c.cross) > 0.01 {
			t.Errorf("%+v: cross share %.3f", c, got)
		}
		if got := float64(hot) / n; math.Abs(got-c.hot) > 0.01 {
			t.Errorf("%+v: hot share %.3f", c, got)
		}
		if hotFrom-hotTo > 1 || hotTo-hotFrom > 1 {
			t.Errorf("%+v: hot account pays %d times and receives %d times; want them alternating", c, hotFrom, hotTo)
		}
	}
}

func TestPickerRefusesIDsWithoutSameShardPairs(t *testing.T) {
	for _, c := range []struct {
		name   string
		ids    []string
		shards int
	}{
		{"one account per shard", []string{"alice", "bob", "acc-1", "acc-2", "x", "y"}, 256},
		{"all on one shard", accountIDs("one-", 4, 4), 4},
		{"no accounts", nil, 4},
	} {
		if _, err := NewPicker(c.ids, c.shards, 0.1, 0); err == nil {
			t.Errorf("%s: want an error", c.name)
		}
	}
}
