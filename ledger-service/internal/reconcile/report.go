package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Kind is the stable code of one class of finding.
type Kind string

// The findings reconcile reports. Every kind but the warnings (Warning)
// is a discrepancy: a run with any of them exits 1.
const (
	// BalanceMismatch: a shard account's balance differs from its ledger
	// balance once the ledger has applied every event of the account, or a
	// partition's shards hold another sum than its ledger's wallets.
	BalanceMismatch Kind = "balance_mismatch"
	// MissingInLedger: a shard account the ledger does not know.
	MissingInLedger Kind = "missing_in_ledger"
	// MissingOnShard: a ledger wallet account no shard holds.
	MissingOnShard Kind = "missing_on_shard"
	// WrongPartition: a ledger wallet in a partition its shard does not
	// feed.
	WrongPartition Kind = "wrong_partition"
	// CurrencyMismatch: shard and ledger hold an account in two currencies.
	CurrencyMismatch Kind = "currency_mismatch"
	// EntriesMismatch: a ledger balance differs from the sum of its
	// account's entries or from its last entry's balance_after.
	EntriesMismatch Kind = "entries_mismatch"
	// NegativeBalance: a wallet or in-flight ledger balance below zero.
	NegativeBalance Kind = "negative_balance"
	// UnbalancedJournal: a journal transaction whose entries do not sum to
	// zero in a currency, or a money event's journal without entries.
	UnbalancedJournal Kind = "unbalanced_journal"
	// Conservation: in a currency, wallets + money in flight differ from
	// deposits − withdrawals.
	Conservation Kind = "conservation"
	// InFlightMismatch: a partition's @in_flight differs from what its
	// shards sent less what they received across shards, or the sum over
	// every partition differs from the money account-service has in flight.
	InFlightMismatch Kind = "in_flight_mismatch"
	// StaleSaga: a cross-shard transfer pending for longer than the threshold.
	StaleSaga Kind = "stale_saga"
	// StaleOutbox: an event unpublished for longer than the threshold.
	StaleOutbox Kind = "stale_outbox"
	// SetAsideOutbox: an event the relay set aside as poison (never
	// published), with its error.
	SetAsideOutbox Kind = "set_aside_outbox"
	// DeadLetter: a message a consumer gave up on.
	DeadLetter Kind = "dead_letter"
	// TransactionReused is a warning: one transaction_id names two
	// operations (two source accounts, a deposit and a withdrawal, a
	// movement and a transfer). Ids are scoped to the source account and
	// anyone may reuse one it has seen, so it cannot be a failure (a
	// customer could keep the alarm red at will); the money checks still
	// catch what a reuse could break.
	TransactionReused Kind = "transaction_id_reused"
	// Unverified is a warning, not a discrepancy: an account that changed
	// on every re-check, so that no settled state could be compared.
	Unverified Kind = "unverified"
)

// Finding is one discrepancy (or warning).
type Finding struct {
	Kind Kind `json:"kind"`
	// Where is where it was found: "partition 1" (its ledger), "partition
	// 1, shard 5" (a shard, and the partition it feeds) or "total" (the
	// sums over every partition).
	Where string `json:"where"`
	// Subject names what is wrong: an account, journal, transaction or
	// outbox id, or a currency.
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
}

// Check is one check's tally.
type Check struct {
	Name     string `json:"name"`
	Checked  int64  `json:"checked"`
	Findings int64  `json:"findings"`
}

// Currency is the money of one currency as the ledger holds it, summed over
// every partition's snapshot. Wallets + InFlight = Deposits − Withdrawals
// when it is conserved; InFlight is the money in flight.
type Currency struct {
	Currency    string `json:"currency"`
	Wallets     string `json:"wallets"`
	InFlight    string `json:"in_flight"`
	Deposits    string `json:"deposits"`
	Withdrawals string `json:"withdrawals"`
}

// PartitionMoney is the money of one currency in one partition: its ledger
// snapshot's figures, and its shards' balances and what they sent less what
// they received across shards as account-service reports them (which its
// Wallets and InFlight equal once the ledger has caught up).
type PartitionMoney struct {
	Partition     int    `json:"partition"`
	Currency      string `json:"currency"`
	Wallets       string `json:"wallets"`
	InFlight      string `json:"in_flight"`
	Deposits      string `json:"deposits"`
	Withdrawals   string `json:"withdrawals"`
	ShardBalances string `json:"shard_balances"`
	ShardNetSent  string `json:"shard_net_sent"`
}

// Report is the outcome of a run.
type Report struct {
	RunID      int64      `json:"run_id,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	Elapsed    string     `json:"elapsed"`
	Checks     []*Check   `json:"checks"`
	Currencies []Currency `json:"currencies"`
	// Partitions has each partition's money per currency.
	Partitions []PartitionMoney `json:"partitions"`
	// Counts has the exact number of findings per kind; Findings lists at
	// most MaxListed of each kind.
	Counts   map[Kind]int64 `json:"counts"`
	Findings []Finding      `json:"findings"`
}

// MaxListed bounds the findings of one kind a report lists and a run
// records: a wiped ledger must not turn into a million-row report.
const MaxListed = 100

func newReport(start time.Time) *Report {
	return &Report{StartedAt: start, Counts: map[Kind]int64{}, Findings: []Finding{}, Currencies: []Currency{}, Partitions: []PartitionMoney{}}
}

// check returns the tally named name, adding it in first-use order.
func (r *Report) check(name string) *Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	c := &Check{Name: name}
	r.Checks = append(r.Checks, c)
	return c
}

// add records f under check.
func (r *Report) add(check string, f Finding) {
	r.check(check).Findings++
	r.Counts[f.Kind]++
	if r.Counts[f.Kind] <= MaxListed {
		r.Findings = append(r.Findings, f)
	}
}

// Warning tells a kind reported for a person to look at, which does not
// fail a run.
func (k Kind) Warning() bool { return k == Unverified || k == TransactionReused }

// Discrepancies counts the findings that are not warnings.
func (r *Report) Discrepancies() int64 {
	var n int64
	for k, c := range r.Counts {
		if !k.Warning() {
			n += c
		}
	}
	return n
}

// WriteJSON prints r as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints r for a person: the checks, the money per currency in
// total and per partition, the findings.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "reconcile run %d, started %s, took %s\n\n", r.RunID, r.StartedAt.Format(time.RFC3339), r.Elapsed)
	fmt.Fprintln(tw, "CHECK\tCHECKED\tFINDINGS")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", c.Name, c.Checked, c.Findings)
	}
	if len(r.Currencies) > 0 {
		fmt.Fprintln(tw, "\nCURRENCY\tWALLETS\tIN FLIGHT\tDEPOSITS\tWITHDRAWALS")
		for _, c := range r.Currencies {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Currency, c.Wallets, c.InFlight, c.Deposits, c.Withdrawals)
		}
	}
	if len(r.Partitions) > 0 {
		fmt.Fprintln(tw, "\nPARTITION\tCURRENCY\tWALLETS\tIN FLIGHT\tDEPOSITS\tWITHDRAWALS\tSHARDS' BALANCES\tSHARDS' NET SENT")
		for _, p := range r.Partitions {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Partition, p.Currency, p.Wallets, p.InFlight, p.Deposits, p.Withdrawals, p.ShardBalances, p.ShardNetSent)
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(tw, "\nKIND\tWHERE\tSUBJECT\tDETAIL")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Kind, f.Where, f.Subject, f.Detail)
		}
	}
	fmt.Fprintf(tw, "\n%s\n", r.verdict())
	return tw.Flush()
}

// verdict is the report's last line.
func (r *Report) verdict() string {
	if len(r.Counts) == 0 {
		return "clean: no discrepancies"
	}
	kinds := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		kinds = append(kinds, k.string())
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", r.Counts[Kind(k)], k))
	}
	var total int64
	for _, c := range r.Counts {
		total += c
	}
	listed := ""
	if int64(len(r.Findings)) < total {
		listed = fmt.Sprintf(" (at most %d of each kind listed)", MaxListed)
	}
	if r.Discrepancies() == 0 {
		return "clean, with warnings: " + strings.Join(parts, ", ") + listed
	}
	noun := "discrepancies"
	if r.Discrepancies() == 1 {
		noun = "discrepancy"
	}
	return fmt.Sprintf("%d %s: %s%s", r.Discrepancies(), noun, strings.Join(parts, ", "), listed)
}

func (k Kind) string() string { return string(k) }
