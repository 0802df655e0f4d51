package config

import (
	"slices"
	"testing"
)

func TestExpandShards(t *testing.T) {
	got, err := ExpandShards([]string{"u:p@tcp(a:1)/s_{0..2}", "u:p@tcp(b:1)/other", "u:p@tcp(b:1)/s_{3..3}"})
	want := []string{"u:p@tcp(a:1)/s_0", "u:p@tcp(a:1)/s_1", "u:p@tcp(a:1)/s_2", "u:p@tcp(b:1)/other", "u:p@tcp(b:1)/s_3"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"x/s_{3..1}", "x/s_{0..4096}", "x_{0..1}/s_{0..1}"} {
		if _, err := ExpandShards([]string{bad}); err == nil {
			t.Errorf("%s: expanded, want an error", bad)
		}
	}
}

// A range given through the environment declares every shard it names.
func TestShardRangeFromEnvironment(t *testing.T) {
	t.Setenv("WALLET_SHARDS", "u:p@tcp(a:1)/wallet_shard_{0..255}")
	c, err := Load[AccountService]()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Shards) != 256 || c.Shards[255] != "u:p@tcp(a:1)/wallet_shard_255" {
		t.Fatalf("%d shards, last %q", len(c.Shards), c.Shards[len(c.Shards)-1])
	}
}
