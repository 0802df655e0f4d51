package systemtest

import (
	"testing"
	"time"

	"github.com/walletco/wallet/systemtest/nemesis"
)

// The checker catches real bugs: each case builds the services with one
// bug injected (a test-only build tag, see the tag's files), runs a short
// fixed fault plan that exposes it, and expects the checker to name the
// invariant the bug breaks.
func TestNemesisCatchesInjectedBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("each case is a nemesis run")
	}
	for _, tc := range []struct {
		tag   string
		plan  []nemesis.Fault
		first map[string][]string
		want  string
	}{{
		// account-service-0 is paused past AckWait and the saga redrive:
		// what it held is redelivered to the other instance, debits still
		// pending are sent again, and without the dedupe a step repeated
		// is a step applied twice.
		tag:  "wallet_bug_no_dedupe",
		plan: []nemesis.Fault{{At: 4 * time.Second, Kind: nemesis.PauseConsumer, Target: 0, For: 33 * time.Second}},
		want: InvOnce,
	}, {
		// The relay stalls after JetStream acknowledged its first batch
		// and is killed: its successor publishes the rows again, and
		// without Nats-Msg-Id the stream keeps both copies.
		tag:   "wallet_bug_no_msg_id",
		first: map[string][]string{RelayInstance(0): {"WALLET_TEST_STALL_AFTER_PUBLISH=true"}},
		plan:  []nemesis.Fault{{At: 4 * time.Second, Kind: nemesis.KillRelay, Target: 0, For: 2 * time.Second}},
		want:  InvPublished,
	}, {
		// A batch answered before its commit is lost when account-service
		// or its database dies in between.
		tag: "wallet_bug_answer_before_commit",
		plan: []nemesis.Fault{
			{At: 4 * time.Second, Kind: nemesis.KillAccount, Target: 0, For: 2 * time.Second},
			{At: 10 * time.Second, Kind: nemesis.KillMariaDB, Target: 0, For: 2 * time.Second},
			{At: 16 * time.Second, Kind: nemesis.KillAccount, Target: 1, For: 2 * time.Second},
		},
		want: InvAcked,
	}} {
		t.Run(tc.tag, func(t *testing.T) {
			bin := t.TempDir()
			if err := Build(bin, tc.tag); err != nil {
				t.Fatal(err)
			}
			run := nemesisRun{seed: 1, duration: 20 * time.Second, clients: 16, accounts: 60, first: tc.first}
			report, fs := run.do(t, bin, tc.plan)
			t.Log("\n" + report)
			if fs.Count[tc.want] == 0 {
				t.Fatalf("with %s the checker did not report %q; it found %v", tc.tag, tc.want, fs.Violated())
			}
		})
	}
}
