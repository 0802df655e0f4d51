package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/web"
)

// Command is one subcommand of a service's command line besides serve. C is
// the binary's configuration (config.AccountService, …), loaded before Run.
type Command[C config.Service] struct {
	Name    string
	Summary string // one line for the usage text
	// Flags, if set, declares the command's flags; Run reads them through
	// the variables they are bound to.
	Flags func(fs *flag.FlagSet)
	// Args, if set, takes the arguments after the flags (a subcommand and
	// its operands) before Run; an error wrapping ErrUsage rejects them.
	// Without it any argument is a usage error. An error wrapping
	// flag.ErrHelp (a subcommand's -h) prints the usage to stdout, exit 0.
	Args func(args []string) error
	// Run does the command's work. An ExitCode error ends the process with
	// that code and no message; any other error prints it and exits 1.
	Run func(ctx context.Context, cfg C, log *slog.Logger) error
}

// ExitCode is an error that asks for a specific exit status, such as 1 for
// "discrepancies found", with the explanation already printed.
type ExitCode int

func (c ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// Exit status 2 answers a command line that cannot be understood.
const exitUsage = 2

// ErrUsage marks a command's error as a misuse of its command line (a
// required flag missing): it is printed and the process exits 2.
var ErrUsage = errors.New("usage")

// Main runs name's command line: "name" or "name serve" runs the service
// built by build until SIGINT or SIGTERM; the other commands are cmds.
// "-h"/"--help" print the usage (of one command after its name); an unknown
// command or flag prints it to stderr and exits 2. Configuration comes from
// config.Load[C] as always (defaults < config.yaml < WALLET_*), not from
// flags: every command of a binary reads and validates the binary's sections.
func Main[C config.Service](name, summary string, build Builder[C], cmds ...Command[C]) {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, name, summary, build, cmds))
}

func run[C config.Service](args []string, stdout, stderr io.Writer, name, summary string, build Builder[C], cmds []Command[C]) int {
	serve := Command[C]{Name: "serve", Summary: "run the service until SIGINT or SIGTERM (the default)",
		Run: func(ctx context.Context, cfg C, log *slog.Logger) error {
			return serveApp(ctx, cfg, log, build)
		}}
	all := append([]Command[C]{serve}, cmds...)
	usage := func(w io.Writer) { printUsage(w, name, summary, all) }

	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
		usage(stdout)
		return 0
	}
	cmd := serve
	if len(args) > 0 {
		found := false
		for _, c := range all {
			if c.Name == args[0] {
				cmd, found = c, true
			}
		}
		if !found {
			fmt.Fprintf(stderr, "%s: unknown command %q\n\n", name, args[0])
			usage(stderr)
			return exitUsage
		}
		args = args[1:]
	}
	fs := flag.NewFlagSet(name+" "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	cmdUsage := func(w io.Writer) {
		fs.SetOutput(w)
		fmt.Fprintf(w, "usage: %s %s [flags]\n\n%s\n", name, cmd.Name, cmd.Summary)
		if hasFlags(fs) {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
		fmt.Fprintln(w, "\nConfiguration: defaults < config.yaml (or $WALLET_CONFIG) < WALLET_* environment; see docs/configuration.md.")
	}
	// Parse would print the usage itself, to stderr, also for -h: print it
	// here instead, once, to stdout when asked for.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmdUsage(stdout)
			return 0
		}
		fmt.Fprintln(stderr)
		cmdUsage(stderr) // after the flag package's error line
		return exitUsage
	}
	if cmd.Args != nil {
		if err := cmd.Args(fs.Args()); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				cmdUsage(stdout)
				return 0
			}
			msg := strings.TrimPrefix(strings.TrimSpace(err.Error()), ErrUsage.Error()+": ")
			fmt.Fprintf(stderr, "%s %s: %s\n\n", name, cmd.Name, msg)
			cmdUsage(stderr)
			return exitUsage
		}
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s %s: unexpected argument %q\n\n", name, cmd.Name, fs.Arg(0))
		cmdUsage(stderr)
		return exitUsage
	}
	return execute(name, cmd, stderr)
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func printUsage[C config.Service](w io.Writer, name, summary string, cmds []Command[C]) {
	fmt.Fprintf(w, "%s: %s\n\nusage: %s [command] [flags]\n\ncommands:\n", name, summary, name)
	sorted := append([]Command[C](nil), cmds[1:]...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, c := range append(cmds[:1:1], sorted...) {
		fmt.Fprintf(w, "  %-13s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\n%q shows a command's flags. Configuration: defaults < config.yaml\n", name+" <command> -h")
	fmt.Fprintln(w, "(or $WALLET_CONFIG) < WALLET_* environment; see docs/configuration.md.")
}

// execute loads the configuration and runs cmd with a context that ends on
// SIGINT or SIGTERM, returning the process's exit status.
func execute[C config.Service](name string, cmd Command[C], stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tuneRuntime()
	cfg, err := config.Load[C]()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	// A service logs to stdout, where its supervisor collects it; a batch
	// command keeps stdout for its report and logs to stderr.
	logTo := io.Writer(os.Stdout)
	if cmd.Name != "serve" {
		logTo = stderr
	}
	log := web.NewLogger(name, cfg.Level(), logTo)
	err = cmd.Run(ctx, cfg, log)
	var code ExitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s %s: %s (see %s %s -h)\n", name, cmd.Name, strings.TrimSpace(err.Error()), name, cmd.Name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "%s: %s\n", name, strings.TrimSpace(err.Error()))
		return 1
	}
}
