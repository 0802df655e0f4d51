package main

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// Invariants is the money check after the run has settled (docs/design.md
// invariants 1 and 2, for the run's accounts): with nothing in flight the
// balances must add up to the deposits, and none may be negative.
type Invariants struct {
	Checked   bool     `json:"checked"`
	Accounts  int      `json:"accounts_found"`
	Balances  string   `json:"sum_of_balances"`
	Deposited string   `json:"sum_of_deposits"`
	Negative  []string `json:"negative_balances,omitempty"`
	Missing   int      `json:"accounts_missing"`
	Why       string   `json:"not_checked_because,omitempty"`
}

// OK reports that the check ran and found nothing wrong.
func (v Invariants) OK() bool {
	return v.Checked && v.Balances == v.Deposited && len(v.Negative) == 0 && v.Missing == 0
}

// checkMoney compares the shard balances of the run's accounts with what was
// deposited into them. Only a settled system can be checked: money in flight
// sits in no account.
func checkMoney(acc Accounts, balances map[string]decimal.Decimal) Invariants {
	sum := decimal.Zero
	v := Invariants{Checked: true, Accounts: len(balances), Deposited: acc.Deposited.StringFixed(4)}
	for _, id := range acc.IDs {
		b, ok := balances[id]
		if !ok {
			v.Missing++
			continue
		}
		sum = sum.Add(b)
		if b.IsNegative() {
			v.Negative = append(v.Negative, fmt.Sprintf("%s %s", id, b.StringFixed(4)))
		}
	}
	slices.Sort(v.Negative)
	v.Balances = sum.StringFixed(4)
	return v
}

// String says what the check found, in one line.
func (v Invariants) String() string {
	switch {
	case !v.Checked:
		return "NOT CHECKED: " + v.Why
	case v.OK():
		return fmt.Sprintf("ok: the %d balances sum to the %s USD deposited; none negative", v.Accounts, v.Deposited)
	}
	msg := "VIOLATED:"
	if v.Balances != v.Deposited {
		msg += fmt.Sprintf(" balances sum to %s but %s was deposited;", v.Balances, v.Deposited)
	}
	if v.Missing > 0 {
		msg += fmt.Sprintf(" %d accounts missing;", v.Missing)
	}
	if len(v.Negative) > 0 {
		msg += fmt.Sprintf(" %d negative balances (%v);", len(v.Negative), v.Negative)
	}
	return msg
}
