package systemtest

import (
	"strings"
	"testing"
	"time"

	"github.com/walletco/wallet/systemtest/nemesis"
)

// The checker catches real bugs: each case builds the services with one
// bug injected (testdata/bugs/<bug>.patch), runs a short
// fixed fault plan that exposes it, and expects the checker to name the
// invariant the bug breaks.
func TestNemesisCatchesInjectedBugs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("each case is a nemesis run")
	}
	// The same faults on the real binaries report nothing: what the cases
	// find is the bug, not the harness.
	var control []nemesis.Fault
	first := map[string][]string{}
	defer func() {
		t.Run("control", func(t *testing.T) {
			t.Parallel()
			run := nemesisRun{seed: 1, duration: 20 * time.Second, clients: bugClients, accounts: 60, first: first}
			var report strings.Builder
			defer func() { t.Log("\n" + report.String()) }()
			if fs := run.do(t, binDir, control, &report); len(fs.Violated()) > 0 {
				t.Fatalf("the real binaries violate %v under the cases' faults", fs.Violated())
			}
		})
	}()
	for _, tc := range []struct {
		bug   string
		plan  []nemesis.Fault
		first map[string][]string
		want  string
	}{{
		// account-service-0 holds the first batch it credited past
		// AckWait (the saga_stall hook), and is then paused past AckWait
		// and the saga redrive: what it held is redelivered to the other
		// instance, debits still pending are sent again, and without the
		// dedupe a step repeated is a step applied twice. The hook makes
		// sure it holds one: with four partitions' pulls, whether a pause
		// alone catches a step in flight is a matter of timing.
		bug:   "no_dedupe",
		first: map[string][]string{AccountInstance(0): {"WALLET_TEST_STALL_BEFORE_SAGA_ACK=true"}},
		plan:  []nemesis.Fault{{At: 4 * time.Second, Kind: nemesis.PauseConsumer, Target: 0, For: PauseFor}},
		want:  InvOnce,
	}, {
		// The relay stalls after JetStream acknowledged its first batch
		// and is killed: its successor publishes the rows again, and
		// without Nats-Msg-Id the stream keeps both copies.
		bug:   "no_msg_id",
		first: map[string][]string{RelayInstance(0): {"WALLET_TEST_STALL_AFTER_PUBLISH=true"}},
		plan:  []nemesis.Fault{{At: 4 * time.Second, Kind: nemesis.KillRelay, Target: 0, For: 2 * time.Second}},
		want:  InvPublished,
	}, {
		// A batch answered before its commit is lost when account-service
		// dies in between: the fault kills the instance that answered a
		// deposit or withdrawal the moment its client has the answer, and
		// again until an answered operation is gone. Kills at set times
		// hit that moment only by chance, seldom on a loaded machine.
		bug:  "answer_before_commit",
		plan: []nemesis.Fault{{At: 4 * time.Second, Kind: nemesis.KillAnswered, For: time.Second}},
		want: InvAcked,
	}} {
		control = append(control, shift(tc.plan, control)...)
		for k, v := range tc.first {
			first[k] = v
		}
		t.Run(tc.bug, func(t *testing.T) {
			t.Parallel()
			bin := t.TempDir()
			if err := Build(bin, binDir, tc.bug); err != nil {
				t.Fatal(err)
			}
			run := nemesisRun{seed: 1, duration: 20 * time.Second, clients: bugClients, accounts: 60, first: tc.first}
			var report strings.Builder
			defer func() { t.Log("\n" + report.String()) }()
			fs := run.do(t, bin, tc.plan, &report)
			if fs.Count[tc.want] == 0 {
				t.Fatalf("with %s the checker did not report %q; it found %v", tc.bug, tc.want, fs.Violated())
			}
		})
	}
}

// bugClients is how many clients each case's workload and the control's
// run. Each fault makes its bug show by itself (a redelivery, a relay's
// first batch, a kill right after an answer): eight clients catch each
// bug many times over, as sixteen did, at half the CPU of four fleets
// that run beside the rest of make test.
const bugClients = 8

// shift moves plan to start after the faults of before end.
func shift(plan, before []nemesis.Fault) []nemesis.Fault {
	var end time.Duration
	if n := len(before); n > 0 {
		end = before[n-1].At + before[n-1].For
	}
	out := make([]nemesis.Fault, len(plan))
	for i, f := range plan {
		f.At += end
		out[i] = f
	}
	return out
}
