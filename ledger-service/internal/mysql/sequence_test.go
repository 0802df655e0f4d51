package mysql

import (
	"errors"
	"slices"
	"testing"

	"github.com/walletco/wallet/ledger-service/internal/ledger"
)

// sequence keeps what is next in the stream, skips what was applied, sends
// back what comes early, lets malformed events take their turn, and leaves
// effects without a sequence alone.
func TestSequence(t *testing.T) {
	eff := func(seq uint64) ledger.Effect { return ledger.Effect{EventID: "e", Seq: seq} }
	skip := ledger.Effect{Seq: 0, Skip: true}
	tests := []struct {
		name  string
		pos   position
		effs  []ledger.Effect
		kept  []int
		early []int
		after position
	}{
		{"in order", position{5, true}, []ledger.Effect{eff(6), eff(7)}, []int{0, 1}, nil, position{7, true}},
		{"redelivered", position{5, true}, []ledger.Effect{eff(4), eff(5), eff(6)}, []int{2}, nil, position{6, true}},
		{"same message twice", position{5, true}, []ledger.Effect{eff(6), eff(6)}, []int{0}, nil, position{6, true}},
		{"a message ahead waits, the next one goes", position{5, true}, []ledger.Effect{eff(6), eff(8), eff(7)}, []int{0, 2}, []int{1}, position{7, true}},
		{"a gap sends the rest back", position{5, true}, []ledger.Effect{eff(7), eff(8)}, nil, []int{0, 1}, position{5, true}},
		{"malformed takes its turn", position{5, true}, []ledger.Effect{{Seq: 6, Skip: true}, eff(7)}, []int{1}, nil, position{7, true}},
		{"malformed early waits", position{5, true}, []ledger.Effect{{Seq: 7, Skip: true}}, nil, []int{0}, position{5, true}},
		{"unknown position: the first sets it", position{}, []ledger.Effect{eff(41), eff(42)}, []int{0, 1}, nil, position{42, true}},
		{"no sequence: applied as given", position{5, true}, []ledger.Effect{eff(0), skip, eff(0)}, []int{0, 2}, nil, position{5, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sequence(tt.effs, tt.pos)
			var early []int
			for i, o := range got.outcomes {
				if errors.Is(o.Err, ledger.ErrEarly) {
					early = append(early, i)
				} else if o.Err != nil || o.Applied {
					t.Errorf("outcome %d: %+v", i, o)
				}
			}
			if !slices.Equal(got.kept, tt.kept) || !slices.Equal(early, tt.early) || got.pos != tt.after {
				t.Fatalf("kept %v, early %v, position %+v; want %v, %v, %+v", got.kept, early, got.pos, tt.kept, tt.early, tt.after)
			}
		})
	}
}
