package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"
)

// shards is the number of shard databases of the local stack.
const shards = 4

// shardOf is pkg/shard.Of copied (the bench module stands on its own): FNV-1a
// 64 of the account id modulo n.
func shardOf(accountID string, n int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(accountID))
	return int(h.Sum64() % uint64(n))
}

// accountIDs returns n ids "<prefix><i>" spread evenly over the shards: an id
// is skipped when its shard already has its share, so every shard has at
// least n/shards accounts and same-shard pairs exist on each.
func accountIDs(prefix string, n int) []string {
	perShard := (n + shards - 1) / shards
	counts := make([]int, shards)
	ids := make([]string, 0, n)
	for i := 0; len(ids) < n; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		s := shardOf(id, shards)
		if counts[s] == perShard {
			continue
		}
		counts[s]++
		ids = append(ids, id)
	}
	return ids
}

// Pair is the two accounts of one transfer.
type Pair struct {
	From, To string
	Cross    bool // the accounts are on different shards
	Hot      bool // one of them is the hot account
}

// Picker chooses transfer pairs: a share cross of them across shards, a share
// hot of them with the hot account as source or destination (alternately, so
// its balance stays level), the rest uniformly among the other accounts.
// It is safe for concurrent use; each caller brings its own random source.
type Picker struct {
	cross, hot float64
	hotID      string
	hotShard   int
	all        []string   // every account but the hot one
	same       [][]string // per shard: its accounts but the hot one
	other      [][]string // per shard: the accounts of the other shards but the hot one
	hotTurns   atomic.Uint64
}

// NewPicker builds a picker over ids; ids[0] is the hot account. Every shard
// needs two accounts besides the hot one (accountIDs gives that).
func NewPicker(ids []string, cross, hot float64) (*Picker, error) {
	if len(ids) < 1 {
		return nil, errors.New("picker: no accounts")
	}
	p := &Picker{cross: cross, hot: hot, hotID: ids[0], hotShard: shardOf(ids[0], shards),
		same: make([][]string, shards), other: make([][]string, shards)}
	for _, id := range ids[1:] {
		s := shardOf(id, shards)
		p.all = append(p.all, id)
		p.same[s] = append(p.same[s], id)
		for o := range shards {
			if o != s {
				p.other[o] = append(p.other[o], id)
			}
		}
	}
	for s := range shards {
		if len(p.same[s]) < 2 {
			return nil, fmt.Errorf("picker: shard %d has %d accounts besides the hot one, need 2", s, len(p.same[s]))
		}
	}
	return p, nil
}

// HotID is the hot account (also when the hot share is zero).
func (p *Picker) HotID() string { return p.hotID }

// Next returns the next pair, drawn with rng.
func (p *Picker) Next(rng *rand.Rand) Pair {
	cross := rng.Float64() < p.cross
	if rng.Float64() < p.hot {
		return p.hotPair(rng, cross)
	}
	from := p.all[rng.IntN(len(p.all))]
	s := shardOf(from, shards)
	if cross {
		return Pair{From: from, To: pick(rng, p.other[s]), Cross: true}
	}
	to := from
	for to == from {
		to = pick(rng, p.same[s])
	}
	return Pair{From: from, To: to}
}

// hotPair pairs the hot account with another one, on its shard or not, and
// sends money out of it on every other call and into it on the rest.
func (p *Picker) hotPair(rng *rand.Rand, cross bool) Pair {
	peers := p.same[p.hotShard]
	if cross {
		peers = p.other[p.hotShard]
	}
	pair := Pair{From: p.hotID, To: pick(rng, peers), Cross: cross, Hot: true}
	if p.hotTurns.Add(1)%2 == 0 {
		pair.From, pair.To = pair.To, pair.From
	}
	return pair
}

func pick(rng *rand.Rand, ids []string) string { return ids[rng.IntN(len(ids))] }
