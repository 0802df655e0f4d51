package consumer

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/walletco/wallet/ledger-service/internal/gap"
)

// A gap the stream will never fill (ADR 0039): the ledger applies only
// pos+1 and naks what comes after it (ADR 0008), so when pos+1 was deleted
// or dropped by a stream limit it would wait for ever. When messages come
// early the consumer looks, at most every GapCheckEvery, whether pos+1 is
// still in the stream; if not, it logs the gap once, records it, sets
// wallet_ledger_gap_messages and answers not ready until an operator
// decides (ledger-service skip-gap).

// GapCheckEvery bounds how often a stalled consumer asks the stream
// whether the message it waits for still exists.
const GapCheckEvery = time.Second

var gapMessages = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "wallet_ledger_gap_messages",
	Help: "Messages missing from the stream at the ledger's next sequence (a gap it cannot pass without an operator: ledger-service skip-gap), by partition; 0 when none.",
}, []string{"partition"})

// GapStore is what the gap detection needs of the ledger store.
type GapStore interface {
	// Position is the last stream sequence applied; known is false before
	// the first.
	Position(ctx context.Context) (seq uint64, known bool, err error)
	// RecordGap records the gap the ledger waits at.
	RecordGap(ctx context.Context, g gap.Gap) error
}

// GapReport is the gap a partition's consumer waits at, if any, for
// /readyz. Like stream.Health it outlives the consumer that fills it: one
// per partition, handed to each consumer the partition gets.
type GapReport struct {
	mu      sync.Mutex
	checked time.Time
	current *gap.Gap
}

// NewGapReport returns a report of no gap.
func NewGapReport() *GapReport { return &GapReport{} }

// Gap is the gap the ledger waits at, if any.
func (r *GapReport) Gap() (gap.Gap, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		return gap.Gap{}, false
	}
	return *r.current, true
}

// Err is nil unless the ledger waits at a gap; /readyz answers it.
func (r *GapReport) Err() error {
	g, ok := r.Gap()
	if !ok {
		return nil
	}
	return errors.New("gap in " + g.String() + ": the ledger waits at " + strconv.FormatUint(g.First, 10) +
		"; skip it or restore it (ledger-service gaps, ledger-service skip-gap; docs/operations.md)")
}

// early runs when messages came before their turn: at most every
// GapCheckEvery it looks for a gap at the position.
func (c *Consumer) early(ctx context.Context) {
	c.Gaps.mu.Lock()
	due := time.Since(c.Gaps.checked) >= GapCheckEvery
	if due {
		c.Gaps.checked = time.Now()
	}
	c.Gaps.mu.Unlock()
	if !due {
		return
	}
	pos, known, err := c.store.Position(ctx)
	if err != nil || !known {
		if err != nil {
			c.log.Warn("gap check: read the ledger position", "stream", c.streamName(), "partition", c.Partition, "err", err)
		}
		return
	}
	g, found, err := gap.Find(ctx, c.js, c.streamName(), c.Partition, pos)
	if err != nil {
		c.log.Warn("gap check", "stream", c.streamName(), "partition", c.Partition, "err", err)
		return
	}
	if !found {
		c.passed()
		return
	}
	c.Gaps.mu.Lock()
	cur := c.Gaps.current
	c.Gaps.mu.Unlock()
	if cur != nil && cur.First == g.First && cur.Last == g.Last {
		return // reported already
	}
	if cur != nil && cur.First == g.First {
		g.Detected = cur.Detected // the same gap, grown by a limit
	} else {
		c.log.Error("gap in the stream: the ledger cannot go on until an operator decides (ledger-service skip-gap, see docs/operations.md)",
			"stream", g.Stream, "partition", g.Partition, "first", g.First, "last", g.Last, "messages", g.Messages(), "cause", g.Cause)
	}
	// Recorded, then counted, then not ready: whoever sees /readyz name
	// the gap finds it in ledger-service gaps and the metric.
	if err := c.store.RecordGap(ctx, g); err != nil {
		c.log.Warn("record gap", "stream", g.Stream, "partition", g.Partition, "err", err)
	}
	gapMessages.WithLabelValues(c.partitionLabel()).Set(float64(g.Messages()))
	c.Gaps.mu.Lock()
	c.Gaps.current = &g
	c.Gaps.mu.Unlock()
}

// passed runs when the ledger took its turn again: no gap holds it.
func (c *Consumer) passed() {
	c.Gaps.mu.Lock()
	g := c.Gaps.current
	c.Gaps.current = nil
	c.Gaps.mu.Unlock()
	if g == nil {
		return
	}
	gapMessages.WithLabelValues(c.partitionLabel()).Set(0)
	c.log.Info("gap passed: the ledger goes on", "stream", g.Stream, "partition", g.Partition, "first", g.First, "last", g.Last)
}

func (c *Consumer) partitionLabel() string { return strconv.Itoa(c.Partition) }
