package systemtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/walletco/wallet/pkg/placement"
)

// MoveTimeout bounds one run of the mover: a move still running after it
// is stuck, which is a violation (a move ends done or rolled back).
const MoveTimeout = 5 * time.Minute

// Move is what one move fault did.
type Move struct {
	Shard    int
	From, To string
	Exit     int           // the mover's exit status: 0 done, 1 failed and rolled back
	Pause    time.Duration // how long the shard's writes paused (done moves), as the mover reports it
	Reason   string        // why a move failed, as the mover reports it
	Output   string        // what the mover printed, stdout then stderr
	Killed   string        // MoveKillSource: what was killed when
}

// killDelay is how long after the mover says it freezes the shard the
// source is killed: 0 to 60 ms, drawn from the fault's For (which the seed
// chose), so that kills land before the freeze commits, during the last
// catch-up, around the switch, or after it, while the shard's writes pause
// (tens to hundreds of milliseconds).
func killDelay(killFor time.Duration) time.Duration {
	return time.Duration(int64(killFor) % int64(60*time.Millisecond))
}

// Done reports whether the shard moved.
func (m *Move) Done() bool { return m.Exit == 0 }

// moveShard moves logical shard sh from the server that holds it to the
// next of the fleet's servers with the real "account-service shards move",
// which reaches both servers directly (a cut link or a slowed one is a
// service's, not the mover's) and sets up replication from the source's
// own address. Either outcome is fine while other faults hit the fleet:
// done (the placement names the new server and its copy is the live one)
// or failed and rolled back (the placement unchanged and the old copy live
// again). Anything else, or a mover that does not end, is an error.
//
// With killFor > 0 the source server is killed just after the mover says
// it freezes the shard, and started again killFor later, before the
// outcome is checked.
func (f *Fleet) moveShard(sh int, killFor time.Duration) (mv *Move, err error) {
	mv = &Move{Shard: sh, Exit: -1}
	ctx := context.Background()
	before, err := f.placementWithin(ctx, time.Minute)
	if err != nil {
		return mv, err
	}
	mv.From = before.Server(sh)
	at := slices.IndexFunc(f.DBs, func(d *DBServer) bool { return d.Name == mv.From })
	if at < 0 {
		return mv, fmt.Errorf("the placement puts shard %d on %s, which the fleet does not have", sh, mv.From)
	}
	mv.To = f.DBs[(at+1)%len(f.DBs)].Name

	f.moves++
	logPath := filepath.Join(f.dir, fmt.Sprintf("move-%d.log", f.moves))
	ctx, cancel := context.WithTimeout(ctx, MoveTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(f.bin, "account-service"), "shards", "move", strconv.Itoa(sh), "--to", mv.To)
	cmd.Env = f.directEnv()
	var stdout, stderr strings.Builder
	out := &stamped{w: &stdout, since: time.Now()}
	cmd.Stdout, cmd.Stderr = out, &stderr
	// The source is started again killFor after the kill, whether the
	// mover is still running or not: a mover that waits for it must see
	// it come back.
	var restarted chan error
	source := f.DBs[at]
	if killFor > 0 {
		out.onLine = func(line string) {
			if restarted == nil && strings.Contains(line, "freezing shard") {
				restarted = make(chan error, 1)
				go func() {
					time.Sleep(killDelay(killFor))
					if err := source.Kill(); err != nil {
						restarted <- err
						return
					}
					time.Sleep(killFor)
					restarted <- source.Start()
				}()
			}
		}
	}
	runErr := cmd.Run()
	if restarted != nil {
		if err := <-restarted; err != nil {
			return mv, err
		}
		mv.Killed = fmt.Sprintf("%s killed %s after the freeze began, started again %s later",
			source.Name, killDelay(killFor).Round(time.Millisecond), killFor.Round(time.Millisecond))
	} else if killFor > 0 {
		mv.Killed = "the mover never froze the shard: nothing killed"
	}
	mv.Output = stdout.String() + "--- stderr ---\n" + stderr.String()
	_ = os.WriteFile(logPath, []byte(mv.Output), 0o644)
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return mv, fmt.Errorf("stuck: the mover was still running after %s (killed); output in %s:\n%s", MoveTimeout, logPath, tail(stdout.String(), 10))
	case runErr == nil:
		mv.Exit = 0
	case errors.As(runErr, &exit):
		mv.Exit = exit.ExitCode()
	default:
		return mv, fmt.Errorf("run the mover: %w", runErr)
	}
	switch mv.Exit {
	case 0:
		if m := pausedRe.FindStringSubmatch(stdout.String()); m != nil {
			mv.Pause, _ = time.ParseDuration(m[1])
		}
		err = f.verifyLive(sh, mv.To, before.Version+1)
	case 1:
		mv.Reason = failure(stderr.String())
		mv.Pause = frozenFor(stdout.String())
		err = f.verifyLive(sh, mv.From, before.Version)
	default:
		err = fmt.Errorf("the mover exited %d: %s", mv.Exit, tail(stderr.String(), 5))
	}
	if err != nil {
		err = fmt.Errorf("%w (mover exit %d; its output in %s:\n%s\n%s)", err, mv.Exit, logPath, tail(stdout.String(), 12), tail(stderr.String(), 5))
	}
	return mv, err
}

// pausedRe finds the pause in the mover's last line: "done: shard 2 moved
// from mariadb-1 to mariadb-0; writes paused 312ms".
var pausedRe = regexp.MustCompile(`writes paused (\S+)\s*$`)

// stamped prefixes every line written to w with the time since since,
// "+1.234s ", so that a mover's output shows how long each step took.
type stamped struct {
	w       io.Writer
	since   time.Time
	midLine bool
	onLine  func(line string) // if set, told every line, as it comes
}

func (s *stamped) Write(p []byte) (int, error) {
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !s.midLine {
			fmt.Fprintf(s.w, "+%.3fs ", time.Since(s.since).Seconds())
		}
		if _, err := s.w.Write(line); err != nil {
			return 0, err
		}
		s.midLine = line[len(line)-1] != '\n'
		if s.onLine != nil {
			s.onLine(string(line))
		}
	}
	return len(p), nil
}

// frozenFor is how long a failed move kept its shard frozen, from its
// stamped output: from "freezing" to "rolled back"; 0 if it never froze.
func frozenFor(stdout string) time.Duration {
	var frozen, undone float64 = -1, -1
	for _, line := range strings.Split(stdout, "\n") {
		var at float64
		if _, err := fmt.Sscanf(line, "+%fs ", &at); err != nil {
			continue
		}
		switch {
		case strings.Contains(line, " freezing "):
			frozen = at
		case strings.Contains(line, " rolled back") && frozen >= 0:
			undone = at
		}
	}
	if frozen < 0 || undone < 0 {
		return 0
	}
	return time.Duration((undone - frozen) * float64(time.Second))
}

// failure is the mover's reason for failing, from its stderr: "shards
// move: failed, the shard stays on its server: …".
func failure(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if _, why, ok := strings.Cut(line, "shards move: "); ok {
			if len(why) > 300 {
				why = why[:300] + "…"
			}
			return why
		}
	}
	return tail(stderr, 1)
}

// placementWithin reads the placement, retrying for up to d while JetStream
// is out of reach (a fault may still be healing).
func (f *Fleet) placementWithin(ctx context.Context, d time.Duration) (placement.Map, error) {
	deadline := time.Now().Add(d)
	for {
		m, err := f.Placement(ctx)
		if err == nil || time.Now().After(deadline) {
			return m, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// verifyLive checks, once the mover has exited, that the placement is at
// version and puts shard sh on server name, whose copy is live. Reads are
// retried for up to two minutes, since a later fault may have taken
// JetStream or the server away for a while; a definitive answer is not.
func (f *Fleet) verifyLive(sh int, name string, version uint64) error {
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	d, err := f.server(name)
	if err != nil {
		return err
	}
	for {
		var c shardCopy
		m, err := f.Placement(ctx)
		switch {
		case err != nil:
		case m.Version < version && time.Now().Before(deadline):
			// An older map than the mover stored: read again. Only the
			// mover writes the placement while it is checked (one move at
			// a time), so an older one that stays until the deadline is a
			// move half-done, not a node that has not caught up yet.
			err = fmt.Errorf("the placement is at version %d, want %d", m.Version, version)
		case m.Version != version || m.Server(sh) != name:
			return fmt.Errorf("half-done: the placement is at version %d with shard %d on %s; want version %d with it on %s",
				m.Version, sh, m.Server(sh), version, name)
		default:
			c, err = f.copyOn(ctx, d, sh)
		}
		if err == nil {
			if !c.live(sh, name) {
				return fmt.Errorf("half-done: shard %d's copy on %s, where the placement puts it, is not live: %s", sh, name, c)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not check the move's outcome: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// moveSummary reports the moves of a run: how many were done and with
// what pauses, how many failed and were rolled back, and why.
func moveSummary(injected []Injected) string {
	var done, failed, broken int
	var pauses, frozen []time.Duration
	reasons := map[string]int{}
	for _, in := range injected {
		switch mv := in.Move; {
		case mv == nil:
		case in.Err != nil:
			broken++
		case mv.Done():
			done++
			pauses = append(pauses, mv.Pause)
		default:
			failed++
			reasons[reasonKind(mv.Reason)]++
			if mv.Pause > 0 {
				frozen = append(frozen, mv.Pause)
			}
		}
	}
	if done+failed+broken == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "moves: %d done, %d failed and rolled back, %d neither (violations)", done, failed, broken)
	if len(pauses) > 0 {
		slices.Sort(pauses)
		fmt.Fprintf(&b, "; writes paused min %s, median %s, max %s", pauses[0].Round(time.Millisecond),
			pauses[len(pauses)/2].Round(time.Millisecond), pauses[len(pauses)-1].Round(time.Millisecond))
	}
	if failed > 0 {
		fmt.Fprintf(&b, "; failures: %s", counts(reasons))
	}
	if len(frozen) > 0 {
		slices.Sort(frozen)
		fmt.Fprintf(&b, "; %d failed after the freeze, writes paused up to %s before the rollback", len(frozen), frozen[len(frozen)-1].Round(time.Millisecond))
	}
	return b.String() + "\n"
}

// reasonKind shortens a mover's failure to the step that failed, for
// counting: "catch up", "freeze", "last writes", "copy", ….
func reasonKind(why string) string {
	why = strings.TrimPrefix(why, "failed, the shard stays on its server: ")
	if i := strings.IndexByte(why, ':'); i > 0 && i < 40 {
		return why[:i]
	}
	if len(why) > 40 {
		return why[:40] + "…"
	}
	return why
}

// placedSummary lists each server's logical shards: "mariadb-0 [0 1 3],
// mariadb-1 [2]".
func placedSummary(m placement.Map) string {
	var parts []string
	for _, s := range m.Servers {
		parts = append(parts, fmt.Sprintf("%s %v", s, m.ShardsOn(s)))
	}
	return strings.Join(parts, ", ")
}
