package deadletter_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/deadletter"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/testenv"
)

// The dead-letters command of a service works on the places it is given:
// list, show and discard by place:id; an unknown place or a handled letter
// is refused with exit status 1, a bad command line is a usage error.
func TestCommandOnPlaces(t *testing.T) {
	dsns := testenv.Databases(t, 2)
	db := testenv.MustOpen(t, dsns[1])
	if err := deadletter.Run(context.Background(), []deadletter.Place{{Name: "ledger1", DSN: dsns[1]}},
		deadletter.Command{Action: "list"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err) // migrates the table
	}
	if _, err := db.Exec(`INSERT INTO dead_letters (consumer, subject, headers, data, error, stream_seq)
		VALUES ('ledger', 'wallet.1.account.deposited.5', '{"Ce-Id":["x"]}', '{}', 'holds EUR', 7)`); err != nil {
		t.Fatal(err)
	}
	places := []deadletter.Place{{Name: "ledger0", DSN: dsns[0]}, {Name: "ledger1", DSN: dsns[1]}}
	noNATS := func(context.Context) (jetstream.JetStream, func(), error) {
		return nil, nil, errors.New("no NATS here")
	}
	run := func(args ...string) (string, string, error) {
		c, err := deadletter.ParseCommand(args, "ledger2:12")
		if err != nil {
			return "", "", err
		}
		var out, errOut bytes.Buffer
		err = deadletter.Run(context.Background(), places, c, noNATS, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	if out, _, err := run("list"); err != nil || !strings.Contains(out, "ledger1:1") || !strings.Contains(out, "1 dead letters") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, _, err := run("show", "ledger1:1"); err != nil || !strings.Contains(out, "holds EUR") || !strings.Contains(out, "stream seq: 7") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, _, err := run("discard", "ledger1:1"); err != nil || !strings.Contains(out, "discarded ledger1:1") {
		t.Fatalf("discard: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"discard", "ledger1:1"}, {"show", "ledger0:1"}, {"show", "shard3:1"}} {
		if _, errOut, err := run(args...); err != service.ExitCode(1) || errOut == "" {
			t.Errorf("%v: %v (%q), want exit 1 with the reason", args, err, errOut)
		}
	}
	for _, args := range [][]string{{}, {"show", "12"}, {"frobnicate"}, {"list", "x"}} {
		if _, _, err := run(args...); !errors.Is(err, service.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
