package shard

import "testing"

func TestOfIsStableAndSpread(t *testing.T) {
	// Pinned values: an account must never move shards between releases.
	pinned := []struct {
		id   string
		n    int
		want int
	}{{"alice", 4, 3}, {"bob", 4, 0}, {"acc-1", 4, 0}, {"acc-2", 4, 1}, {"alice", 7, 1}, {"acc-2", 7, 4}}
	for _, p := range pinned {
		if got := Of(p.id, p.n); got != p.want {
			t.Fatalf("Of(%q, %d) = %d, want %d", p.id, p.n, got, p.want)
		}
	}
	if Of("", 4) != int(uint64(14695981039346656037)%4) {
		t.Fatal("empty id must hash to the FNV-1a offset basis")
	}
	counts := make([]int, 4)
	for i := 0; i < 4000; i++ {
		counts[Of(string(rune('a'+i%26))+string(rune(i)), 4)]++
	}
	for s, c := range counts {
		if c < 500 {
			t.Fatalf("shard %d got %d of 4000 ids: poor spread %v", s, c, counts)
		}
	}
}
