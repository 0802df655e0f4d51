package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestShardOfMatchesPkgShard(t *testing.T) {
	// The pinned values of pkg/shard's test: the copy must agree.
	for _, c := range []struct {
		id   string
		want int
	}{{"alice", 3}, {"bob", 0}, {"acc-1", 0}, {"acc-2", 1}} {
		if got := shardOf(c.id, 4); got != c.want {
			t.Fatalf("shardOf(%q) = %d, want %d", c.id, got, c.want)
		}
	}
}

func TestAccountIDsAreSpreadEvenly(t *testing.T) {
	for _, n := range []int{8, 10, 200} {
		ids := accountIDs("p-", n)
		if len(ids) != n {
			t.Fatalf("n=%d: got %d ids", n, len(ids))
		}
		counts := make([]int, shards)
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("n=%d: duplicate id %s", n, id)
			}
			seen[id] = true
			counts[shardOf(id, shards)]++
		}
		for s, c := range counts {
			if c < n/shards || c > (n+shards-1)/shards {
				t.Fatalf("n=%d: shard %d has %d ids: %v", n, s, c, counts)
			}
		}
	}
}

func TestPickerShares(t *testing.T) {
	ids := accountIDs("acct-", 200)
	cases := []struct{ cross, hot float64 }{{0, 0}, {0.1, 0}, {0.5, 0}, {1, 0}, {0.1, 0.5}, {0.5, 0.5}, {0, 1}}
	const n = 100_000
	for _, c := range cases {
		p, err := NewPicker(ids, c.cross, c.hot)
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
			isCross := shardOf(pair.From, shards) != shardOf(pair.To, shards)
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

func TestPickerNeedsTwoAccountsPerShard(t *testing.T) {
	if _, err := NewPicker(accountIDs("x-", 5), 0.1, 0); err == nil {
		t.Fatal("5 accounts (one hot) cannot give every shard two others; want an error")
	}
}
