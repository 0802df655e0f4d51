// Package tick runs the services' periodic background jobs (prunes,
// redrives): one loop instead of a hand-made ticker in each job.
package tick

import (
	"context"
	"time"
)

// Every calls f every d until ctx ends, the first time d after the call.
// A call that takes longer than d delays the next one rather than
// overlapping it; the ticks it missed are dropped, not queued up.
func Every(ctx context.Context, d time.Duration, f func(ctx context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil {
			return // both were ready: select picked the tick at random
		}
		f(ctx)
	}
}
