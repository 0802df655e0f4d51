// Package replay rebuilds a ledger partition from its stream (WALLET_<p>,
// ADR 0038): it applies every event from the first, in stream order, to an
// empty ledger schema exactly as the live consumer does, so every balance,
// entry and balance_after comes out the same. It needs the stream to keep
// every event (ADR 0007). Each partition is rebuilt on its own: there is no
// order across partitions, and none is needed.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/gap"
	"github.com/walletco/wallet/ledger-service/internal/ledger"
	"github.com/walletco/wallet/ledger-service/internal/progress"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/stream"
)

// Applier is the ledger store replayed into (mysql.Store).
type Applier interface {
	ApplyBatch(ctx context.Context, effs []ledger.Effect) []ledger.Outcome
}

// Options tune a replay.
type Options struct {
	// Batch is how many events one transaction applies. Default 500.
	Batch int
	// Stream is the stream replayed: stream.PartitionName(p); "" is the
	// WALLET stream of before partitions.
	Stream string
	// Progress, if set, receives a progress line about every Every.
	Progress io.Writer
	Every    time.Duration
	// Skipped are the gaps the live ledger skipped (ledger_gaps, ADR
	// 0039): sequences the stream lost whose turns the live ledger took
	// without an effect. A replay takes them the same way.
	Skipped []gap.Range
}

// Summary is what a replay did.
type Summary struct {
	Events     uint64 // read from the stream
	Applied    uint64
	Duplicates uint64 // redelivered or repeated saga steps, as the live ledger skipped them
	SetAside   uint64 // undecodable or conflicting events, which the live ledger dead-lettered
	Skipped    uint64 // sequences missing from the stream that the live ledger skipped (Options.Skipped)
	// Missing counts sequences missing from the stream that the live
	// ledger did not skip: deleted after it applied them, or a gap it
	// waits at. The replay lacks their effects; Holes names the first few.
	Missing uint64
	Holes   []gap.Range
	Elapsed time.Duration
}

// Run replays the stream's events up to its last sequence at the start into
// store. It stops early, with an error, if ctx ends or an event fails in a
// way the live ledger would have retried (a database error).
func Run(ctx context.Context, js jetstream.JetStream, store Applier, opts Options) (Summary, error) {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	start := time.Now()
	var sum Summary
	name := opts.Stream
	if name == "" {
		name = stream.Name
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		return sum, fmt.Errorf("open stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return sum, fmt.Errorf("stream info: %w", err)
	}
	last, total := info.State.LastSeq, info.State.Msgs
	if total == 0 {
		return sum, nil
	}
	if first := info.State.FirstSeq; first > 1 {
		if !gap.Covered(opts.Skipped, 1, first-1) {
			return sum, fmt.Errorf("the stream starts at sequence %d: events before it are gone, and a replay would not be the ledger (see the stream's retention; only a gap the ledger skipped is passed)", first)
		}
	}
	cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return sum, fmt.Errorf("ordered consumer: %w", err)
	}
	label := "replay"
	if opts.Stream != "" {
		label += " " + opts.Stream
	}
	p := progress.New(opts.Progress, label, "events", opts.Every, total)
	for seq := uint64(0); seq < last; {
		msgs, err := cons.Fetch(opts.Batch, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return sum, fmt.Errorf("fetch: %w", err)
		}
		var effs []ledger.Effect
		n := 0
		for m := range msgs.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return sum, fmt.Errorf("message metadata: %w", err)
			}
			if md.Sequence.Stream > last {
				sum.hole(opts.Skipped, seq+1, last)
				seq = last // published after the replay started: not ours
				break
			}
			sum.hole(opts.Skipped, seq+1, md.Sequence.Stream-1)
			seq = md.Sequence.Stream
			n++
			sum.Events++
			eff, err := effectOf(m)
			if err != nil {
				sum.SetAside++
				continue
			}
			effs = append(effs, eff)
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return sum, fmt.Errorf("fetch: %w", err)
		}
		if err := apply(ctx, store, effs, &sum); err != nil {
			return sum, err
		}
		if n == 0 && seq < last {
			// Nothing came: are the stream's last messages gone?
			next, err := gap.Next(ctx, st, seq+1)
			if err != nil {
				return sum, err
			}
			if next == 0 || next > last {
				sum.hole(opts.Skipped, seq+1, last)
				seq = last
			}
		}
		p.Report(sum.Events, false)
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
	}
	sum.Elapsed = time.Since(start)
	p.Report(sum.Events, true)
	return sum, nil
}

// hole counts the sequences first..last, absent from the stream, as
// skipped by the live ledger or missing.
func (s *Summary) hole(skipped []gap.Range, first, last uint64) {
	if first > last {
		return
	}
	if gap.Covered(skipped, first, last) {
		s.Skipped += last - first + 1
		return
	}
	s.Missing += last - first + 1
	if len(s.Holes) < 10 {
		s.Holes = append(s.Holes, gap.Range{First: first, Last: last})
	}
}

// effectOf decodes m and decides its effect, as the live consumer does.
func effectOf(m jetstream.Msg) (ledger.Effect, error) {
	e, err := events.FromMsg(m.Subject(), m.Headers(), m.Data())
	if err != nil {
		return ledger.Effect{}, err
	}
	return ledger.FromEvent(e)
}

func apply(ctx context.Context, store Applier, effs []ledger.Effect, sum *Summary) error {
	if len(effs) == 0 {
		return nil
	}
	for i, out := range store.ApplyBatch(ctx, effs) {
		switch {
		case errors.Is(out.Err, ledger.ErrConflict):
			sum.SetAside++
		case out.Err != nil:
			return fmt.Errorf("apply %s %s: %w", effs[i].EventType, effs[i].EventID, out.Err)
		case out.Applied:
			sum.Applied++
		default:
			sum.Duplicates++
		}
	}
	return nil
}
