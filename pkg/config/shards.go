package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
)

// MaxShards bounds the logical shards a deployment may declare.
const MaxShards = 4096

// shardRange is a schema range in a shard DSN: wallet_shard_{0..255}.
var shardRange = regexp.MustCompile(`\{(\d+)\.\.(\d+)\}`)

// ExpandShards returns dsns with every range written {A..B} expanded into
// one DSN per number, in order: "…/wallet_shard_{0..255}" declares 256
// logical shards on one server without listing them.
func ExpandShards(dsns []string) ([]string, error) {
	var out []string
	for i, dsn := range dsns {
		loc := shardRange.FindAllStringSubmatchIndex(dsn, -1)
		if len(loc) == 0 {
			out = append(out, dsn)
			continue
		}
		if len(loc) > 1 {
			return nil, fmt.Errorf("shards[%d]: at most one {A..B} range", i)
		}
		m := loc[0]
		from, err1 := strconv.Atoi(dsn[m[2]:m[3]])
		to, err2 := strconv.Atoi(dsn[m[4]:m[5]])
		if err1 != nil || err2 != nil || from > to || len(out)+to-from+1 > MaxShards {
			return nil, fmt.Errorf("shards[%d]: the range {%s..%s} must be ascending and declare at most %d shards in all",
				i, dsn[m[2]:m[3]], dsn[m[4]:m[5]], MaxShards)
		}
		for n := from; n <= to; n++ {
			out = append(out, dsn[:m[0]]+strconv.Itoa(n)+dsn[m[1]:])
		}
	}
	return out, nil
}

// expandShards is the decode hook that expands the ranges of Shards.
func expandShards(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(Shards{}) && to != reflect.TypeOf(Databases{}) {
		return data, nil
	}
	var list []string
	switch d := data.(type) {
	case []string:
		list = d
	case []any:
		for _, e := range d {
			list = append(list, fmt.Sprint(e))
		}
	default:
		return data, nil
	}
	return ExpandShards(list)
}
