package events

import (
	"errors"
	"testing"
)

func TestPartitionIsAContiguousRange(t *testing.T) {
	cases := []struct{ shard, shards, partitions, want int }{
		{0, 256, 4, 0}, {63, 256, 4, 0}, {64, 256, 4, 1}, {255, 256, 4, 3},
		{255, 256, 1, 0}, {3, 4, 4, 3}, {128, 256, 2, 1}, {127, 256, 2, 0},
	}
	for _, c := range cases {
		if got := Partition(c.shard, c.shards, c.partitions); got != c.want {
			t.Errorf("Partition(%d, %d, %d) = %d, want %d", c.shard, c.shards, c.partitions, got, c.want)
		}
	}
}

func TestSubjectsRoundTrip(t *testing.T) {
	topic := "wallet.transfer.debited.200"
	fact, step := FactSubject(1, topic), StepSubject(3, topic)
	if fact != "wallet.1.transfer.debited.200" || step != "saga.3.transfer.debited.200" {
		t.Fatalf("subjects %q %q", fact, step)
	}
	for _, c := range []struct {
		subject string
		want    Routed
	}{
		{fact, Routed{Partition: 1, Topic: topic, Shard: 200}},
		{step, Routed{Step: true, Partition: 3, Topic: topic, Shard: 200}},
	} {
		got, err := ParseSubject(c.subject)
		if err != nil || got != c.want {
			t.Errorf("ParseSubject(%q) = %+v, %v; want %+v", c.subject, got, err, c.want)
		}
	}
	for _, bad := range []string{"wallet.transfer.debited.200", "saga.x.transfer.debited.1", "other.1.a.b.2", "wallet.1.a.b.-2"} {
		if _, err := ParseSubject(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSubject(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}
