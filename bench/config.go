package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/auth"
)

// Config is everything one run is told by its flags. Flags() writes it into
// the result file, so a result can be reproduced.
type Config struct {
	Accounts         int
	Shards           int
	Clients          int
	Bulk             int
	NaiveClients     int
	Duration         time.Duration
	Cross            float64
	Hot              float64
	Rate             float64
	MaxInFlight      int
	NaiveDuration    time.Duration
	SetBasedClients  int
	SetBasedBatch    int
	SetBasedDuration time.Duration
	Amount           string
	Out              string
	AccountURL       string
	LedgerURL        string
	RelayURL         string
	MySQL            string
	Servers          []ServerDSN
	NATS             string
	RunDir           string
	SettleTimeout    time.Duration
	SettlePoll       time.Duration
	Profile          bool
	Suite            bool
	SuiteClients     int
	SuiteBulk        int
	SuiteBulkClients int
	SuiteOpenShare   float64
	SuiteRate        float64
	SuiteOverload    float64
	// Role is the scenario's part in the suite ("" outside it), which the
	// targets go by; see suite.go.
	Role Role
	// RateShare, when > 0, sets Rate at run time to this share of the
	// single-request maximum measured earlier in the suite.
	RateShare float64
	// Scale* are bench -scale's (scale.go).
	Scale               bool
	ScaleCPU            float64
	ScalePPerNode       int
	ScaleCostPartitions []int
	ScaleClients        int
	ScaleBulk           int
	ScaleBulkClients    int
	ScalePartitioned    bool
	ScaleScript         string
	ScaleDir            string
	// Token is the bearer token of every request; never written to results.
	Token string
}

// parseConfig reads the flags in args. Errors are for the user: the flag
// package has already printed the usage.
func parseConfig(args []string, stderr io.Writer) (Config, error) {
	var c Config
	var servers string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.Accounts, "accounts", 200, "accounts created for the run (and for each baseline); -scale: per node")
	fs.IntVar(&c.Shards, "shards", 256, "logical shards the accounts hash to (pkg/shard.Of(id, N)): which pairs are cross-shard, and which shards setup fills")
	fs.IntVar(&c.Clients, "clients", 64, "concurrent clients (closed loop)")
	fs.IntVar(&c.Bulk, "bulk", 0, "if > 0: each client sends this many transfers per request to POST "+bulkPath+" (closed loop only)")
	fs.IntVar(&c.NaiveClients, "naive-clients", 64, "concurrent clients of the naive baseline (64 is the figure the team compares with)")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "how long the load runs")
	fs.Float64Var(&c.Cross, "cross", 0.1, "share of transfers whose accounts are on different shards (0..1)")
	fs.Float64Var(&c.Hot, "hot", 0, "share of transfers that have one hot account as source or destination (0..1)")
	fs.Float64Var(&c.Rate, "rate", 0, "if > 0: open loop, offering this many transfers/s whatever the replies")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 1024, "open loop: requests outstanding at most; a send beyond it is dropped by the generator")
	fs.DurationVar(&c.NaiveDuration, "naive-duration", 10*time.Second, "how long the naive one-transaction-per-transfer baseline runs (0 skips it)")
	fs.IntVar(&c.SetBasedClients, "setbased-clients", 8, "concurrent loops of the set-based baseline")
	fs.IntVar(&c.SetBasedBatch, "setbased-batch", 50, "transfers per transaction of the set-based baseline")
	fs.DurationVar(&c.SetBasedDuration, "setbased-duration", 10*time.Second, "how long the set-based baseline (a plain loop, -setbased-batch transfers per transaction, set-based SQL) runs (0 skips it)")
	fs.StringVar(&c.Amount, "amount", "1.00", "amount of each transfer (USD)")
	fs.StringVar(&c.Out, "out", "bench/results", "directory for the result JSON (and profiles)")
	fs.StringVar(&c.AccountURL, "account-url", "http://127.0.0.1:8080", "account-service base URL")
	fs.StringVar(&c.LedgerURL, "ledger-url", "http://127.0.0.1:8081", "ledger-service base URL")
	fs.StringVar(&c.RelayURL, "relay-url", "http://127.0.0.1:8082", "outbox-relay base URL (for -profile)")
	fs.StringVar(&c.MySQL, "mysql", "wallet:wallet@tcp(127.0.0.1:3307)/", "MariaDB DSN without a schema; the ledger and the baselines' schemas live there (and the shards, unless -servers says otherwise)")
	fs.StringVar(&servers, "servers", "", "the MariaDB servers the shard schemas live on, comma-separated NAME=DSN (names as in WALLET_SERVERS) or bare DSNs, without a schema (default: the -mysql server)")
	fs.StringVar(&c.NATS, "nats", "nats://127.0.0.1:4222", "NATS URL (the ledger consumer's backlog)")
	fs.StringVar(&c.RunDir, "run-dir", ".run", "the local stack's directory with the pid files")
	fs.DurationVar(&c.SettleTimeout, "settle-timeout", 5*time.Minute, "give up waiting for the system to catch up after this long")
	fs.DurationVar(&c.SettlePoll, "settle-poll", 10*time.Millisecond, "how often to look whether the system has caught up (the precision of the catch-up time)")
	fs.BoolVar(&c.Profile, "profile", false, "fetch a CPU profile from each service during the load into -out")
	fs.BoolVar(&c.Suite, "suite", false, "run the standard scenarios one after another and judge them against issue 18's targets (docs/performance.md); they set -cross, -hot, -clients, -bulk and -rate themselves")
	fs.IntVar(&c.SuiteClients, "suite-clients", 256, "clients of the suite's single-request closed-loop scenarios")
	fs.IntVar(&c.SuiteBulk, "suite-bulk", 100, "transfers per request of the suite's bulk scenario")
	fs.IntVar(&c.SuiteBulkClients, "suite-bulk-clients", 8, "clients of the suite's bulk scenario")
	fs.Float64Var(&c.SuiteOpenShare, "suite-open-share", 0.7, "the suite's open loop offers this share of the single-request maximum it measured")
	fs.Float64Var(&c.SuiteRate, "suite-rate", 0, "if > 0: the suite's open loop offers this rate/s instead of -suite-open-share of the maximum")
	fs.Float64Var(&c.SuiteOverload, "suite-overload", 16000, "the offered rate/s of the suite's overload scenario (about four times the maximum on 2 cores)")
	fs.BoolVar(&c.Scale, "scale", false, "make bench-scale: start 1 and 2 CPU-limited nodes with deploy/local/scale.sh, one after the other, and measure each (see scale.go)")
	fs.Float64Var(&c.ScaleCPU, "scale-cpu", 0.8, "-scale: cores each node's cgroup may use")
	fs.IntVar(&c.ScalePPerNode, "scale-p-per-node", 2, "-scale: event partitions each node owns in the node comparison: 1 node runs this many (nats.partitions), 2 nodes twice as many, so that each node has the same settings")
	costPartitions := fs.String("scale-cost-partitions", "1,2,4,8", "-scale: partition counts at which 1 node's CPU per settled transfer is measured")
	fs.IntVar(&c.ScaleClients, "scale-clients", 256, "-scale: single-request clients per node (closed loop; enough that a node waiting on another's sagas still has work: at 128 the 2-node run was throttled 2.5 s of 20, below its cap)")
	fs.IntVar(&c.ScaleBulk, "scale-bulk", 100, "-scale: transfers per request of the bulk runs (0 skips them)")
	fs.IntVar(&c.ScaleBulkClients, "scale-bulk-clients", 4, "-scale: bulk clients per node")
	fs.BoolVar(&c.ScalePartitioned, "scale-partitioned", true, "-scale: the partitioned streams and ledger of ADR 0038 (false: SCALE_PARTITIONED=0 of scale.sh, for code from before them)")
	fs.StringVar(&c.ScaleScript, "scale-script", "deploy/local/scale.sh", "-scale: the script that starts and stops the nodes")
	fs.StringVar(&c.ScaleDir, "scale-dir", ".run/scale", "-scale: the nodes' data, logs and stack.env")
	fs.StringVar(&c.Token, "token", "", "bearer token of the requests (default: an operator token minted with WALLET_AUTH_JWT_SECRET or the local stack's <run-dir>/jwt-secret)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.ScalePPerNode < 1 {
		return Config{}, fmt.Errorf("-scale-p-per-node: %d is not a partition count", c.ScalePPerNode)
	}
	var err error
	for _, f := range strings.Split(*costPartitions, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("-scale-cost-partitions: %q is not a partition count", f)
		}
		c.ScaleCostPartitions = append(c.ScaleCostPartitions, n)
	}
	if c.Servers, err = parseServers(servers, c.MySQL); err != nil {
		return Config{}, err
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	if c.Token == "" {
		tok, err := operatorToken(c.RunDir)
		if err != nil {
			return Config{}, err
		}
		c.Token = tok
	}
	return c, nil
}

// operatorToken mints an operator token with the local stack's secret, so
// make bench needs no token handed to it; operators are not rate limited.
// No secret at all: no token (a stack run with auth.disabled).
func operatorToken(runDir string) (string, error) {
	secret := os.Getenv("WALLET_AUTH_JWT_SECRET")
	if secret == "" {
		b, err := os.ReadFile(filepath.Join(runDir, "jwt-secret"))
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		secret = strings.TrimSpace(string(b))
	}
	return auth.Mint(secret, "bench", auth.Operator, 24*time.Hour, "", "")
}

func (c Config) validate() error {
	switch {
	case c.Accounts < 2*minPerShard:
		return fmt.Errorf("-accounts must be at least %d (two shards of %d)", 2*minPerShard, minPerShard)
	case c.Shards < 2:
		return errors.New("-shards must be at least 2")
	case c.Clients < 1:
		return errors.New("-clients must be at least 1")
	case c.Duration <= 0:
		return errors.New("-duration must be positive")
	case c.Cross < 0 || c.Cross > 1:
		return errors.New("-cross must be between 0 and 1")
	case c.Hot < 0 || c.Hot > 1:
		return errors.New("-hot must be between 0 and 1")
	case c.Rate < 0:
		return errors.New("-rate must not be negative")
	case c.MaxInFlight < 1:
		return errors.New("-max-in-flight must be at least 1")
	case c.NaiveDuration < 0 || c.SetBasedDuration < 0:
		return errors.New("-naive-duration and -setbased-duration must not be negative")
	case c.NaiveClients < 1 || c.SetBasedClients < 1 || c.SetBasedBatch < 1:
		return errors.New("-naive-clients, -setbased-clients and -setbased-batch must be at least 1")
	case c.Bulk < 0 || c.Bulk > maxBulk || c.SuiteBulk < 1 || c.SuiteBulk > maxBulk:
		return fmt.Errorf("-bulk must be 0..%d and -suite-bulk 1..%d", maxBulk, maxBulk)
	case c.Bulk > 0 && c.Rate > 0:
		return errors.New("-bulk runs closed loop only; drop -rate")
	case c.SuiteClients < 1 || c.SuiteBulkClients < 1:
		return errors.New("-suite-clients and -suite-bulk-clients must be at least 1")
	case c.SuiteOpenShare <= 0 || c.SuiteRate < 0:
		return errors.New("-suite-open-share must be positive and -suite-rate not negative")
	case c.SettlePoll <= 0:
		return errors.New("-settle-poll must be positive")
	}
	a, err := decimal.NewFromString(c.Amount)
	if err != nil || !a.IsPositive() || a.Exponent() < -2 {
		return fmt.Errorf("-amount %q: want a positive USD amount with at most 2 decimals", c.Amount)
	}
	return nil
}

// maxBulk is the most transfers the API takes in one bulk request.
const maxBulk = 1000

// Name is the scenario's short label, used in the result file name:
// "cross10", "cross50-hot50", "cross10-c256", "open300-cross10",
// "bulk100-cross10-c8".
func (c Config) Name() string {
	name := fmt.Sprintf("cross%.0f", c.Cross*100)
	if c.Hot > 0 {
		name += fmt.Sprintf("-hot%.0f", c.Hot*100)
	}
	if c.Rate > 0 {
		name = fmt.Sprintf("open%.0f-", c.Rate) + name
	} else if c.Clients != 64 || c.Bulk > 0 {
		name += fmt.Sprintf("-c%d", c.Clients)
	}
	if c.Bulk > 0 {
		name = fmt.Sprintf("bulk%d-", c.Bulk) + name
	}
	return name
}

// Flags lists the run's settings by flag name, as the result file records
// them.
func (c Config) Flags() map[string]string {
	return map[string]string{
		"accounts":           fmt.Sprint(c.Accounts),
		"shards":             fmt.Sprint(c.Shards),
		"clients":            fmt.Sprint(c.Clients),
		"bulk":               fmt.Sprint(c.Bulk),
		"duration":           c.Duration.String(),
		"cross":              fmt.Sprint(c.Cross),
		"hot":                fmt.Sprint(c.Hot),
		"rate":               fmt.Sprint(c.Rate),
		"max-in-flight":      fmt.Sprint(c.MaxInFlight),
		"naive-duration":     c.NaiveDuration.String(),
		"naive-clients":      strconv.Itoa(c.NaiveClients),
		"setbased-clients":   strconv.Itoa(c.SetBasedClients),
		"setbased-batch":     strconv.Itoa(c.SetBasedBatch),
		"setbased-duration":  c.SetBasedDuration.String(),
		"amount":             c.Amount,
		"out":                c.Out,
		"account-url":        c.AccountURL,
		"ledger-url":         c.LedgerURL,
		"relay-url":          c.RelayURL,
		"mysql":              redactDSN(c.MySQL),
		"servers":            redactServers(c.Servers),
		"nats":               redactURLs(c.NATS),
		"run-dir":            c.RunDir,
		"settle-timeout":     c.SettleTimeout.String(),
		"settle-poll":        c.SettlePoll.String(),
		"profile":            fmt.Sprint(c.Profile),
		"suite":              fmt.Sprint(c.Suite),
		"suite-clients":      fmt.Sprint(c.SuiteClients),
		"suite-bulk":         fmt.Sprint(c.SuiteBulk),
		"suite-bulk-clients": fmt.Sprint(c.SuiteBulkClients),
		"suite-open-share":   fmt.Sprint(c.SuiteOpenShare),
		"suite-rate":         fmt.Sprint(c.SuiteRate),
		"suite-overload":     fmt.Sprint(c.SuiteOverload),
		"scale":              fmt.Sprint(c.Scale),
		"scale-cpu":          fmt.Sprint(c.ScaleCPU),
		"scale-p-per-node":   fmt.Sprint(c.ScalePPerNode),
		"scale-clients":      fmt.Sprint(c.ScaleClients),
		"scale-bulk":         fmt.Sprint(c.ScaleBulk),
		"scale-bulk-clients": fmt.Sprint(c.ScaleBulkClients),
		"scale-partitioned":  fmt.Sprint(c.ScalePartitioned),
	}
}

// redactURLs hides the passwords of comma-separated URLs: the settings go
// into the results files.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil {
			parts[i] = u.Redacted()
		} else {
			parts[i] = "<invalid>"
		}
	}
	return strings.Join(parts, ",")
}
