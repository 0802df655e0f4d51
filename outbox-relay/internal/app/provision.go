package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/provision"
	"github.com/walletco/wallet/pkg/stream"
)

// provisionTimeout bounds the whole provisioning run: NATS that does not
// answer in it (no JetStream, no meta leader) fails the command rather
// than hanging a deployment's start.
const provisionTimeout = 2 * time.Minute

// Provision creates or updates every stream and bucket of the wallet
// (provision.All) from cfg's nats, relay and ledger sections, with the
// credentials of nats.url (the wallet_admin user: the services' users may
// not), and prints one line per stream or bucket to out. With dryRun it
// only prints the plan. A change JetStream cannot apply (storage, a
// partition count lower than the streams') is refused: nothing is changed
// and the error names it.
func Provision(ctx context.Context, cfg config.OutboxRelay, dryRun bool, out io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, provisionTimeout)
	defer cancel()
	s := provision.SettingsFrom(cfg.NATS, cfg.Relay.LeaseTTL, cfg.Ledger.LeaseTTL)
	if s.Stream.MaxAge > 0 || s.Stream.MaxBytes > 0 {
		log.Warn("the event streams are limited by nats.max_age or nats.max_bytes: ledger-service replay needs every event since the last ledger snapshot",
			"max_age", s.Stream.MaxAge, "max_bytes", s.Stream.MaxBytes)
	}
	// One attempt, not the services' reconnect loop: a wrong URL or
	// password fails at once. A refused request is not answered, only
	// reported on the connection: a user without the right (not
	// wallet_admin) fails at once too, not after the retries.
	denied := make(chan error, 1)
	nc, err := nats.Connect(cfg.NATS.URL, nats.Name("outbox-relay provision"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(err.Error(), "Permissions Violation") {
				select {
				case denied <- err:
				default:
				}
			}
		}))
	if err != nil {
		return fmt.Errorf("nats connect %s: %w", config.MaskURLs(cfg.NATS.URL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	rs := provision.All(s)
	var steps []provision.Step
	// A cluster still forming (no meta leader, too few peers) answers
	// late or with an error: retried until provisionTimeout. A refusal or
	// an invalid configuration is not.
	for pause := 250 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
		actx, cancelAttempt := context.WithTimeout(ctx, 10*time.Second)
		if dryRun {
			steps, err = provision.Plan(actx, js, rs)
		} else {
			steps, err = provision.Apply(actx, js, rs, log)
		}
		cancelAttempt()
		if err == nil || stream.Permanent(err) || ctx.Err() != nil {
			break
		}
		select {
		case perr := <-denied:
			return fmt.Errorf("%w: %v (provision runs as the wallet_admin NATS user, deploy/nats-auth.conf)", err, perr)
		default:
		}
		log.Warn("provisioning failed, retrying", "err", err, "in", pause.String())
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	for _, st := range steps {
		fmt.Fprintln(out, st)
	}
	if err != nil {
		if stream.Permanent(err) {
			return fmt.Errorf("refused, nothing changed: %w", err)
		}
		return err
	}
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing changed")
	}
	return nil
}
