package service

import (
	"context"
	"errors"
	"testing"
	"time"
)

// serveUntilDone stands in for an HTTP server: it serves until ctx ends.
func serveUntilDone(ctx context.Context) error { <-ctx.Done(); return nil }

func runWithin(t *testing.T, ctx context.Context, s *Start) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
		return nil
	}
}

func TestStartIsReadyOnlyOnceUpSucceeded(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	release := make(chan struct{})
	working := make(chan struct{})
	s := &Start{Serve: serveUntilDone}
	s.Up = func(ctx context.Context) error {
		if s.Starting() == nil {
			t.Error("ready before Up returned")
		}
		<-release
		return nil
	}
	s.Work = func(ctx context.Context) error { close(working); <-ctx.Done(); return nil }
	go func() {
		close(release)
		<-working
		if err := s.Starting(); err != nil {
			t.Errorf("not ready while working: %v", err)
		}
		cancel()
	}()
	if err := runWithin(t, ctx, s); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
}

func TestStartFailingUpEndsServingAndIsReturned(t *testing.T) {
	refused := errors.New("stream setting refused")
	served := false
	s := &Start{
		Serve: func(ctx context.Context) error { <-ctx.Done(); served = true; return nil },
		Up:    func(context.Context) error { return refused },
		Work:  func(context.Context) error { t.Error("Work ran after Up failed"); return nil },
	}
	if err := runWithin(t, t.Context(), s); !errors.Is(err, refused) {
		t.Fatalf("Run: %v, want Up's error", err)
	}
	if !served || s.Starting() == nil {
		t.Fatalf("served %v, ready %v: want the server stopped and never ready", served, s.Starting() == nil)
	}
}

func TestStartFailingWorkStopsTheServer(t *testing.T) {
	died := errors.New("consumer died")
	s := &Start{Serve: serveUntilDone, Up: func(context.Context) error { return nil },
		Work: func(context.Context) error { return died }}
	if err := runWithin(t, t.Context(), s); !errors.Is(err, died) {
		t.Fatalf("Run: %v, want Work's error", err)
	}
}

func TestStartFailingServerStopsTheWork(t *testing.T) {
	listen := errors.New("listener closed")
	s := &Start{Serve: func(context.Context) error { return listen }, Up: func(context.Context) error { return nil },
		Work: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	if err := runWithin(t, t.Context(), s); !errors.Is(err, listen) || errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want the server's error alone", err)
	}
}

func TestStartStoppedWhileStartingIsNoFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := &Start{Serve: serveUntilDone,
		Up:   func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() },
		Work: func(context.Context) error { t.Error("Work ran"); return nil }}
	if err := runWithin(t, ctx, s); err != nil {
		t.Fatalf("Run stopped while starting: %v, want nil", err)
	}
}
