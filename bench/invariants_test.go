package main

import (
	"testing"

	"github.com/shopspring/decimal"
)

func TestCheckMoney(t *testing.T) {
	d := decimal.RequireFromString
	acc := Accounts{IDs: []string{"a", "b", "c"}, Deposited: d("300.00")}
	cases := []struct {
		name     string
		balances map[string]decimal.Decimal
		ok       bool
	}{
		{"conserved", map[string]decimal.Decimal{"a": d("50"), "b": d("150.5"), "c": d("99.5")}, true},
		{"money created", map[string]decimal.Decimal{"a": d("51"), "b": d("150.5"), "c": d("99.5")}, false},
		{"negative balance", map[string]decimal.Decimal{"a": d("-1"), "b": d("201.5"), "c": d("99.5")}, false},
		{"account missing", map[string]decimal.Decimal{"a": d("200"), "b": d("100")}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := checkMoney(acc, c.balances)
			if v.OK() != c.ok {
				t.Fatalf("OK() = %v, want %v: %s", v.OK(), c.ok, v)
			}
		})
	}
	if (Invariants{Why: "did not settle"}).OK() {
		t.Fatal("an unchecked run must not count as OK")
	}
}
