package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/shard"
)

// The kinds of operation the workload sends.
const (
	OpDeposit    = "deposit"
	OpWithdrawal = "withdrawal"
	OpTransfer   = "transfer"
)

// Outcome is what a client finally knows of an operation.
type Outcome string

const (
	// Acked: a 2xx answer, or a transfer that failed after its debit
	// (4xx with transfer_status "failed": money moved and came back).
	Acked Outcome = "acknowledged"
	// Refused: a 4xx answer; the operation must have moved nothing.
	Refused Outcome = "refused"
	// Unknown: no definitive answer before the client gave up; either
	// outcome is allowed, but not both, and not twice.
	Unknown Outcome = "unknown"
)

// Op is one operation a client asked for and what it was told. A client
// retries it with the same transaction_id until it gets a definitive
// answer (2xx, or 4xx other than 429), switching account-service
// instances after a failure, as a careful client behind a load balancer.
type Op struct {
	Kind     string
	TxID     string
	Account  string // the source, or the account of a deposit or withdrawal
	To       string // transfers only
	Amount   string
	Currency string
	Async    bool // Prefer: respond-async

	Start, End time.Time
	Attempts   int
	Outcome    Outcome
	Status     int    // the definitive answer's HTTP status
	Code       string // its problem code, if any
	Result     string // transfers: success, pending or failed
	Retried    []string
}

// Account is one account of the workload.
type Account struct {
	ID, Currency, Status string // status: active, frozen, closed
	Shard                int
}

// Workload sends random operations to the fleet's account-service
// instances and records every answer.
type Workload struct {
	f        *Fleet
	token    string
	seed     uint64
	Accounts []Account
	Initial  decimal.Decimal
	// GiveUp is how long a client retries one operation before it calls
	// its outcome unknown.
	GiveUp time.Duration

	byShard map[string][][]Account // active accounts by currency, then shard
	others  []Account              // frozen and closed ones

	mu   sync.Mutex
	ops  []*Op
	stop chan struct{}
	wg   sync.WaitGroup
}

// Currencies of the workload.
var Currencies = []string{"USD", "EUR"}

// NewWorkload opens n accounts spread over the shards and both currencies
// (every tenth frozen, every tenth closed, the rest active) and deposits
// the initial balance into the active and frozen ones, all as recorded
// operations. It runs before the faults begin.
func NewWorkload(f *Fleet, seed uint64, n int) (*Workload, error) {
	w := &Workload{f: f, token: f.Token(), seed: seed, Initial: decimal.NewFromInt(1000), GiveUp: 2 * time.Minute,
		byShard: map[string][][]Account{}, stop: make(chan struct{})}
	for _, c := range Currencies {
		w.byShard[c] = make([][]Account, 4)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	// Ids from the seed: the same seed puts the same accounts on the
	// same shards.
	ids := rand.New(rand.NewPCG(seed, 0x5eed))
	for i := range n {
		a := Account{ID: fmt.Sprintf("nem-%d-%08x", i, ids.Uint32()), Currency: Currencies[i%2], Status: "active"}
		a.Shard = shard.Of(a.ID, 4)
		switch i % 10 {
		case 7:
			a.Status = "frozen"
		case 9:
			a.Status = "closed"
		}
		if code, body, err := w.call(client, AccountInstance(i%2), "POST", "/v1/accounts", map[string]string{
			"account_id": a.ID, "owner_id": "owner-nemesis", "currency": a.Currency}, false); err != nil || code != http.StatusCreated {
			return nil, fmt.Errorf("open %s: %d %s %v", a.ID, code, body, err)
		}
		if a.Status != "closed" {
			op := &Op{Kind: OpDeposit, TxID: uuid.NewString(), Account: a.ID, Amount: w.Initial.StringFixed(2), Currency: a.Currency}
			w.do(client, op, i%2)
			if op.Outcome != Acked {
				return nil, fmt.Errorf("initial deposit into %s: %s %d %s", a.ID, op.Outcome, op.Status, op.Code)
			}
		}
		if a.Status != "active" {
			if code, body, err := w.call(client, AccountInstance(i%2), "PATCH", "/v1/accounts/"+a.ID,
				map[string]string{"status": a.Status}, false); err != nil || code != http.StatusOK {
				return nil, fmt.Errorf("make %s %s: %d %s %v", a.ID, a.Status, code, body, err)
			}
			w.others = append(w.others, a)
		} else {
			w.byShard[a.Currency][a.Shard] = append(w.byShard[a.Currency][a.Shard], a)
		}
		w.Accounts = append(w.Accounts, a)
	}
	return w, nil
}

// Start runs clients until Stop.
func (w *Workload) Start(clients int) {
	for c := range clients {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			rng := rand.New(rand.NewPCG(w.seed, uint64(c)))
			client := &http.Client{Timeout: 10 * time.Second}
			instance := c % 2
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				instance = w.do(client, w.next(rng), instance)
			}
		}()
	}
}

// Stop tells the clients to send nothing new and waits until each has a
// definitive answer for the operation it is on, or gave up on it.
func (w *Workload) Stop() {
	close(w.stop)
	w.wg.Wait()
}

// Ops returns every operation sent so far.
func (w *Workload) Ops() []*Op {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Op(nil), w.ops...)
}

// next draws an operation: a tenth deposits, a tenth withdrawals, the rest
// transfers, half of them across shards; some go to frozen or closed
// accounts, some ask for more than any balance, some mix currencies.
func (w *Workload) next(rng *rand.Rand) *Op {
	cur := Currencies[rng.IntN(len(Currencies))]
	from := w.pick(rng, cur, rng.IntN(4))
	amount := fmt.Sprintf("%d.%02d", 1+rng.IntN(50), rng.IntN(100))
	if rng.IntN(20) == 0 {
		amount = "5000.00" // above any balance the workload builds
	}
	op := &Op{TxID: uuid.NewString(), Account: from.ID, Amount: amount, Currency: cur}
	switch r := rng.IntN(100); {
	case r < 20:
		op.Kind = OpDeposit
		if r >= 10 {
			op.Kind = OpWithdrawal
		}
		switch rng.IntN(20) {
		case 0: // a frozen or closed account
			op.Account = w.others[rng.IntN(len(w.others))].ID
		case 1: // the other currency
			op.Currency = Currencies[(slices.Index(Currencies, cur)+1)%len(Currencies)]
		}
	default:
		op.Kind = OpTransfer
		op.Async = rng.IntN(10) == 0
		toShard := from.Shard
		if rng.IntN(2) == 0 {
			toShard = (from.Shard + 1 + rng.IntN(3)) % 4
		}
		switch r := rng.IntN(100); {
		case r < 5: // frozen or closed, often on another shard: a saga that must refund
			op.To = w.others[rng.IntN(len(w.others))].ID
		case r < 8: // the other currency: refused, or rejected by the destination shard
			op.To = w.pick(rng, Currencies[(slices.Index(Currencies, cur)+1)%len(Currencies)], toShard).ID
		default: // after a few draws of the source itself, another shard
			for tries := 0; op.To == "" || op.To == op.Account; tries++ {
				op.To = w.pick(rng, cur, (toShard+tries/4)%4).ID
			}
		}
	}
	return op
}

func (w *Workload) pick(rng *rand.Rand, cur string, sh int) Account {
	for {
		if as := w.byShard[cur][sh]; len(as) > 0 {
			return as[rng.IntN(len(as))]
		}
		sh = (sh + 1) % 4
	}
}

// do sends op to account-service instance, and to the other one after
// each failure, until it gets a definitive answer or GiveUp passes, and
// records it. It returns the instance that answered last: the client
// stays with it.
func (w *Workload) do(client *http.Client, op *Op, instance int) int {
	op.Start = time.Now()
	w.mu.Lock()
	w.ops = append(w.ops, op)
	w.mu.Unlock()
	path, body := w.request(op)
	for attempt := 0; ; attempt++ {
		code, raw, err := w.call(client, AccountInstance(instance), "POST", path, body, op.Async)
		var problem struct {
			Code           string `json:"code"`
			Status         string `json:"status"`
			TransferStatus string `json:"transfer_status"`
		}
		_ = json.Unmarshal(raw, &problem)
		definitive := err == nil && code < 500 && code != http.StatusTooManyRequests
		w.mu.Lock()
		op.Attempts++
		if definitive {
			op.End, op.Status, op.Code = time.Now(), code, problem.Code
			switch {
			case code < 300:
				op.Outcome = Acked
				op.Result = problem.Status // "success" or "pending" for transfers
			case problem.TransferStatus == "failed":
				op.Outcome, op.Result = Acked, "failed"
			default:
				op.Outcome = Refused
			}
		} else {
			op.Retried = append(op.Retried, retryCause(code, problem.Code, err))
		}
		w.mu.Unlock()
		if definitive {
			if op.Outcome == Acked && op.Kind != OpTransfer && op.Attempts == 1 {
				// Answered by this instance alone, not replayed after a
				// retry: the moment KillAnswered waits for.
				w.f.answeredBy(AccountInstance(instance), op)
			}
			return instance
		}
		instance = 1 - instance
		if time.Since(op.Start) > w.GiveUp {
			w.mu.Lock()
			op.End, op.Outcome = time.Now(), Unknown
			w.mu.Unlock()
			return instance
		}
		time.Sleep(time.Duration(min(attempt+1, 10)) * 50 * time.Millisecond)
	}
}

// retryCause names what made a client retry, for the report.
func retryCause(code int, problemCode string, err error) string {
	var nerr net.Error
	switch {
	case err == nil && problemCode != "":
		return fmt.Sprintf("%d %s", code, problemCode)
	case err == nil:
		return fmt.Sprintf("%d", code)
	case errors.As(err, &nerr) && nerr.Timeout():
		return "time-out"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection reset"):
		return "connection lost"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	default:
		return "error"
	}
}

func (w *Workload) request(op *Op) (string, map[string]string) {
	switch op.Kind {
	case OpTransfer:
		return "/v1/wallet/balance_transfer", map[string]string{"from_account": op.Account, "to_account": op.To,
			"amount": op.Amount, "currency": op.Currency, "transaction_id": op.TxID}
	case OpDeposit:
		return "/v1/accounts/" + op.Account + "/deposits", map[string]string{"amount": op.Amount, "currency": op.Currency, "transaction_id": op.TxID}
	default:
		return "/v1/accounts/" + op.Account + "/withdrawals", map[string]string{"amount": op.Amount, "currency": op.Currency, "transaction_id": op.TxID}
	}
}

// call sends one request as an operator and returns the status and body.
func (w *Workload) call(client *http.Client, instance, method, path string, body any, async bool) (int, []byte, error) {
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.f.URL(instance)+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.token)
	if async {
		req.Header.Set("Prefer", "respond-async")
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

// Tally counts operations by kind, outcome and result, and the causes of
// retries, for the report.
type Tally struct {
	Attempted, Acked, Refused, Unknown int
	ByKind                             map[string]map[string]int // kind → outcome/result → count
	RefusedBy                          map[string]int            // problem code → count
	Retries                            map[string]int            // cause → count
	Requests                           int
}

// Tally sums up ops.
func TallyOps(ops []*Op) Tally {
	t := Tally{ByKind: map[string]map[string]int{}, RefusedBy: map[string]int{}, Retries: map[string]int{}}
	for _, op := range ops {
		t.Attempted++
		t.Requests += op.Attempts
		if t.ByKind[op.Kind] == nil {
			t.ByKind[op.Kind] = map[string]int{}
		}
		key := string(op.Outcome)
		switch op.Outcome {
		case Acked:
			t.Acked++
			if op.Result != "" {
				key += " " + op.Result
			}
		case Refused:
			t.Refused++
			t.RefusedBy[op.Code]++
		case Unknown:
			t.Unknown++
		}
		t.ByKind[op.Kind][key]++
		for _, r := range op.Retried {
			t.Retries[r]++
		}
	}
	return t
}

func (t Tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "operations: %d attempted, %d acknowledged, %d refused, %d unknown (%d requests)\n",
		t.Attempted, t.Acked, t.Refused, t.Unknown, t.Requests)
	for _, k := range []string{OpDeposit, OpWithdrawal, OpTransfer} {
		fmt.Fprintf(&b, "  %-10s %s\n", k, counts(t.ByKind[k]))
	}
	fmt.Fprintf(&b, "  refused by code: %s\n", counts(t.RefusedBy))
	fmt.Fprintf(&b, "  retries by cause: %s\n", counts(t.Retries))
	return b.String()
}

// counts renders a count map sorted by key.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// decodeJSON decodes one JSON value from r.
func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
