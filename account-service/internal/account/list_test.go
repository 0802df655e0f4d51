package account

import (
	"testing"
	"time"
)

// Pages read from several tables merge newest first, ties broken by key,
// and more tells a page that was cut.
func TestMergeListed(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int, tx, from string) Listed {
		return Listed{Transfer: Transfer{TransactionID: tx, From: from, CreatedAt: t0.Add(time.Duration(sec) * time.Second)}}
	}
	out := []Listed{at(3, "a", "me"), at(1, "c", "me")}
	in := []Listed{at(2, "b", "x"), at(3, "a", "y"), at(3, "b", "x")}
	page, more := MergeListed(4, out, in)
	var got []string
	for _, l := range page {
		got = append(got, l.TransactionID+"/"+l.From)
	}
	want := []string{"b/x", "a/y", "a/me", "b/x"}
	if !more || len(got) != len(want) {
		t.Fatalf("page %v more %v, want %v and more", got, more, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("page %v, want %v", got, want)
		}
	}
	if _, more := MergeListed(5, out, in); more {
		t.Error("a page holding everything says more follow")
	}
}
