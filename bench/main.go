// Command bench is the wallet's load generator (make bench). It drives the
// running local stack through its HTTP API, waits until every transfer has
// settled and the ledger agrees with the shards, checks that money was
// conserved, and measures two baselines on the same MariaDB for comparison:
// the naive one-transaction-per-transfer loop and a set-based loop of 50
// transfers per transaction. -suite runs issue 18's scenarios and judges
// them against its targets. Figures go to stdout and to JSON files under
// -out; the exit status is non-zero when a check failed or the system did
// not settle.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run wires the flags to the runs and returns the exit status: 0 when every
// run settled and passed its checks, 1 when one did not, 2 on bad usage or a
// run that could not be measured. A missed target is printed and recorded,
// not an exit status: on a shared machine it says what was reached, not
// that something broke.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.Scale {
		return runScale(ctx, cfg, stdout, stderr)
	}
	scenarios := []Config{cfg}
	if cfg.Suite {
		scenarios = suite(cfg)
	}
	started := time.Now().UTC()
	var results []*Result
	status := 0
	for _, sc := range scenarios {
		sc, basis, err := resolveRate(sc, results)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s scenario skipped: %v\n", sc.Role, err)
			continue
		}
		r, err := runOne(ctx, sc, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", sc.Name(), err)
			status = 2
			break
		}
		r.RateBasis = basis
		if err := r.write(sc.Out); err != nil {
			fmt.Fprintf(stderr, "bench: write result: %v\n", err)
			status = 2
		}
		printResult(stdout, r)
		if len(r.Failures) > 0 && status == 0 {
			status = 1
		}
		results = append(results, r)
	}
	if len(results) > 1 {
		printSummary(stdout, results)
	}
	targets := judge(results, cfg.Suite)
	printTargets(stdout, targets)
	if cfg.Suite {
		rep := newSuiteReport(cfg, started, results, targets)
		if err := rep.write(cfg.Out); err != nil {
			fmt.Fprintf(stderr, "bench: write suite result: %v\n", err)
			status = 2
		} else {
			fmt.Fprintf(stdout, "result   %s\n", rep.File)
		}
	}
	return status
}
