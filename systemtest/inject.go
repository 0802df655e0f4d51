package systemtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/walletco/wallet/pkg/shard"
	"github.com/walletco/wallet/systemtest/nemesis"
)

// SlowLinkLatency is what a slow link adds each way.
const SlowLinkLatency = 50 * time.Millisecond

// Injected is one fault of the plan as it happened.
type Injected struct {
	nemesis.Fault
	Target string    // what it hit, by name
	Began  time.Time // when the fault was applied
	Healed time.Time // when it was healed (the restarted process ready)
	Note   string    // what was observed, e.g. the routes a partition left
	Err    error     // a fault that could not be applied or healed
	Move   *Move     // a move's outcome (MoveShard only)
}

// FaultTargets says how many targets the fleet offers each kind of fault.
func (f *Fleet) FaultTargets() map[nemesis.Kind]int {
	return map[nemesis.Kind]int{
		nemesis.KillAccount: 2, nemesis.KillRelay: 2, nemesis.KillLedger: LedgerInstances,
		nemesis.KillNATS: len(f.NATS), nemesis.KillMariaDB: len(f.DBs),
		nemesis.PartitionNATS:  len(f.NATS),
		nemesis.CutMariaDB:     2 * len(f.DBs), // each account-service from each server
		nemesis.SlowLink:       len(f.LinkNames()),
		nemesis.PauseConsumer:  2 + LedgerInstances, // each account-service (saga consumers) and ledger-service
		nemesis.PauseRelay:     2,
		nemesis.MoveShard:      f.shards(), // to the next server
		nemesis.MoveKillSource: f.shards(),
	}
}

// Inject applies plan, each fault at start+At (or at once if the previous
// one took longer to heal), and heals each before the next. A move is the
// exception: it runs on in the background while the next faults come
// (one move at a time: a move waits for the previous one to end), and
// Inject returns once the last one ended. It returns what happened, in
// plan order.
func (f *Fleet) Inject(plan []nemesis.Fault, start time.Time, logf func(string, ...any)) []Injected {
	out := make([]Injected, len(plan))
	var moves sync.WaitGroup
	for i, fault := range plan {
		time.Sleep(time.Until(start.Add(fault.At)))
		if fault.Kind == nemesis.MoveShard {
			f.moveMu.Lock() // released when the move ends
			in := &out[i]
			*in = Injected{Fault: fault, Began: time.Now()}
			moves.Add(1)
			go func() {
				defer moves.Done()
				defer f.moveMu.Unlock()
				in.Move, in.Err = f.moveShard(fault.Target, 0)
				in.Healed = time.Now()
				in.Target, in.Note = moveNote(in.Move)
				logf("nemesis: %s  %s on %s: %s %v", in.Began.Sub(start).Round(time.Millisecond), fault.Kind, in.Target, in.Note, errOrEmpty(in.Err))
				if in.Err == nil && !in.Move.Done() {
					logf("the mover's output:\n%s", tail(in.Move.Output, 30))
				}
			}()
			time.Sleep(fault.For)
			continue
		}
		in := Injected{Fault: fault, Began: time.Now()}
		if fault.Kind == nemesis.MoveKillSource {
			f.moveMu.Lock() // after the previous move
			in.Began = time.Now()
			in.Move, in.Err = f.moveShard(fault.Target, fault.For)
			f.moveMu.Unlock()
			in.Target, in.Note = moveNote(in.Move)
			in.Note += "; " + in.Move.Killed
		} else {
			in.Target, in.Note, in.Err = f.apply(fault)
		}
		in.Healed = time.Now()
		logf("nemesis: %s  %s on %s: %s %v", in.Began.Sub(start).Round(time.Millisecond), fault.Kind, in.Target, in.Note, errOrEmpty(in.Err))
		if in.Move != nil && in.Err == nil && !in.Move.Done() {
			logf("the mover's output:\n%s", tail(in.Move.Output, 30))
		}
		out[i] = in
	}
	moves.Wait()
	return out
}

// moveNote names a move's target and says how it ended, for the report.
func moveNote(mv *Move) (target, note string) {
	target = fmt.Sprintf("shard %d %s>%s", mv.Shard, mv.From, mv.To)
	switch mv.Exit {
	case 0:
		note = fmt.Sprintf("done, writes paused %s", mv.Pause.Round(time.Millisecond))
	case 1:
		note = "failed and rolled back: " + mv.Reason
		if mv.Pause > 0 {
			note += fmt.Sprintf(" (writes paused %s until the rollback)", mv.Pause.Round(time.Millisecond))
		}
	default:
		note = fmt.Sprintf("mover exit %d", mv.Exit)
	}
	return target, note
}

// waitStreamHealthy waits until the JetStream cluster is whole again
// after a node fault (StreamHealthy), so that the next fault does not
// overlap this one: a fault is healed when the node has caught up, not
// when its process runs.
func (f *Fleet) waitStreamHealthy() (string, error) {
	t0 := time.Now()
	for {
		why := f.StreamHealthy(context.Background())
		if why == "" {
			return fmt.Sprintf("cluster whole %s after the heal", time.Since(t0).Round(time.Millisecond)), nil
		}
		if time.Since(t0) > 2*time.Minute {
			return "", fmt.Errorf("cluster not whole %s after the heal: %s", time.Since(t0).Round(time.Second), why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return "ERROR: " + err.Error()
}

// apply injects one fault, waits its For, and heals it.
func (f *Fleet) apply(fault nemesis.Fault) (target, note string, err error) {
	i := fault.Target
	switch fault.Kind {
	case nemesis.KillAccount, nemesis.KillRelay, nemesis.KillLedger:
		target = map[nemesis.Kind]string{nemesis.KillAccount: AccountInstance(i), nemesis.KillRelay: RelayInstance(i),
			nemesis.KillLedger: LedgerInstance(i)}[fault.Kind]
		f.Kill(target)
		time.Sleep(fault.For)
		t0 := time.Now()
		err = f.Start(target)
		note = fmt.Sprintf("ready %s after the restart", time.Since(t0).Round(time.Millisecond))
	case nemesis.KillNATS:
		n := f.NATS[i]
		target = n.Name
		n.Kill()
		time.Sleep(fault.For)
		if err = n.Start(); err == nil {
			note, err = f.waitStreamHealthy()
		}
	case nemesis.KillMariaDB:
		d := f.DBs[i]
		target = d.Name
		if err = d.Kill(); err != nil {
			return target, "", err
		}
		time.Sleep(fault.For)
		t0 := time.Now()
		err = d.Start()
		note = fmt.Sprintf("answering %s after the restart (crash recovery)", time.Since(t0).Round(time.Millisecond))
	case nemesis.PartitionNATS:
		n := f.NATS[i]
		target = n.Name
		links := f.routeLinks(i)
		for _, p := range links {
			p.Cut()
		}
		// The node must really be alone: every route of it goes through
		// the links just cut.
		deadline := time.Now().Add(5 * time.Second)
		routes := n.Routes()
		for routes != 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			routes = n.Routes()
		}
		note = fmt.Sprintf("%d routes left to the node while cut", routes)
		if routes != 0 {
			err = fmt.Errorf("partition of %s left %d routes", n.Name, routes)
		}
		time.Sleep(fault.For)
		for _, p := range links {
			p.Restore()
		}
		if err == nil {
			var whole string
			whole, err = f.waitStreamHealthy()
			note += "; " + whole
		}
	case nemesis.CutMariaDB:
		target = AccountInstance(i/2) + ">" + f.DBs[i%2].Name
		p := f.Links[target]
		p.Cut()
		time.Sleep(fault.For)
		p.Restore()
	case nemesis.SlowLink:
		target = f.LinkNames()[i]
		p := f.Links[target]
		p.SetLatency(SlowLinkLatency)
		time.Sleep(fault.For)
		p.SetLatency(0)
		note = fmt.Sprintf("+%s each way", SlowLinkLatency)
	case nemesis.PauseConsumer, nemesis.PauseRelay:
		target = []string{AccountInstance(0), AccountInstance(1), LedgerInstance(0), LedgerInstance(1)}[i]
		if fault.Kind == nemesis.PauseRelay {
			target = RelayInstance(i)
		}
		if err = f.Signal(target, syscall.SIGSTOP); err != nil {
			return target, "", err
		}
		time.Sleep(fault.For)
		err = f.Signal(target, syscall.SIGCONT)
	case nemesis.KillAnswered:
		target, note, err = f.killAnswered(fault.For)
	default: // MoveShard is Inject's
		err = fmt.Errorf("unknown fault kind %q", fault.Kind)
	}
	return target, note, err
}

// answered is a deposit or withdrawal an account-service instance has
// just answered, caught by the armed trap.
type answered struct {
	instance string
	op       *Op
}

// killAnswers is how many times KillAnswered kills at most while every
// operation it caught is still there.
const killAnswers = 3

// answeredBy is the workload's report of a deposit or withdrawal that
// instance acknowledged, called from the client's goroutine as soon as it
// has the answer. If the trap is armed it takes the trap and kills
// instance before it returns, so that nothing the instance does after
// answering (such as committing) gets more than the time of a kill.
func (f *Fleet) answeredBy(instance string, op *Op) {
	f.trapMu.Lock()
	trap := f.trap
	f.trap = nil
	f.trapMu.Unlock()
	if trap == nil {
		return
	}
	f.Kill(instance)
	trap <- answered{instance, op}
}

// killAnswered kills the account-service instance that answers the next
// deposit or withdrawal the moment it answered, restarts it after
// downtime, and looks for the operation on its shard: until one is
// missing, or killAnswers times. Whether one went missing is read from
// the database after the restart, when the killed instance's transaction
// has ended one way or the other, so the outcome does not depend on how
// loaded the machine is.
func (f *Fleet) killAnswered(downtime time.Duration) (target, note string, err error) {
	var notes []string
	for try := 1; try <= killAnswers; try++ {
		trap := make(chan answered, 1)
		f.trapMu.Lock()
		f.trap = trap
		f.trapMu.Unlock()
		var a answered
		select {
		case a = <-trap:
		case <-time.After(time.Minute):
			f.trapMu.Lock()
			taken := f.trap != trap // a client is killing its instance
			f.trap = nil
			f.trapMu.Unlock()
			if !taken {
				return "account-service", strings.Join(notes, "; "), errors.New("no deposit or withdrawal was answered for a minute")
			}
			a = <-trap
		}
		target = a.instance
		time.Sleep(downtime)
		if err = f.Start(a.instance); err != nil {
			return target, strings.Join(notes, "; "), err
		}
		found, lookErr := f.applied(a.op)
		if lookErr != nil {
			return target, strings.Join(notes, "; "), lookErr
		}
		if !found {
			notes = append(notes, fmt.Sprintf("killed after answering %s %s %d, which is gone", a.op.Kind, a.op.TxID, a.op.Status))
			return target, strings.Join(notes, "; "), nil
		}
		notes = append(notes, fmt.Sprintf("killed after answering %s %s %d, which is there", a.op.Kind, a.op.TxID, a.op.Status))
	}
	return target, strings.Join(notes, "; "), nil
}

// applied reports whether op's movement is on its account's shard, read
// where the placement says that shard is live.
func (f *Fleet) applied(op *Op) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	live, _, err := f.LiveShards(ctx)
	if err != nil {
		return false, err
	}
	var n int
	err = live[shard.Of(op.Account, len(live))].GetContext(ctx, &n, "SELECT COUNT(*) FROM movements WHERE transaction_id = ?", op.TxID)
	return n > 0, err
}
