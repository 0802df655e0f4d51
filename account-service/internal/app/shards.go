package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/account-service/internal/shardmove"
	"github.com/walletco/wallet/account-service/internal/shardsplit"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/database"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/service"
)

// ShardsUsage is the shards command's synopsis.
const ShardsUsage = "list [--json] — which database server holds each logical shard (the placement map); " +
	"move N --to SERVER — move logical shard N to SERVER online (its writes pause for the switch), " +
	"exit 0 done, 1 failed (rolled back; or no placement yet, NATS unreachable), 2 usage; " +
	"split [--dry-run] — the upgrade to more logical shards: split the shards the placement has into the ones " +
	"shards declares (a multiple of them), each new schema made on its old shard's server, as the migration user, " +
	"with the services stopped and NATS up (docs/operations.md), exit 0 done, 1 failed (run it again to finish; " +
	"the shards stay frozen until a run ends), 2 usage (not a multiple; nothing changed)"

// ShardsArgs is one parsed shards command line.
type ShardsArgs struct {
	Action string // list, move or split
	JSON   bool   // list: [{"shard":N,"server":"NAME"},…] instead of a table
	Shard  int    // move: the logical shard
	To     string // move: the server it goes to
	DryRun bool   // split: print the plan, change nothing
}

// ParseShards reads the arguments after "shards".
func ParseShards(args []string) (ShardsArgs, error) {
	if len(args) == 0 {
		return ShardsArgs{}, fmt.Errorf("%w: a subcommand is required: list, move or split", service.ErrUsage)
	}
	c := ShardsArgs{Action: args[0]}
	switch c.Action {
	case "list":
		fs := flag.NewFlagSet("list", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.BoolVar(&c.JSON, "json", false, "")
		err := fs.Parse(args[1:])
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		if err != nil || fs.NArg() > 0 {
			return c, fmt.Errorf("%w: list takes only --json", service.ErrUsage)
		}
	case "move":
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help") {
			return c, flag.ErrHelp
		}
		var err error
		if len(args) < 2 {
			return c, fmt.Errorf("%w: move N --to SERVER", service.ErrUsage)
		}
		if c.Shard, err = strconv.Atoi(args[1]); err != nil || c.Shard < 0 {
			return c, fmt.Errorf("%w: move: %q is not a shard number", service.ErrUsage, args[1])
		}
		fs := flag.NewFlagSet("move", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&c.To, "to", "", "")
		err = fs.Parse(args[2:])
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		if err != nil || fs.NArg() > 0 || c.To == "" {
			return c, fmt.Errorf("%w: move N --to SERVER", service.ErrUsage)
		}
	case "split":
		fs := flag.NewFlagSet("split", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.BoolVar(&c.DryRun, "dry-run", false, "")
		err := fs.Parse(args[1:])
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		if err != nil || fs.NArg() > 0 {
			return c, fmt.Errorf("%w: split takes only --dry-run (the new count is the configured shards)", service.ErrUsage)
		}
	default:
		return c, fmt.Errorf("%w: unknown subcommand %q (list, move, split)", service.ErrUsage, c.Action)
	}
	return c, nil
}

// ShardsCommand is "account-service shards".
func ShardsCommand() service.Command[config.AccountService] {
	var c ShardsArgs
	return service.Command[config.AccountService]{
		Name:    "shards",
		Summary: ShardsUsage,
		Args: func(args []string) (err error) {
			c, err = ParseShards(args)
			return err
		},
		Run: func(ctx context.Context, cfg config.AccountService, _ *slog.Logger) error {
			switch c.Action {
			case "move":
				return MoveShard(ctx, cfg, c.Shard, c.To, os.Stdout)
			case "split":
				return SplitShards(ctx, cfg, c.DryRun, os.Stdout, os.Stderr)
			}
			return ListShards(ctx, cfg, c.JSON, os.Stdout)
		},
	}
}

// ListShards prints the placement stored in NATS: a table of each server's
// shards, or with asJSON one {"shard","server"} object per logical shard.
// It only reads: with no placement stored yet it fails, creating nothing.
func ListShards(ctx context.Context, cfg config.AccountService, asJSON bool, out io.Writer) error {
	m, err := loadPlacement(ctx, cfg.NATS.URL)
	if err != nil {
		return err
	}
	if asJSON {
		type entry struct {
			Shard  int    `json:"shard"`
			Server string `json:"server"`
		}
		list := make([]entry, m.Shards)
		for i := range list {
			list[i] = entry{Shard: i, Server: m.Server(i)}
		}
		return json.NewEncoder(out).Encode(list)
	}
	fmt.Fprintf(out, "placement version %d: %d logical shards on %d servers\n", m.Version, m.Shards, len(m.Servers))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tSHARDS\tRANGES")
	for _, s := range m.Servers {
		on := m.ShardsOn(s)
		fmt.Fprintf(tw, "%s\t%d\t%s\n", s, len(on), ranges(on))
	}
	return tw.Flush()
}

// MoveShard moves shard to server to (shardmove), printing its progress to
// out: exit 0 done; 1 failed, and rolled back; 2 no such shard or server,
// or the server that already holds it.
func MoveShard(ctx context.Context, cfg config.AccountService, shard int, to string, out io.Writer) error {
	layout, err := database.LayoutOf(cfg.Servers, cfg.Shards)
	if err != nil {
		return err
	}
	store, nc, err := attachPlacement(ctx, cfg, "account-service shards move")
	if err != nil {
		return err
	}
	defer nc.Close()
	m := shardmove.Mover{Placement: store, Layout: layout, ReplicationUser: cfg.Move.ReplicationUser,
		ReplicationPassword: cfg.Move.ReplicationPassword, PauseTimeout: cfg.Move.PauseTimeout, DropAfter: cfg.Move.DropAfter, Progress: out}
	r, err := m.Move(ctx, shard, to)
	if errors.Is(err, shardmove.ErrUsage) {
		fmt.Fprintf(os.Stderr, "shards move: %v\n", err)
		return service.ExitCode(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shards move: failed, the shard stays on its server: %v\n", err)
		return service.ExitCode(1)
	}
	fmt.Fprintf(out, "done: shard %d moved from %s to %s; writes paused %s\n", r.Shard, r.From, r.To, r.Pause.Round(time.Millisecond))
	return nil
}

// SplitShards splits the logical shards the placement has into the ones
// cfg.Shards declares (shardsplit), printing its progress to out: exit 0
// done (or nothing to do); 1 failed, and a run again finishes it; 2 a count
// that is not a multiple of the shards there are, or a configuration that
// does not match them: nothing changed. With dryRun it prints the plan.
func SplitShards(ctx context.Context, cfg config.AccountService, dryRun bool, out, errOut io.Writer) error {
	layout, err := database.LayoutOf(cfg.Servers, cfg.Shards)
	if err != nil {
		fmt.Fprintf(errOut, "shards split: %v\n", err)
		return service.ExitCode(2)
	}
	pools, err := database.OpenAll(layout.ServerDSNs)
	if err != nil {
		fmt.Fprintf(errOut, "shards split: %v\n", err)
		return service.ExitCode(2)
	}
	defer func() {
		for _, db := range pools {
			db.Close()
		}
	}()
	store, nc, err := attachPlacement(ctx, cfg, "account-service shards split")
	if err != nil {
		return err
	}
	defer nc.Close()
	s := &shardsplit.Splitter{Placement: store, Layout: layout, Pools: pools, Progress: out}
	start := time.Now()
	var p shardsplit.Plan
	if dryRun {
		p, err = s.Check(ctx, true)
	} else {
		p, err = s.Run(ctx)
	}
	switch {
	case errors.Is(err, shardsplit.ErrUsage):
		fmt.Fprintf(errOut, "shards split: %v\n", strings.TrimPrefix(err.Error(), shardsplit.ErrUsage.Error()+": "))
		return service.ExitCode(2)
	case err != nil && p.Started:
		fmt.Fprintf(errOut, "shards split: failed: %v\nrun it again to finish the split: until a run ends, its shards stay frozen (writes get 503)\n", err)
		return service.ExitCode(1)
	case err != nil:
		fmt.Fprintf(errOut, "shards split: failed: %v\n", err)
		return service.ExitCode(1)
	case dryRun:
		p.Print(out, layout)
		fmt.Fprintln(out, "dry run: nothing changed")
	case p.Done():
		fmt.Fprintf(out, "nothing to do: the placement has the %d logical shards configured\n", p.To)
	default:
		fmt.Fprintf(out, "done: %d logical shards split into %d in %s\n", p.From, p.To, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// loadPlacement reads the placement once over a connection of its own,
// which fails at once rather than retrying: an operator wants the error.
func loadPlacement(ctx context.Context, url string) (placement.Map, error) {
	nc, err := nats.Connect(url, nats.Name("account-service shards"), nats.Timeout(5*time.Second))
	if err != nil {
		return placement.Map{}, fmt.Errorf("nats %s: not reachable: %w", config.MaskURLs(url), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return placement.Map{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := placement.Attach(ctx, js)
	if err != nil {
		return placement.Map{}, explainNoPlacement(err)
	}
	m, _, err := store.Load(ctx)
	return m, explainNoPlacement(err)
}

// explainNoPlacement says where a missing placement comes from.
func explainNoPlacement(err error) error {
	if errors.Is(err, placement.ErrNoPlacement) {
		return fmt.Errorf("%w (account-service stores the first one when it starts)", err)
	}
	return err
}

// ranges writes ascending shard numbers as runs: 0-6,8,10-127; "-" for none.
func ranges(shards []int) string {
	if len(shards) == 0 {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(shards); {
		j := i
		for j+1 < len(shards) && shards[j+1] == shards[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(shards[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(shards[j]))
		}
		i = j + 1
	}
	return b.String()
}

// attachPlacement connects to NATS as name and opens the stored placement,
// for a command that changes it; the caller closes the connection.
func attachPlacement(ctx context.Context, cfg config.AccountService, name string) (*placement.Store, *nats.Conn, error) {
	nc, err := nats.Connect(cfg.NATS.URL, nats.Name(name), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: not reachable: %w", config.MaskURLs(cfg.NATS.URL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	store, err := placement.Attach(ctx, js)
	if err != nil {
		nc.Close()
		return nil, nil, explainNoPlacement(err)
	}
	return store, nc, nil
}
