package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/placement"
	"github.com/walletco/wallet/pkg/service"
	"github.com/walletco/wallet/pkg/testenv"
)

func TestParseShards(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want error
		json bool
	}{
		{[]string{"list"}, nil, false},
		{[]string{"list", "--json"}, nil, true},
		{[]string{"list", "-h"}, flag.ErrHelp, false},
		{[]string{"list", "--help"}, flag.ErrHelp, false},
		{nil, service.ErrUsage, false},
		{[]string{"list", "extra"}, service.ErrUsage, false},
		{[]string{"list", "--all"}, service.ErrUsage, false},
		{[]string{"bogus"}, service.ErrUsage, false},
	} {
		c, err := ParseShards(tt.args)
		if !errors.Is(err, tt.want) || (err == nil && (c.Action != "list" || c.JSON != tt.json)) {
			t.Errorf("ParseShards(%q) = %+v, %v; want %v, json %v", tt.args, c, err, tt.want, tt.json)
		}
	}
}

// storePlacement stores m as account-service would, on the server at url.
func storePlacement(t *testing.T, url string, m placement.Map) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := placement.Declare(context.Background(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bootstrap(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// shards list --json is one {"shard","server"} object per logical shard, in
// shard order; the table gives each server's ranges and the version.
func TestListShards(t *testing.T) {
	url := testenv.NATS(t).ClientURL()
	cfg := config.AccountService{NATS: config.NATSConfig{URL: url}}
	ctx := context.Background()

	var out bytes.Buffer
	err := ListShards(ctx, cfg, true, &out)
	if !errors.Is(err, placement.ErrNoPlacement) || !strings.Contains(err.Error(), "when it starts") || out.Len() > 0 {
		t.Fatalf("before any placement: %v, printed %q", err, out.String())
	}

	m, err := placement.Initial(256, []string{"db1", "db2"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = m.Move(7, "db2"); err != nil {
		t.Fatal(err)
	}
	if m, err = m.AddServer("db3"); err != nil {
		t.Fatal(err)
	}
	storePlacement(t, url, m)

	out.Reset()
	if err := ListShards(ctx, cfg, true, &out); err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(list) != 256 {
		t.Fatalf("%d entries, want 256", len(list))
	}
	for i, e := range list {
		want := m.Server(i)
		if len(e) != 2 || e["shard"] != float64(i) || e["server"] != want {
			t.Fatalf("entry %d = %v, want {shard: %d, server: %s}", i, e, i, want)
		}
	}

	out.Reset()
	if err := ListShards(ctx, cfg, false, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"placement version 3: 256 logical shards on 3 servers\n",
		"db1     127     0-6,8-127\n",
		"db2     129     7,128-255\n",
		"db3     0       -\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestListShardsNATSDown(t *testing.T) {
	port := testenv.FreePorts(t, 1)[0]
	url := fmt.Sprintf("nats://user:secret@127.0.0.1:%d", port)
	err := ListShards(context.Background(), config.AccountService{NATS: config.NATSConfig{URL: url}}, false, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not reachable") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v, want not reachable, without the password", err)
	}
}

func TestRanges(t *testing.T) {
	for _, tt := range []struct {
		in   []int
		want string
	}{{nil, "-"}, {[]int{5}, "5"}, {[]int{0, 1, 2}, "0-2"}, {[]int{0, 2, 3, 5}, "0,2-3,5"}} {
		if got := ranges(tt.in); got != tt.want {
			t.Errorf("ranges(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseShardsMove(t *testing.T) {
	c, err := ParseShards([]string{"move", "7", "--to", "db2"})
	if err != nil || c.Action != "move" || c.Shard != 7 || c.To != "db2" {
		t.Fatalf("move 7 --to db2 = %+v, %v", c, err)
	}
	for _, args := range [][]string{{"move"}, {"move", "x", "--to", "db2"}, {"move", "-1", "--to", "db2"}, {"move", "7"},
		{"move", "7", "--to"}, {"move", "7", "--to", "db2", "extra"}, {"move", "7", "--from", "db1"}} {
		if _, err := ParseShards(args); !errors.Is(err, service.ErrUsage) {
			t.Errorf("ParseShards(%q) = %v, want a usage error", args, err)
		}
	}
	if _, err := ParseShards([]string{"move", "--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("move --help = %v, want help", err)
	}
}

func TestParseShardsSplit(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		want   error
		dryRun bool
	}{
		{[]string{"split"}, nil, false},
		{[]string{"split", "--dry-run"}, nil, true},
		{[]string{"split", "-h"}, flag.ErrHelp, false},
		{[]string{"split", "256"}, service.ErrUsage, false},
		{[]string{"split", "--to", "256"}, service.ErrUsage, false},
	} {
		c, err := ParseShards(tt.args)
		if !errors.Is(err, tt.want) || (err == nil && (c.Action != "split" || c.DryRun != tt.dryRun)) {
			t.Errorf("ParseShards(%q) = %+v, %v; want %v, dry run %v", tt.args, c, err, tt.want, tt.dryRun)
		}
	}
}

// A split to a count that is not a multiple of the placement's exits 2
// before it reads a database; without a placement it fails (1).
func TestSplitShardsRefuses(t *testing.T) {
	url := testenv.NATS(t).ClientURL()
	// No database answers here: the count is refused before one is read.
	cfg := config.AccountService{NATS: config.NATSConfig{URL: url}}
	for i := range 6 {
		cfg.Shards = append(cfg.Shards, fmt.Sprintf("wallet:wallet@tcp(127.0.0.1:1)/wallet_shard_%d", i))
	}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	err := SplitShards(ctx, cfg, false, &out, &errOut)
	if !errors.Is(err, placement.ErrNoPlacement) {
		t.Fatalf("without a placement: %v", err)
	}
	m, err := placement.Initial(4, []string{"db1"})
	if err != nil {
		t.Fatal(err)
	}
	storePlacement(t, url, m)
	for _, dryRun := range []bool{false, true} {
		out.Reset()
		errOut.Reset()
		err = SplitShards(ctx, cfg, dryRun, &out, &errOut)
		var code service.ExitCode
		if !errors.As(err, &code) || code != 2 || !strings.Contains(errOut.String(), "6 logical shards; there are 4") {
			t.Errorf("split 4 into 6 (dry run %v): %v, stderr %q", dryRun, err, errOut.String())
		}
	}
}
