package groupcommit_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/pkg/problem"
)

// paused is an Applier that holds each batch after the writer started it and
// before its transaction runs, until released: an instance stopped
// (SIGSTOP, a long GC, a slow link) with a batch in hand.
type paused struct {
	groupcommit.Applier
	started, release chan struct{}
}

func (p paused) Apply(ctx context.Context, sh int, ops []account.Op) ([]account.Result, error) {
	p.started <- struct{}{}
	<-p.release
	return p.Applier.Apply(ctx, sh, ops)
}

// A regression test for what the nemesis found (seed 471398302): a client's
// request sits in a batch on an instance that is paused; the client times
// out and retries on the other instance, which refuses it (insufficient
// funds); money arrives; the paused instance wakes and runs its batch. The
// late copy must replay the refusal: the client was told the transfer did
// not happen, so it must never happen. Before refusals were recorded the
// late batch debited the source.
func TestLateBatchCannotOverturnARefusal(t *testing.T) {
	f := accounttest.MustStore(t, groupcommit.Config{}) // the instance the client retries on
	p := paused{Applier: f.Store, started: make(chan struct{}), release: make(chan struct{})}
	stalled, err := groupcommit.New(p, f.Store, accounttest.Writer(groupcommit.Config{}), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	nine := accounttest.USD(t, "9.00")
	for _, tc := range []struct {
		name string
		op   func(w *groupcommit.Writer, src string) error // the same request each time for src
	}{
		{"transfer", func() func(*groupcommit.Writer, string) error {
			key, dst := uuid.NewString(), accounttest.IDOn(0)
			f.MustOpen(dst, "")
			return func(w *groupcommit.Writer, src string) error {
				_, err := w.Transfer(context.Background(), account.TransferRequest{TransactionID: key, From: src, To: dst, Amount: nine})
				return err
			}
		}()},
		{"withdrawal", func() func(*groupcommit.Writer, string) error {
			key := uuid.NewString()
			return func(w *groupcommit.Writer, src string) error {
				_, err := w.Move(context.Background(), account.MovementRequest{Kind: account.Withdrawal, TransactionID: key, AccountID: src, Amount: nine})
				return err
			}
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := accounttest.IDOn(0)
			f.MustOpen(src, "5.00")
			late := make(chan error, 1)
			go func() { late <- tc.op(stalled, src) }()
			<-p.started // the batch has started on the paused instance

			if err := tc.op(f.Writer, src); !problem.Is(err, problem.InsufficientFunds) {
				t.Errorf("the retry on the other instance answered %v, want insufficient_funds", err)
			}
			if _, err := f.Writer.Move(context.Background(), account.MovementRequest{Kind: account.Deposit,
				TransactionID: uuid.NewString(), AccountID: src, Amount: accounttest.USD(t, "20.00")}); err != nil {
				t.Fatal(err)
			}
			p.release <- struct{}{} // the paused instance wakes
			if err := <-late; !problem.Is(err, problem.InsufficientFunds) {
				t.Errorf("the late batch answered %v, want the refusal replayed", err)
			}
			if got := f.Balance(src); got != "25.00" {
				t.Errorf("source holds %s, want 25.00: the late batch moved money after the refusal", got)
			}
			if err := tc.op(f.Writer, src); !problem.Is(err, problem.InsufficientFunds) {
				t.Errorf("a later retry answered %v, want the refusal replayed", err)
			}
		})
	}
}
