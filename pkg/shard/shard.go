// Package shard routes an account id to the shard database that owns it.
package shard

import "hash/fnv"

// Of returns the shard index of accountID among n shards: FNV-1a 64 of the id
// modulo n. The result is fixed when an account is created; changing n needs
// a data migration, not a config edit.
func Of(accountID string, n int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(accountID))
	return int(h.Sum64() % uint64(n))
}
