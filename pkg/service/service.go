// Package service runs a wallet service process: it loads the configuration,
// builds the JSON logger, wires the app, runs it until SIGINT or SIGTERM and
// exits non-zero on failure. Each cmd/<service>/main.go is one call to Main.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/web"
)

// App is a wired service.
type App interface {
	// Run serves until ctx ends, then shuts down gracefully.
	Run(ctx context.Context) error
	// Close releases what the app opened.
	Close()
}

// Builder wires an App from the configuration.
type Builder func(ctx context.Context, cfg config.Config, log *slog.Logger) (App, error)

// Main runs the service name built by build and exits 1 if it fails.
func Main(name string, build Builder) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, name, build)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// gcPercent is the garbage collector's target when GOGC is not set. The
// services' live heaps are a few tens of MB, so letting them grow to five
// times that before a collection costs little memory and saves the CPU that
// the default (100) spends collecting under load.
const gcPercent = 400

// memoryLimit is the soft heap limit when GOMEMLIMIT is not set: near it
// the collector runs as often as it must, so gcPercent never lets a burst
// (thousands of connections in an overload) grow the heap without bound.
const memoryLimit = 256 << 20

func run(ctx context.Context, name string, build Builder) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := web.NewLogger(name, cfg.LogLevel)
	log.Info("starting", "config", cfg.Masked())
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Run(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
