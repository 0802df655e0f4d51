package systemtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/testenv"
)

// bank drives random transfers among accounts of two currencies on all
// shards, some frozen, and checks the invariants of docs/design.md afterwards.
type bank struct {
	t        *testing.T
	s        *System
	accounts []bankAccount
	initial  decimal.Decimal
	mu       sync.Mutex
	sent     []transferReq
	answers  map[string][]answer // by transaction_id, every answer a client got
	retries  atomic.Int64
	errors   map[int]int // 5xx answers clients got, by status
}

// answer is what a client was told: the status, and for a failed transfer
// whether it failed after the debit (transfer_status "failed").
type answer struct {
	status int
	failed bool
}

type bankAccount struct {
	id, currency string
	frozen       bool
}

type transferReq struct {
	From     string `json:"from_account"`
	To       string `json:"to_account"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	TxID     string `json:"transaction_id"`
}

func newBank(t *testing.T, s *System, n int) *bank {
	b := &bank{t: t, s: s, initial: decimal.NewFromInt(1000), answers: map[string][]answer{}, errors: map[int]int{}}
	for i := range n {
		a := bankAccount{id: idOn(i % 4), currency: []string{"USD", "EUR"}[i%2], frozen: i%8 == 7}
		s.mustOpen(a.id, a.currency)
		s.mustMove("deposits", a.id, b.initial.String(), a.currency)
		if a.frozen {
			if code, body := s.Do("PATCH", s.URL("account-service")+"/v1/accounts/"+a.id, map[string]string{"status": "frozen"}); code != 200 {
				t.Fatalf("freeze: %d %v", code, body)
			}
		}
		b.accounts = append(b.accounts, a)
	}
	return b
}

// run starts clients, each sending perClient random transfers (a fifth of
// them twice with the same transaction_id); during runs in parallel.
func (b *bank) run(clients, perClient int, during func()) {
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for range perClient {
				req := b.randomTransfer(rng)
				b.send(req, rng.IntN(3) == 0)
				if rng.IntN(5) == 0 {
					b.send(req, false)
				}
			}
		}()
	}
	if during != nil {
		during()
	}
	wg.Wait()
}

func (b *bank) randomTransfer(rng *rand.Rand) transferReq {
	from := b.accounts[rng.IntN(len(b.accounts))]
	var to bankAccount
	for {
		to = b.accounts[rng.IntN(len(b.accounts))]
		// Mostly same currency; sometimes a mismatch the saga must reject.
		if to.id != from.id && (to.currency == from.currency || rng.IntN(10) == 0) {
			break
		}
	}
	r := transferReq{From: from.id, To: to.id, Amount: fmt.Sprintf("%d.%02d", rng.IntN(60), rng.IntN(100)),
		Currency: from.currency, TxID: uuid.NewString()}
	if r.Amount == "0.00" {
		r.Amount = "0.01"
	}
	b.mu.Lock()
	b.sent = append(b.sent, r)
	b.mu.Unlock()
	return r
}

// send posts a transfer, retrying with the same transaction_id while the
// service is unreachable or answers 5xx, as a careful client does.
func (b *bank) send(r transferReq, async bool) {
	body, _ := json.Marshal(r)
	client := &http.Client{Timeout: 10 * time.Second}
	for attempt := 0; attempt < 200; attempt++ {
		req, _ := http.NewRequest("POST", b.s.URL("account-service")+"/v1/wallet/balance_transfer", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		b.s.Authorize(req)
		if async {
			req.Header.Set("Prefer", "respond-async")
		}
		res, err := client.Do(req)
		if err == nil {
			var body struct {
				TransferStatus string `json:"transfer_status"`
			}
			_ = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if res.StatusCode < 500 {
				b.mu.Lock()
				b.answers[r.TxID] = append(b.answers[r.TxID], answer{res.StatusCode, body.TransferStatus == "failed"})
				b.mu.Unlock()
				return
			}
			b.mu.Lock()
			b.errors[res.StatusCode]++
			b.mu.Unlock()
		}
		b.retries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Errorf("transfer %s never got an answer", r.TxID)
}

// check waits for every saga to end, then checks conservation, no negative
// balance, exactly-once effects and the ledger.
func (b *bank) check() {
	t, s := b.t, b.s
	testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		for i, db := range s.Shards {
			var pending int
			if err := db.Get(&pending, "SELECT COUNT(*) FROM transfers WHERE status = 'pending'"); err != nil {
				return err
			}
			if pending > 0 {
				return fmt.Errorf("shard %d: %d sagas pending", i, pending)
			}
		}
		return nil
	})

	expected := map[string]decimal.Decimal{}
	for _, a := range b.accounts {
		expected[a.id] = b.initial
	}
	outcomes := map[string]int{}
	for _, r := range b.sent {
		code, body := s.Do("GET", s.URL("account-service")+"/v1/wallet/transfers/"+r.TxID, nil)
		status := "absent"
		if code == 200 {
			status = body["status"].(string)
		}
		outcomes[status]++
		b.checkAnswers(r.TxID, status)
		if status == "completed" {
			amt := decimal.RequireFromString(r.Amount)
			expected[r.From] = expected[r.From].Sub(amt)
			expected[r.To] = expected[r.To].Add(amt)
		}
	}
	t.Logf("%d transfers: %v", len(b.sent), outcomes)
	if outcomes["completed"] == 0 || outcomes["failed"] == 0 {
		t.Errorf("the run should both complete and fail transfers: %v", outcomes)
	}

	total := map[string]decimal.Decimal{}
	var ids []string
	for _, a := range b.accounts {
		got := decimal.RequireFromString(s.balance(a.id))
		if got.IsNegative() {
			t.Errorf("account %s is negative: %s", a.id, got)
		}
		if !got.Equal(expected[a.id]) {
			t.Errorf("account %s holds %s, its completed transfers say %s", a.id, got, expected[a.id])
		}
		total[a.currency] = total[a.currency].Add(got)
		ids = append(ids, a.id)
	}
	for cur, sum := range total {
		if want := b.initial.Mul(decimal.NewFromInt(int64(len(b.accounts) / 2))); !sum.Equal(want) {
			t.Errorf("%s: accounts hold %s in all, %s was deposited", cur, sum, want)
		}
	}
	s.waitLedgerAgrees(ids...)
	s.waitInFlightZero("USD")
	s.waitInFlightZero("EUR")
}

// checkAnswers holds what clients were told about txID against what was
// stored: a 200 is a completed transfer (durable, also across a crash), a
// failure after the debit is a failed one, and a transfer refused is stored
// refused (no money moved) and was refused every time it was asked for.
func (b *bank) checkAnswers(txID, stored string) {
	moved := false
	for _, a := range b.answers[txID] {
		switch {
		case a.status == http.StatusOK && stored != "completed":
			b.t.Errorf("%s was answered 200 but is stored as %s", txID, stored)
		case a.failed && stored != "failed":
			b.t.Errorf("%s was answered failed but is stored as %s", txID, stored)
		case a.status == http.StatusOK || a.status == http.StatusAccepted || a.failed:
			moved = true
		}
	}
	switch {
	case !moved && stored != "refused":
		b.t.Errorf("%s was refused every time (%v) but is stored as %s", txID, b.answers[txID], stored)
	case moved && stored == "refused":
		b.t.Errorf("%s is stored refused but was answered %v", txID, b.answers[txID])
	}
}
