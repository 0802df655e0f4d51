package events

import (
	"fmt"
	"strconv"
	"strings"
)

// Event partitions (ADR 0038). The events of a logical shard always go to
// the same partition, so an account's events stay in order; no stream
// carries every event. A partition is a contiguous range of shards, so a
// database server holding a range of shards feeds a range of partitions.
//
// An outbox row's topic is wallet.<aggregate>.<event>.<shard>, <shard> being
// the shard that must act next. The relay publishes it as a fact in the
// partition of the shard that wrote it:
//
//	wallet.<partition>.<aggregate>.<event>.<shard>
//
// and, when <shard> lies in another partition, also as a saga step in that
// one, so that a partition's saga consumer finds every step it must take in
// its own stream:
//
//	saga.<partition>.<aggregate>.<event>.<shard>
const (
	FactRoot = "wallet"
	StepRoot = "saga"
)

// Partition returns the partition of shard among shards logical shards
// divided into partitions contiguous ranges. partitions must divide shards
// (config validates it).
func Partition(shard, shards, partitions int) int {
	return shard * partitions / shards
}

// PartitionSubjects are the subjects of partition p's stream.
func PartitionSubjects(p int) []string {
	return []string{FactRoot + "." + strconv.Itoa(p) + ".>", StepRoot + "." + strconv.Itoa(p) + ".>"}
}

// FactSubject is the subject topic is published on as a fact of partition p.
func FactSubject(p int, topic string) string { return routed(FactRoot, p, topic) }

// StepSubject is the subject topic is published on as a saga step for
// partition p.
func StepSubject(p int, topic string) string { return routed(StepRoot, p, topic) }

func routed(root string, p int, topic string) string {
	return root + "." + strconv.Itoa(p) + "." + strings.TrimPrefix(topic, FactRoot+".")
}

// Routed is a published subject taken apart.
type Routed struct {
	Step      bool   // a saga step copy (saga.>), not the fact (wallet.>)
	Partition int    // the stream's partition
	Topic     string // the outbox topic: wallet.<aggregate>.<event>.<shard>
	Shard     int    // the shard that must act next
}

// ParseSubject takes a published subject apart; a subject not of the form
// above wraps ErrMalformed.
func ParseSubject(subject string) (Routed, error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || (parts[0] != FactRoot && parts[0] != StepRoot) {
		return Routed{}, fmt.Errorf("%w: subject %q is not <wallet|saga>.<partition>.<aggregate>.<event>.<shard>", ErrMalformed, subject)
	}
	p, perr := strconv.Atoi(parts[1])
	sh, serr := strconv.Atoi(parts[4])
	if perr != nil || serr != nil || p < 0 || sh < 0 {
		return Routed{}, fmt.Errorf("%w: subject %q: partition and shard must be numbers", ErrMalformed, subject)
	}
	return Routed{
		Step:      parts[0] == StepRoot,
		Partition: p,
		Topic:     FactRoot + "." + parts[2] + "." + parts[3] + "." + parts[4],
		Shard:     sh,
	}, nil
}
