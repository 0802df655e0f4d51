package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/service"
)

// DeadLettersUsage is the dead-letters command's synopsis.
const DeadLettersUsage = "list [--all] | show ID | replay ID | discard ID — the messages the ledger gave up on, " +
	"in every partition's schema (ID is ledger<p>:id, e.g. ledger2:12; account-service's are its own); exit 0 done, 1 not found or refused, 2 usage"

// DeadLetterCommand is one parsed dead-letters command line.
type DeadLetterCommand struct {
	Action string // list, show, replay, discard
	All    bool   // list: the handled ones too
	Where  string // ledger<p>
	ID     uint64
}

// ParseDeadLetters reads the arguments after "dead-letters".
func ParseDeadLetters(args []string) (DeadLetterCommand, error) {
	if len(args) == 0 {
		return DeadLetterCommand{}, fmt.Errorf("%w: a subcommand is required: list, show, replay or discard", service.ErrUsage)
	}
	c := DeadLetterCommand{Action: args[0]}
	switch c.Action {
	case "list":
		fs := flag.NewFlagSet("list", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.BoolVar(&c.All, "all", false, "")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			return c, fmt.Errorf("%w: list takes only --all", service.ErrUsage)
		}
	case "show", "replay", "discard":
		if len(args) != 2 {
			return c, fmt.Errorf("%w: %s takes one ID (ledger<p>:id, e.g. ledger2:12)", service.ErrUsage, c.Action)
		}
		where, id, ok := strings.Cut(args[1], ":")
		n, err := strconv.ParseUint(id, 10, 64)
		if !ok || err != nil || n == 0 || !strings.HasPrefix(where, "ledger") {
			return c, fmt.Errorf("%w: %q is not an ID such as ledger2:12", service.ErrUsage, args[1])
		}
		c.Where, c.ID = where, n
	default:
		return c, fmt.Errorf("%w: unknown subcommand %q (list, show, replay, discard)", service.ErrUsage, c.Action)
	}
	return c, nil
}

// errRefused ends the command with exit status 1, the reason printed.
const errRefused = service.ExitCode(1)

// DeadLetters runs one dead-letters command against the partitions'
// schemas of cfg, printing to out and reasons to errOut. The ledger reads
// and writes only its own schemas: account-service's dead letters are its
// own to list.
func DeadLetters(ctx context.Context, cfg config.LedgerService, c DeadLetterCommand, out, errOut io.Writer, log *slog.Logger) error {
	var places []string
	dsns := map[string]string{}
	for p, dsn := range cfg.Ledger.Databases {
		where := fmt.Sprintf("ledger%d", p)
		places = append(places, where)
		dsns[where] = dsn
	}
	if c.Action == "list" {
		return listDeadLetters(ctx, places, dsns, c.All, out)
	}
	dsn, ok := dsns[c.Where]
	if !ok {
		fmt.Fprintf(errOut, "dead-letters: no %s: the places are %s\n", c.Where, strings.Join(places, ", "))
		return errRefused
	}
	db, err := openDeadLetters(ctx, dsn, c.Where)
	if err != nil {
		return err
	}
	defer db.Close()
	ref := fmt.Sprintf("%s:%d", c.Where, c.ID)
	refused := func(err error) error {
		if errors.Is(err, deadletter.ErrNotFound) || errors.Is(err, deadletter.ErrHandled) {
			fmt.Fprintf(errOut, "dead-letters %s %s: %v\n", c.Action, ref, err)
			return errRefused
		}
		return err
	}
	switch c.Action {
	case "show":
		l, err := deadletter.Get(ctx, db, c.ID)
		if err != nil {
			return refused(err)
		}
		return showDeadLetter(out, ref, l)
	case "discard":
		if err := deadletter.Discard(ctx, db, c.ID); err != nil {
			return refused(err)
		}
		fmt.Fprintf(out, "discarded %s\n", ref)
		return nil
	default: // replay
		js, closeNATS, err := connectReady(ctx, cfg.NATS.URL, log)
		if err != nil {
			return err
		}
		defer closeNATS()
		// A new Nats-Msg-Id that names the dead letter: the original's
		// would be dropped while the duplicate window lasts.
		ack, err := deadletter.Replay(ctx, db, js, c.ID, "replay:"+ref)
		if err != nil {
			return refused(err)
		}
		note := ""
		if ack.Duplicate {
			note = " (a duplicate of an earlier replay: the stream kept the first)"
		}
		fmt.Fprintf(out, "replayed %s as %s message %d%s\n", ref, ack.Stream, ack.Sequence, note)
		return nil
	}
}

func openDeadLetters(ctx context.Context, dsn, where string) (*sqlx.DB, error) {
	db, err := openReady(ctx, dsn, where)
	if err != nil {
		return nil, err
	}
	// The command may run before ledger-service upgraded its schema.
	if err := database.Migrate(ctx, db, deadletter.Migrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return db, nil
}

func listDeadLetters(ctx context.Context, places []string, dsns map[string]string, all bool, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONSUMER\tSUBJECT\tRECORDED\tSTATUS\tREASON")
	n := 0
	for _, where := range places {
		db, err := openDeadLetters(ctx, dsns[where], where)
		if err != nil {
			return err
		}
		ls, err := deadletter.List(ctx, db, all)
		db.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, l := range ls {
			n++
			fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s\t%s\n", where, l.ID, l.Consumer, l.Subject,
				l.RecordedAt.UTC().Format(time.RFC3339), l.Status(), shorten(l.Reason, 200))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d dead letters\n", n)
	return nil
}

func showDeadLetter(out io.Writer, ref string, l deadletter.Letter) error {
	fmt.Fprintf(out, "id:         %s\nconsumer:   %s\nsubject:    %s\nrecorded:   %s\nstatus:     %s\n",
		ref, l.Consumer, l.Subject, l.RecordedAt.UTC().Format(time.RFC3339Nano), l.Status())
	if l.HandledAt != nil {
		fmt.Fprintf(out, "handled:    %s\n", l.HandledAt.UTC().Format(time.RFC3339Nano))
	}
	if l.StreamSeq != nil {
		fmt.Fprintf(out, "stream seq: %d\n", *l.StreamSeq)
	}
	fmt.Fprintf(out, "reason:     %s\nheaders:\n", l.Reason)
	var h map[string][]string
	_ = json.Unmarshal([]byte(l.Headers), &h)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  %s: %s\n", k, strings.Join(h[k], ", "))
	}
	_, err := fmt.Fprintf(out, "payload:\n%s\n", l.Data)
	return err
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
