package account

import (
	"errors"
	"reflect"
	"testing"

	"github.com/walletco/wallet/pkg/problem"
)

// A refusal keeps the decision's code, sentence and figures, and answers
// with the same error when replayed; what is no domain problem is never a
// refusal.
func TestRefusalOf(t *testing.T) {
	decided := problem.New(problem.InsufficientFunds, "account a cannot pay 9.00 USD").With("available", "1.00").With("requested", "9.00")
	r, ok := refusalOf(decided)
	if !ok || r.Code != problem.InsufficientFunds || r.Detail != decided.Detail || r.Params["available"] != "1.00" || r.Params["requested"] != "9.00" {
		t.Fatalf("refusalOf = %+v %v", r, ok)
	}
	if got := r.Err(); !reflect.DeepEqual(got, decided) {
		t.Errorf("replayed %#v, want %#v", got, decided)
	}
	if r, ok := refusalOf(errors.New("bug")); ok || r != nil {
		t.Errorf("a plain error became the refusal %+v", r)
	}
	if r, ok := refusalOf(ErrMisrouted); ok || r != nil {
		t.Errorf("ErrMisrouted became the refusal %+v", r)
	}
}
