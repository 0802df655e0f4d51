package main

import (
	"math"
	"testing"
)

func TestCommas(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {123456, "123,456"}, {1234567, "1,234,567"}, {-45000, "-45,000"}} {
		if got := commas(c.n); got != c.want {
			t.Errorf("commas(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestPerSecond(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0.0/s"}, {12.345, "12.3/s"}, {99.94, "99.9/s"}, {100, "100/s"}, {3210.4, "3,210/s"}, {3210.5, "3,211/s"}} {
		if got := perSecond(c.v); got != c.want {
			t.Errorf("perSecond(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestTimesAndRatio(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		want string
	}{
		{3210, 2791, "1.15×"},
		{300, 3000, "0.10×"},
		{1, 1, "1.00×"},
		{5, 0, "n/a"}, // no naive baseline
		{0, 100, "n/a"},
	} {
		if got := times(ratio(c.a, c.b)); got != c.want {
			t.Errorf("times(ratio(%v, %v)) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	if got := times(math.Inf(1)); got != "n/a" {
		t.Errorf("times(+Inf) = %q", got)
	}
}

func TestConfigName(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Cross: 0.1, Clients: 64}, "cross10"},
		{Config{Cross: 0.5, Clients: 64}, "cross50"},
		{Config{Cross: 0.1, Hot: 0.5, Clients: 64}, "cross10-hot50"},
		{Config{Cross: 0.1, Clients: 256}, "cross10-c256"},
		{Config{Cross: 0.1, Rate: 300, Clients: 256}, "open300-cross10"},
		{Config{Cross: 0.1, Bulk: 100, Clients: 8}, "bulk100-cross10-c8"},
		{Config{Cross: 0.1, Bulk: 100, Clients: 64}, "bulk100-cross10-c64"},
	} {
		if got := c.cfg.Name(); got != c.want {
			t.Errorf("%+v: Name() = %q, want %q", c.cfg, got, c.want)
		}
	}
}
