package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/service"
)

// The dead-letters command of a service: list, show, replay and discard
// the dead letters in the service's own schemas, each named by a place
// (ledger-service: ledger0 …, one per event partition; account-service:
// shard0 …). A service reads and writes only its own schemas.

// Command is one parsed dead-letters command line.
type Command struct {
	Action string // list, show, replay, discard
	All    bool   // list: the handled ones too
	Where  string // the place, e.g. ledger2 or shard7
	ID     uint64
}

// Place is one schema holding a dead_letters table.
type Place struct {
	Name string // as in an ID, e.g. ledger2
	DSN  string
}

// ParseCommand reads the arguments after "dead-letters"; example is an ID
// of the service, e.g. ledger2:12, for the usage messages.
func ParseCommand(args []string, example string) (Command, error) {
	if len(args) == 0 {
		return Command{}, fmt.Errorf("%w: a subcommand is required: list, show, replay or discard", service.ErrUsage)
	}
	c := Command{Action: args[0]}
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
			return c, fmt.Errorf("%w: %s takes one ID (place:id, e.g. %s)", service.ErrUsage, c.Action, example)
		}
		where, id, ok := strings.Cut(args[1], ":")
		n, err := strconv.ParseUint(id, 10, 64)
		if !ok || err != nil || n == 0 || where == "" {
			return c, fmt.Errorf("%w: %q is not an ID such as %s", service.ErrUsage, args[1], example)
		}
		c.Where, c.ID = where, n
	default:
		return c, fmt.Errorf("%w: unknown subcommand %q (list, show, replay, discard)", service.ErrUsage, c.Action)
	}
	return c, nil
}

// errRefused ends the command with exit status 1, the reason printed.
const errRefused = service.ExitCode(1)

// connectTimeout bounds the wait for each database.
const connectTimeout = 5 * time.Second

// Run runs c against places, printing to out and reasons to errOut.
// connect, called for replay only, reaches JetStream (as a user that may
// publish events: the relay's) and returns how to close it.
func Run(ctx context.Context, places []Place, c Command, connect func(context.Context) (jetstream.JetStream, func(), error), out, errOut io.Writer) error {
	if c.Action == "list" {
		return list(ctx, places, c.All, out)
	}
	var dsn string
	var names []string
	for _, p := range places {
		names = append(names, p.Name)
		if p.Name == c.Where {
			dsn = p.DSN
		}
	}
	if dsn == "" {
		fmt.Fprintf(errOut, "dead-letters: no %s: the places are %s\n", c.Where, strings.Join(names, ", "))
		return errRefused
	}
	db, err := open(ctx, dsn, c.Where)
	if err != nil {
		return err
	}
	defer db.Close()
	ref := fmt.Sprintf("%s:%d", c.Where, c.ID)
	refused := func(err error) error {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrHandled) {
			fmt.Fprintf(errOut, "dead-letters %s %s: %v\n", c.Action, ref, err)
			return errRefused
		}
		return err
	}
	switch c.Action {
	case "show":
		l, err := Get(ctx, db, c.ID)
		if err != nil {
			return refused(err)
		}
		return show(out, ref, l)
	case "discard":
		if err := Discard(ctx, db, c.ID); err != nil {
			return refused(err)
		}
		fmt.Fprintf(out, "discarded %s\n", ref)
		return nil
	default: // replay
		js, closeNATS, err := connect(ctx)
		if err != nil {
			return err
		}
		defer closeNATS()
		// A new Nats-Msg-Id that names the dead letter: the original's
		// would be dropped while the duplicate window lasts.
		ack, err := Replay(ctx, db, js, c.ID, "replay:"+ref)
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

// open opens a place's schema, waiting up to connectTimeout for it, and
// migrates its dead_letters table: the command may run before the service
// that owns the table upgraded it.
func open(ctx context.Context, dsn, where string) (*sqlx.DB, error) {
	db, err := database.Open(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	wait, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := database.WaitReady(wait, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := database.Migrate(ctx, db, Migrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return db, nil
}

func list(ctx context.Context, places []Place, all bool, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONSUMER\tSUBJECT\tRECORDED\tSTATUS\tREASON")
	n := 0
	for _, p := range places {
		db, err := open(ctx, p.DSN, p.Name)
		if err != nil {
			return err
		}
		ls, err := List(ctx, db, all)
		db.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		for _, l := range ls {
			n++
			fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, l.ID, l.Consumer, l.Subject,
				l.RecordedAt.UTC().Format(time.RFC3339), l.Status(), shorten(l.Reason, 200))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d dead letters\n", n)
	return nil
}

func show(out io.Writer, ref string, l Letter) error {
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
