package outbox

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/events"
)

// Route says where the rows of one shard's outbox are published (ADR
// 0038): as facts in the partition of the shard that wrote them, and, when
// the shard a row's topic names (the one that must act next) lies in
// another partition, also as saga steps there.
type Route struct {
	Shard      int // the shard whose outbox holds the rows
	Shards     int // logical shards of the deployment
	Partitions int // event partitions (nats.partitions)
}

// check refuses a route no stream would take.
func (r Route) check() error {
	if r.Shards < 1 || r.Partitions < 1 || r.Shards%r.Partitions != 0 || r.Shard < 0 || r.Shard >= r.Shards {
		return fmt.Errorf("outbox: shard %d of %d shards in %d partitions: no partition", r.Shard, r.Shards, r.Partitions)
	}
	return nil
}

// Subjects returns the subjects topic is published on: the fact, then the
// saga step if the acting shard lies in another partition. A topic not of
// the form wallet.<aggregate>.<event>.<shard> wraps events.ErrMalformed: no
// consumer could read its subject, so the row is set aside. A topic whose
// shard is beyond the deployment's count goes as a fact only: no partition
// is known to act on it.
func (r Route) Subjects(topic string) ([]string, error) {
	p := events.Partition(r.Shard, r.Shards, r.Partitions)
	fact := events.FactSubject(p, topic)
	parsed, err := events.ParseSubject(fact)
	if err != nil || parsed.Topic != topic {
		return nil, fmt.Errorf("%w: outbox topic %q is not wallet.<aggregate>.<event>.<shard>", events.ErrMalformed, topic)
	}
	out := []string{fact}
	if parsed.Shard < r.Shards {
		if q := events.Partition(parsed.Shard, r.Shards, r.Partitions); q != p {
			out = append(out, events.StepSubject(q, topic))
		}
	}
	return out, nil
}

// publishAsync publishes rw on each subject of its route, all with its
// event id as Nats-Msg-Id, so that each stream drops a row published again
// within its duplicate window. It returns the futures published before an
// error, if any.
func publishAsync(js jetstream.JetStream, route Route, rw row) ([]jetstream.PubAckFuture, error) {
	subjects, err := route.Subjects(rw.Topic)
	if err != nil {
		return nil, err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(subjects))
	for _, subject := range subjects {
		e := rw.event()
		e.Topic = subject
		f, err := js.PublishMsgAsync(e.Msg(), jetstream.WithMsgID(rw.EventID))
		if err != nil {
			return futures, err
		}
		futures = append(futures, f)
	}
	return futures, nil
}
