package systemtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/stream"
	"github.com/walletco/wallet/pkg/testenv"
)

// The services start on a three-node cluster that is still forming (they
// retry declaring the stream until a meta leader is elected), with the
// WALLET stream at 3 replicas. While transfers run, the stream's leader
// node is stopped: publishing (relay) and consuming (saga, ledger) go on
// through the other two, nothing is lost or doubled, and the node rejoins
// when it is started again with its ports and store.
func TestClusterStreamLeaderStopped(t *testing.T) {
	t.Parallel()
	s := NewCluster(t, binDir, 3)
	s.StartAll()
	b := newBank(t, s, 16)
	var stoppedAt, sentAtStop, sentAtRejoin int
	b.run(8, 60, func() {
		info := s.streamInfo()
		leader := info.Cluster.Leader
		node := s.Cluster.Node(leader)
		if node < 0 {
			t.Fatalf("stream leader %q is not a node", leader)
		}
		stoppedAt = int(info.State.Msgs)
		b.mu.Lock()
		sentAtStop = len(b.sent)
		b.mu.Unlock()
		s.Cluster.Stop(node)
		t.Logf("stopped stream leader %s (node %d) at %d stream messages, %d transfers sent", leader, node, stoppedAt, sentAtStop)

		// A new leader takes over and the relay publishes to it.
		testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
			info := s.streamInfo()
			if info.Cluster.Leader == "" || info.Cluster.Leader == leader {
				return fmt.Errorf("leader %q", info.Cluster.Leader)
			}
			if n := int(info.State.Msgs); n < stoppedAt+100 {
				return fmt.Errorf("%d messages since the stop", n-stoppedAt)
			}
			return nil
		})

		s.Cluster.Restart(node)
		testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
			info := s.streamInfo()
			if len(info.Cluster.Replicas) != 2 {
				return fmt.Errorf("replicas %+v", info.Cluster.Replicas)
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current {
					return fmt.Errorf("replica %s is not current (lag %d)", r.Name, r.Lag)
				}
			}
			return nil
		})
		b.mu.Lock()
		sentAtRejoin = len(b.sent)
		b.mu.Unlock()
		t.Logf("node %d rejoined, current; %d transfers sent", node, sentAtRejoin)
	})
	if sentAtRejoin == sentAtStop {
		t.Errorf("no transfer was sent while the node was down: the test did not test anything")
	}
	b.check()

	// Every outbox row is in the stream exactly once, and the ledger
	// applied each once.
	total, unpublished := s.outboxRows()
	if unpublished != 0 || uint64(total) != s.streamMsgs() {
		t.Fatalf("outbox %d rows, %d unpublished; stream %d messages", total, unpublished, s.streamMsgs())
	}
	var applied int
	if err := s.Ledger.Get(&applied, "SELECT COUNT(*) FROM inbox WHERE consumer = 'ledger'"); err != nil {
		t.Fatal(err)
	}
	if applied != total {
		t.Fatalf("ledger processed %d events, want %d", applied, total)
	}
}

// streamInfo reads partition 0's stream's info from any running node,
// retrying while the cluster elects a leader.
func (s *System) streamInfo() *jetstream.StreamInfo {
	s.t.Helper()
	js, nc := s.jetStream()
	defer nc.Close()
	var info *jetstream.StreamInfo
	testenv.Eventually(s.t, 60*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, stream.PartitionName(0))
		if err != nil {
			return err
		}
		if info, err = st.Info(ctx); err != nil {
			return err
		}
		if info.Cluster == nil {
			return errors.New("no cluster info")
		}
		return nil
	})
	return info
}
