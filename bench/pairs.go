package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/walletco/wallet/pkg/shard"
)

// minPerShard is how many of the run's accounts each shard it uses gets at
// least: the hot account's shard needs two besides the hot one, and a few
// more make same-shard pairs vary.
const minPerShard = 4

// shardOf is the account's logical shard among n: pkg/shard.Of, which the
// services route by, so "cross-shard" here means what it means to them.
func shardOf(accountID string, n int) int { return shard.Of(accountID, n) }

// accountIDs returns n ids "<prefix><i>" spread evenly over g of the shards,
// g = min(shards, n/minPerShard), each of those g getting n/g or n/g+1, so
// same-shard pairs exist on each even when there are more shards than
// accounts (200 accounts over 256 logical shards: 50 shards of 4). The g
// shards are evenly spaced over 0..shards-1, so however shards are placed
// on servers by range or by residue, the load reaches all of them. Every
// chosen shard, the hot account's (ids[0]) too, gets at least minPerShard
// accounts once n >= 2*minPerShard.
func accountIDs(prefix string, n, shards int) []string {
	g := min(shards, max(1, n/minPerShard))
	want := make(map[int]int, g) // shard → accounts still wanted
	for i := range g {
		want[i*shards/g] = n / g
		if i < n%g {
			want[i*shards/g]++
		}
	}
	ids := make([]string, 0, n)
	for i := 0; len(ids) < n; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		s := shardOf(id, shards)
		if want[s] == 0 {
			continue
		}
		want[s]--
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
	shards     int
	hotID      string
	hotShard   int
	all        []string         // every account but the hot one
	sources    []string         // the accounts money is sent from: all, or those SetSources gave
	same       map[int][]string // per shard used: its accounts but the hot one
	shardOf    map[string]int   // every account but the hot one
	hotTurns   atomic.Uint64
}

// NewPicker builds a picker over ids, with shards logical shards; ids[0] is
// the hot account. Every shard the ids use needs two accounts besides the
// hot one, and there must be two such shards (accountIDs gives that).
func NewPicker(ids []string, shards int, cross, hot float64) (*Picker, error) {
	if len(ids) < 1 {
		return nil, errors.New("picker: no accounts")
	}
	p := &Picker{cross: cross, hot: hot, shards: shards, hotID: ids[0], hotShard: shardOf(ids[0], shards),
		same: map[int][]string{}, shardOf: map[string]int{}}
	for _, id := range ids[1:] {
		s := shardOf(id, shards)
		p.all = append(p.all, id)
		p.same[s] = append(p.same[s], id)
		p.shardOf[id] = s
	}
	p.sources = p.all
	if len(p.same) < 2 {
		return nil, fmt.Errorf("picker: the accounts are on %d shard(s); cross-shard pairs need 2", len(p.same))
	}
	for s, ids := range p.same {
		if len(ids) < 2 {
			return nil, fmt.Errorf("picker: shard %d has %d accounts besides the hot one, need 2", s, len(ids))
		}
	}
	if len(p.same[p.hotShard]) < 2 {
		return nil, fmt.Errorf("picker: the hot account's shard %d has %d other accounts, need 2", p.hotShard, len(p.same[p.hotShard]))
	}
	return p, nil
}

// SetSources makes Next draw the source of a transfer that is not hot
// from ids (a subset of the accounts) only; its destination is drawn as
// before. bench -scale gives each node's clients the node's accounts.
func (p *Picker) SetSources(ids []string) { p.sources = ids }

// HotID is the hot account (also when the hot share is zero).
func (p *Picker) HotID() string { return p.hotID }

// Next returns the next pair, drawn with rng.
func (p *Picker) Next(rng *rand.Rand) Pair {
	cross := rng.Float64() < p.cross
	if rng.Float64() < p.hot {
		return p.hotPair(rng, cross)
	}
	from := pick(rng, p.sources)
	s := p.shardOf[from]
	if cross {
		return Pair{From: from, To: p.elsewhere(rng, s), Cross: true}
	}
	to := from
	for to == from {
		to = pick(rng, p.same[s])
	}
	return Pair{From: from, To: to}
}

// elsewhere draws an account not on shard s. Every shard holds about the
// same number of accounts and there are at least two, so a draw misses at
// most half the time.
func (p *Picker) elsewhere(rng *rand.Rand, s int) string {
	for {
		if id := pick(rng, p.all); p.shardOf[id] != s {
			return id
		}
	}
}

// hotPair pairs the hot account with another one, on its shard or not, and
// sends money out of it on every other call and into it on the rest.
func (p *Picker) hotPair(rng *rand.Rand, cross bool) Pair {
	var peer string
	if cross {
		peer = p.elsewhere(rng, p.hotShard)
	} else {
		peer = pick(rng, p.same[p.hotShard])
	}
	pair := Pair{From: p.hotID, To: peer, Cross: cross, Hot: true}
	if p.hotTurns.Add(1)%2 == 0 {
		pair.From, pair.To = pair.To, pair.From
	}
	return pair
}

func pick(rng *rand.Rand, ids []string) string { return ids[rng.IntN(len(ids))] }
