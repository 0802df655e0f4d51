package money

import (
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, and what it accepts is positive, within
// the currency's decimals and MaxDigits integer digits, equal to what was
// written, and parses back from its own String. The seed corpus is in
// testdata/fuzz/FuzzParse; make test runs only the seeds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"10.50", "0.01", "1", "-1", "0", "1e3", "+1", " 1", "1.", ".5",
		"999999999999999.99", "1000000000000000", "0001.10", "1.001", "1٠"} {
		for _, c := range []string{"USD", "KRW", "BHD", "XXX"} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, s, currency string) {
		a, err := Parse(s, currency)
		if err != nil {
			return
		}
		exp, err := Exponent(currency)
		if err != nil {
			t.Fatalf("Parse(%q, %q) accepted an unknown currency", s, currency)
		}
		d := a.Decimal()
		if !d.IsPositive() {
			t.Fatalf("Parse(%q) = %s, not positive", s, d)
		}
		if -d.Exponent() > exp && !d.Equal(d.Truncate(exp)) {
			t.Fatalf("Parse(%q, %s) = %s, more than %d decimals", s, currency, d, exp)
		}
		if intDigits := len(strings.TrimLeft(d.Truncate(0).String(), "0")); intDigits > MaxDigits {
			t.Fatalf("Parse(%q) = %s, %d integer digits", s, d, intDigits)
		}
		for _, r := range s {
			if (r < '0' || r > '9') && r != '.' {
				t.Fatalf("Parse(%q) accepted %q", s, r)
			}
		}
		back, err := Parse(a.String(), currency)
		if err != nil || !back.Decimal().Equal(d) || back.String() != a.String() {
			t.Fatalf("Parse(%q).String() = %q, which parses to %v, %v", s, a.String(), back, err)
		}
	})
}
