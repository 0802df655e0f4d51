package service

import (
	"context"
	"errors"
	"sync/atomic"
)

// Start is the one start-up policy of every service: serve at once (so
// /healthz answers and /readyz says "starting"), bring the dependencies up,
// then work until ctx ends. Up waits for servers that are down (retrying
// with back-off until ctx ends) and returns only what can never succeed (a
// failed migration, a refused stream setting), which ends the service.
type Start struct {
	Serve func(ctx context.Context) error // the HTTP server, until ctx ends
	Up    func(ctx context.Context) error // wait for and prepare the dependencies
	Work  func(ctx context.Context) error // the service's work once Up succeeded

	up atomic.Bool
}

// errStarting is what /readyz reports until Up succeeded.
var errStarting = errors.New("starting: waiting for the database and the stream")

// Starting is errStarting until Up succeeded, then nil: the first check of
// every service's /readyz.
func (s *Start) Starting() error {
	if !s.up.Load() {
		return errStarting
	}
	return nil
}

// Run serves, brings the dependencies up and works until ctx ends, then
// shuts down gracefully: it returns once Serve and Work both returned.
// Whichever of them stops first stops the other; a service whose work died
// must exit and be restarted, not keep answering. Stopping while starting
// is not a failure.
func (s *Start) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		err := s.Serve(ctx)
		cancel()
		served <- err
	}()
	err := s.Up(ctx)
	if err == nil {
		s.up.Store(true)
		err = s.Work(ctx)
	}
	if ctx.Err() != nil {
		err = nil // stopped, or the server failed: its error is the one to report
	}
	cancel()
	return errors.Join(err, <-served)
}
