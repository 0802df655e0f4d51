package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/ledger-service/internal/gap"
	"github.com/walletco/wallet/ledger-service/internal/mysql"
	"github.com/walletco/wallet/ledger-service/internal/replay"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/stream"
)

// The operator's side of a gap in the stream (ADR 0039): `gaps` lists what
// the ledger detected and what was skipped, `skip-gap` passes a gap with a
// record of it. Restoring instead means republishing the missing events
// (outbox-relay republish: they come again later in the stream, under new
// sequence numbers) and then skipping the hole they left.

// partitions are the event partitions of the ledger, each with its ledger
// schema and its stream (ADR 0038): partition p is ledger.databases[p] and
// stream.PartitionName(p).
func partitions(cfg config.LedgerService) []partition {
	out := make([]partition, len(cfg.Ledger.Databases))
	for p, dsn := range cfg.Ledger.Databases {
		out[p] = partition{n: p, dsn: dsn, stream: stream.PartitionName(p)}
	}
	return out
}

type partition struct {
	n      int
	dsn    string
	stream string
}

// partitionOf is partition n, or a usage error naming the ones there are.
func partitionOf(cfg config.LedgerService, n int) (partition, error) {
	all := partitions(cfg)
	for _, p := range all {
		if p.n == n {
			return p, nil
		}
	}
	return partition{}, fmt.Errorf("%w: --partition %d: the ledger has partitions 0..%d", service.ErrUsage, n, len(all)-1)
}

// GapsCommand lists the gaps of every partition.
func GapsCommand() service.Command[config.LedgerService] {
	return service.Command[config.LedgerService]{
		Name: "gaps",
		Summary: "list the gaps in the event streams the ledger detected (messages it needs and the stream lost) " +
			"and those skipped; exit 0 listed, 1 could not read",
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			return Gaps(ctx, cfg, os.Stdout, log)
		},
	}
}

// Gaps prints every partition's recorded gaps and, if NATS answers, whether
// the ledger waits at one now.
func Gaps(ctx context.Context, cfg config.LedgerService, out io.Writer, log *slog.Logger) error {
	js, closeNATS, err := connectReady(ctx, cfg.NATS.URL, log)
	if err != nil {
		log.Warn("listing the recorded gaps only", "err", err)
	} else {
		defer closeNATS()
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PARTITION\tSTREAM\tFIRST\tLAST\tMESSAGES\tSTATE\tDETECTED\tSKIPPED\tBY\tREASON\tCAUSE")
	for _, p := range partitions(cfg) {
		if err := listGaps(ctx, p, js, w); err != nil {
			return fmt.Errorf("partition %d: %w", p.n, err)
		}
	}
	return w.Flush()
}

func listGaps(ctx context.Context, p partition, js jetstream.JetStream, w io.Writer) error {
	db, store, err := openStore(ctx, p.dsn, fmt.Sprintf("ledger db of partition %d", p.n))
	if err != nil {
		return err
	}
	defer db.Close()
	recs, err := store.Gaps(ctx)
	if err != nil {
		return err
	}
	open := false
	for _, r := range recs {
		state := "detected"
		if r.Skipped() {
			state = "skipped"
			if r.Forced {
				state = "skipped (forced)"
			}
		} else {
			open = true
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Partition, r.Stream, r.First, r.Last, r.Last-r.First+1,
			state, when(r.DetectedAt.Valid, r.DetectedAt.Time), when(r.SkippedAt.Valid, r.SkippedAt.Time),
			dash(r.SkippedBy.String), dash(r.Reason.String), r.Cause)
	}
	if js == nil || open {
		return nil
	}
	// Not recorded (the ledger is not running, or has not looked yet): ask
	// the stream.
	pos, known, err := store.Position(ctx)
	if err != nil || !known {
		return err
	}
	g, found, err := gap.Find(ctx, js, p.stream, p.n, pos)
	if err != nil || !found {
		return err
	}
	fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%d\t%s\t%s\t-\t-\t-\t%s\n", g.Partition, g.Stream, g.First, g.Last, g.Messages(),
		"missing (not recorded yet)", when(true, g.Detected), g.Cause)
	return nil
}

func when(ok bool, t time.Time) string {
	if !ok {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// SkipGapOptions are skip-gap's flags.
type SkipGapOptions struct {
	Partition int
	From, To  uint64
	Reason    string
	By        string
	Known     string
	Force     bool
}

// SkipGapCommand passes a gap of one partition.
func SkipGapCommand() service.Command[config.LedgerService] {
	var o SkipGapOptions
	return service.Command[config.LedgerService]{
		Name: "skip-gap",
		Summary: "pass a gap in a partition's stream: record the skipped range and move the ledger past it " +
			"(see docs/operations.md); exit 0 skipped, 1 refused or failed, 2 usage",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&o.Partition, "partition", -1, "the event partition (required)")
			fs.Uint64Var(&o.From, "from", 0, "first missing sequence: the ledger's position + 1 (required)")
			fs.Uint64Var(&o.To, "to", 0, "last missing sequence (required)")
			fs.StringVar(&o.Reason, "reason", "", "why the gap is skipped, kept with the record (required)")
			fs.StringVar(&o.By, "by", defaultBy(), "who skips it")
			fs.StringVar(&o.Known, "known", "", "what is known of the missing events, kept with the record (usually nothing)")
			fs.BoolVar(&o.Force, "force", false, "skip even if the stream does not confirm from..to as the gap the ledger waits at")
		},
		Run: func(ctx context.Context, cfg config.LedgerService, log *slog.Logger) error {
			return SkipGap(ctx, cfg, o, os.Stdout, log)
		},
	}
}

func defaultBy() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

// SkipGap checks o against the stream (unless forced) and the ledger's
// position, then records the skip and moves the position past it.
func SkipGap(ctx context.Context, cfg config.LedgerService, o SkipGapOptions, out io.Writer, log *slog.Logger) error {
	switch {
	case o.Partition < 0:
		return fmt.Errorf("%w: --partition is required", service.ErrUsage)
	case o.From == 0 || o.To == 0:
		return fmt.Errorf("%w: --from and --to are required", service.ErrUsage)
	case o.To < o.From:
		return fmt.Errorf("%w: --to %d is before --from %d", service.ErrUsage, o.To, o.From)
	case o.Reason == "":
		return fmt.Errorf("%w: --reason is required: it is kept with the record", service.ErrUsage)
	}
	p, err := partitionOf(cfg, o.Partition)
	if err != nil {
		return err
	}
	db, store, err := openStore(ctx, p.dsn, fmt.Sprintf("ledger db of partition %d", p.n))
	if err != nil {
		return err
	}
	defer db.Close()
	pos, known, err := store.Position(ctx)
	if err != nil {
		return err
	}
	if !known || pos+1 != o.From {
		return fmt.Errorf("partition %d: the ledger is at %s: a skip starts at its next sequence (see ledger-service gaps)", p.n, atPosition(pos, known))
	}
	k := mysql.Skip{Stream: p.stream, Partition: p.n, First: o.From, Last: o.To, Reason: o.Reason, By: o.By, Known: o.Known, Forced: o.Force,
		Cause: "forced: not confirmed by the stream"}
	js, closeNATS, err := connectReady(ctx, cfg.NATS.URL, log)
	if err != nil {
		return err
	}
	defer closeNATS()
	s, err := js.Stream(ctx, p.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", p.stream, err)
	}
	if last := s.CachedInfo().State.LastSeq; o.To > last {
		// The ledger would then refuse the stream as one that lost its
		// tail (mysql.ErrOtherStream), even with --force.
		return fmt.Errorf("partition %d: stream %s ends at %d: refusing to skip to %d, past its end", p.n, p.stream, last, o.To)
	}
	if !o.Force {
		g, found, err := gap.Find(ctx, js, p.stream, p.n, pos)
		switch {
		case err != nil:
			return err
		case !found:
			return fmt.Errorf("partition %d: message %d is in stream %s (or nothing follows it): not a gap, refusing to skip (--force skips anyway)", p.n, o.From, p.stream)
		case g.Last != o.To:
			return fmt.Errorf("partition %d: the gap is %d..%d, not %d..%d: refusing to skip another range (--force skips anyway)", p.n, g.First, g.Last, o.From, o.To)
		}
		k.Cause = g.Cause
	}
	rec, err := store.SkipGap(ctx, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "partition %d (stream %s): skipped messages %d..%d (%d), recorded as gap %d by %s: %s; the ledger goes on at %d\n",
		rec.Partition, rec.Stream, rec.First, rec.Last, rec.Last-rec.First+1, rec.ID, rec.SkippedBy.String, rec.Reason.String, rec.Last+1)
	return nil
}

func atPosition(pos uint64, known bool) string {
	if !known {
		return "no position yet"
	}
	return fmt.Sprintf("%d, next %d", pos, pos+1)
}

// liveSkips reads the gaps the live ledger at dsn skipped: a replay passes
// them as turns taken and copies their records (ADR 0039).
func liveSkips(ctx context.Context, dsn string) ([]mysql.GapRecord, []gap.Range, error) {
	db, live, err := openStore(ctx, dsn, "ledger db")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	recs, err := live.Gaps(ctx)
	if err != nil {
		return nil, nil, err
	}
	var skipped []gap.Range
	for _, r := range recs {
		if r.Skipped() {
			skipped = append(skipped, gap.Range{First: r.First, Last: r.Last})
		}
	}
	return recs, skipped, nil
}

// reportReplayGaps says what a replay passed as skipped and what it lacks.
func reportReplayGaps(out io.Writer, sum replay.Summary) {
	if sum.Skipped > 0 {
		fmt.Fprintf(out, "%d missing messages passed as the live ledger skipped them (ledger-service gaps)\n", sum.Skipped)
	}
	if sum.Missing > 0 {
		fmt.Fprintf(out, "warning: %d messages missing from the stream that the live ledger did not skip (deleted after it applied them, or a gap it waits at): the replay lacks them; first holes %v\n",
			sum.Missing, sum.Holes)
	}
}
