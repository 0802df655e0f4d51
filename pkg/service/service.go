// Package service runs a wallet service process: its command line (serve by
// default, plus the service's own commands), the configuration, the JSON
// logger, the app's wiring run until SIGINT or SIGTERM, and the exit status.
// Each cmd/<service>/main.go is one call to Main.
package service

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/walletco/wallet/pkg/config"
)

// App is a wired service.
type App interface {
	// Run serves until ctx ends, then shuts down gracefully.
	Run(ctx context.Context) error
	// Close releases what the app opened.
	Close()
}

// Builder wires an App from the binary's configuration C.
type Builder[C config.Service] func(ctx context.Context, cfg C, log *slog.Logger) (App, error)

// gcPercent is the garbage collector's target when GOGC is not set. The
// services' live heaps are a few tens of MB, so letting them grow to five
// times that before a collection costs little memory and saves the CPU that
// the default (100) spends collecting under load.
const gcPercent = 400

// memoryLimit is the soft heap limit when GOMEMLIMIT is not set: near it
// the collector runs as often as it must, so gcPercent never lets a burst
// (thousands of connections in an overload) grow the heap without bound.
const memoryLimit = 256 << 20

func tuneRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// serveApp builds the app and runs it until ctx ends.
func serveApp[C config.Service](ctx context.Context, cfg C, log *slog.Logger, build Builder[C]) error {
	log.Info("starting", "config", config.Masked(cfg))
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
