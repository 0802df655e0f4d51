package account

import (
	"errors"
	"fmt"
	"testing"

	"github.com/walletco/wallet/pkg/problem"
)

// A lookup by id: operators see every transfer under it; a customer only
// those touching its accounts, its own sends first, so a squatter reusing
// the id neither hides the victim's transfer nor shows up in its answers.
func TestLookup(t *testing.T) {
	sent := Transfer{TransactionID: "x", From: "alice-1", To: "bob-1"}
	squat := Transfer{TransactionID: "x", From: "bob-1", To: "carol-1", Status: Refused}
	back := Transfer{TransactionID: "x", From: "bob-2", To: "alice-1"} // a real transfer back under the id
	alice := func(id string) bool { return id == "alice-1" || id == "alice-2" }
	bob := func(id string) bool { return id == "bob-1" || id == "bob-2" }
	tests := []struct {
		name  string
		q     TransferQuery
		found []Transfer
		owns  func(string) bool
		want  string // the transfer's source, or the problem code and its from_accounts
	}{
		{"operator, one", TransferQuery{TransactionID: "x"}, []Transfer{sent}, nil, "alice-1"},
		{"operator, several", TransferQuery{TransactionID: "x"}, []Transfer{sent, squat, back}, nil, "ambiguous_transaction_id [alice-1 bob-1 bob-2]"},
		{"operator, none", TransferQuery{TransactionID: "x"}, nil, nil, "not_found"},
		{"sender despite squatters", TransferQuery{TransactionID: "x", Owner: "alice"}, []Transfer{sent, squat, back}, alice, "alice-1"},
		{"recipient", TransferQuery{TransactionID: "x", Owner: "carol"}, []Transfer{sent, squat}, func(id string) bool { return id == "carol-1" }, "bob-1"},
		{"squatter sees its own sends", TransferQuery{TransactionID: "x", Owner: "bob"}, []Transfer{sent, squat, back}, bob, "ambiguous_transaction_id [bob-1 bob-2]"},
		{"stranger", TransferQuery{TransactionID: "x", Owner: "mallory"}, []Transfer{sent, squat}, func(string) bool { return false }, "not_found"},
		{"stranger naming the source", TransferQuery{TransactionID: "x", From: "alice-1", Owner: "mallory"}, []Transfer{sent}, func(string) bool { return false }, "not_found"},
		{"own accounts, both senders", TransferQuery{TransactionID: "x", Owner: "alice"},
			[]Transfer{sent, {TransactionID: "x", From: "alice-2", To: "bob-1"}}, alice, "ambiguous_transaction_id [alice-1 alice-2]"},
	}
	for _, tt := range tests {
		got, err := Lookup(tt.q, tt.found, tt.owns)
		out := got.From
		if err != nil {
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("%s: %v", tt.name, err)
			}
			out = string(p.Code)
			if froms, ok := p.Extra["from_accounts"]; ok {
				out += fmt.Sprintf(" %v", froms)
			}
		}
		if out != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, out, tt.want)
		}
	}
}
