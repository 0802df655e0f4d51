package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/app"
	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/events"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// getJSON fetches url as an operator into v and returns the status code.
func getJSON(url string, v any) (int, error) {
	tok, err := auth.Mint(authtest.Secret, "ops", auth.Operator, time.Hour, "", "")
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// The real wiring: boot on :0, become ready, apply published events, serve
// them, shut down when the context ends.
func TestAppBootsAndServes(t *testing.T) {
	natsSrv := testenv.NATS(t)
	cfg := testConfig(natsSrv.ClientURL(), testenv.Databases(t, 1)[0])
	js := streamsFor(t, cfg)
	a, err := app.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := "http://" + a.Addr()

	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		var body map[string]any
		if code, err := getJSON(base+"/readyz", &body); err != nil || code != http.StatusOK {
			return fmt.Errorf("readyz %d %v %v", code, body, err)
		}
		return nil
	})

	for _, e := range []events.Event{ledgertest.Opened("alice", "JPY"), ledgertest.Deposited("alice", "1500", "JPY")} {
		if _, err := js.PublishMsg(ctx, ledgertest.Fact(e, 0)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		var b struct{ AccountID, Currency, Balance string }
		code, err := getJSON(base+"/v1/ledger/accounts/alice/balance", &b)
		if err != nil || code != http.StatusOK || b.Balance != "1500" || b.Currency != "JPY" {
			return fmt.Errorf("balance %d %+v %v", code, b, err)
		}
		return nil
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// A ledger started against streams provisioned with another duplicate
// window refuses to start, naming the setting, both values and the
// command; provisioning with its configuration fixes it.
func TestAppRefusesAStreamSettingMismatch(t *testing.T) {
	natsSrv := testenv.NATS(t)
	cfg := testConfig(natsSrv.ClientURL(), testenv.Databases(t, 1)[0])
	other := cfg
	other.NATS.DuplicateWindow = time.Minute
	streamsFor(t, other)
	cfg.NATS.DuplicateWindow = 3 * time.Minute

	run := func() error {
		a, err := app.New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		var err2 error
		testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
			select {
			case err2 = <-done:
				return nil
			default:
			}
			if code, err := getJSON("http://"+a.Addr()+"/readyz", &map[string]any{}); err != nil || code != http.StatusOK {
				return fmt.Errorf("readyz %d %v", code, err)
			}
			cancel()
			err2 = <-done
			return nil
		})
		return err2
	}
	err := run()
	if err == nil {
		t.Fatal("the ledger started against a stream with another duplicate window")
	}
	for _, s := range []string{"stream WALLET_0", "nats.duplicate_window is 1m0s", "the configuration says 3m0s", "run outbox-relay provision"} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("refusal %q does not say %q", err, s)
		}
	}
	streamsFor(t, cfg)
	if err := run(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("after provisioning: %v", err)
	}
}
