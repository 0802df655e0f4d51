package main

import "testing"

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		name, stat string
		want       int64
		wantErr    bool
	}{
		{"plain", "1234 (mariadbd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 40 0 100 0 0", 325, false},
		{"name with spaces and parens", "42 (my (odd) prog) R 1 42 42 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 1 0 0", 15, false},
		{"truncated", "42 (x) R 1 2", 0, true},
		{"no name", "garbage", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStatCPU(c.stat)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("parseStatCPU = %d, %v; want %d, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}
