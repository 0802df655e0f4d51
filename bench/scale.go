package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/stream"
)

// bench -scale (make bench-scale, issue 19 item 6): scale-out measured on
// this machine. deploy/local/scale.sh starts N "nodes", each a MariaDB
// server with a range of the logical shards, a nats-server of one cluster
// and the three services, every process of a node in a cgroup limited to
// -scale-cpu cores; this process is the load balancer and the load,
// outside them. Each run starts its stack afresh and stops it after:
//   - 1 node and 2 nodes with the same per-node settings, single requests
//     and bulk: each node owns -scale-p-per-node partitions (1 node P=2, 2
//     nodes P=4 by default), its relay publishes its own server
//     (relay.servers), its ledger applies its own partitions
//     (ledger.partitions) and its account-service consumes their saga
//     steps; settled transfers/s and their ratio (goal ≥ 1.8×);
//   - 1 node at each of -scale-cost-partitions: the CPU of every process of
//     the stack per settled transfer (goal: flat within 10%).

// scaleSpec is one run of bench -scale.
type scaleSpec struct {
	Nodes      int `json:"nodes"`
	Partitions int `json:"partitions"`
	Bulk       int `json:"bulk"` // transfers per request; 0: single requests
}

func (s scaleSpec) String() string {
	mode := "single"
	if s.Bulk > 0 {
		mode = fmt.Sprintf("bulk%d", s.Bulk)
	}
	return fmt.Sprintf("scale-n%d-p%d-%s", s.Nodes, s.Partitions, mode)
}

// scaleStack is what scale.sh start wrote to stack.env.
type scaleStack struct {
	Partitioned bool
	Pinned      bool
	Shards      int
	Servers     []ServerDSN
	Ledgers     []string // DSNs with the schema, one per ledger journal
	NATS        string   // the harness's own NATS user, on node 0
	Secret      string
	Nodes       []scaleNode
}

type scaleNode struct {
	AccountURL             string
	FirstShard, LastShard  int
	FirstPartition, LastPt int
	Cgroup                 string
	Procs                  []Proc
}

// ScaleRun is one run's figures in the summary.
type ScaleRun struct {
	scaleSpec
	Result           string  `json:"result_file"`
	SettledPerSecond float64 `json:"settled_per_second"`
	CPUMsPerSettled  float64 `json:"stack_cpu_ms_per_settled_transfer"`
	// ThrottledSeconds is how long the nodes' cgroups were held back by
	// their quota during load and settle, summed: a node that never is
	// was not the limit.
	ThrottledSeconds []float64 `json:"throttled_seconds_per_node"`
	Settled          bool      `json:"settled"`
	// Pinned: each node's processes ran on one CPU of their own (taskset,
	// scale.sh's SCALE_PIN).
	Pinned bool `json:"pinned"`
	// LoadAvg is the machine's load average as the run started: the nodes
	// share it with whatever else runs, so a high one makes a run suspect.
	LoadAvg string `json:"loadavg_at_start"`
}

// ScaleReport is the summary file of bench -scale.
type ScaleReport struct {
	StartedAt   time.Time         `json:"started_at"`
	Host        Host              `json:"host"`
	Flags       map[string]string `json:"flags"`
	Partitioned bool              `json:"partitioned"`
	// PartitionsPerNode is what each node owns in the node comparison:
	// 1 node runs this many partitions, 2 nodes twice as many.
	PartitionsPerNode int        `json:"partitions_per_node"`
	Runs              []ScaleRun `json:"runs"`
	// Ratio is settled/s of 2 nodes over 1 node, single requests; BulkRatio
	// the same for bulk. CostSpread is max/min - 1 of the CPU per settled
	// transfer over the partition counts.
	Ratio      float64 `json:"scale_out"`
	BulkRatio  float64 `json:"scale_out_bulk"`
	CostSpread float64 `json:"cpu_per_settled_spread"`
}

// runScale runs every spec of bench -scale and prints the summary, ending
// with the scale-out line.
func runScale(ctx context.Context, cfg Config, stdout, stderr io.Writer) int {
	p := cfg.ScalePPerNode
	specs := []scaleSpec{{1, p, 0}, {2, 2 * p, 0}}
	if cfg.ScaleBulk > 0 {
		specs = append(specs, scaleSpec{1, p, cfg.ScaleBulk}, scaleSpec{2, 2 * p, cfg.ScaleBulk})
	}
	for _, q := range cfg.ScaleCostPartitions {
		if q != p {
			specs = append(specs, scaleSpec{1, q, 0})
		}
	}
	rep := ScaleReport{StartedAt: time.Now().UTC(), Host: hostInfo(), Flags: cfg.Flags(), Partitioned: cfg.ScalePartitioned,
		PartitionsPerNode: p}
	status := 0
	for _, spec := range specs {
		run, err := scaleOne(ctx, cfg, spec, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", spec, err)
			status = 2
			break
		}
		if !run.Settled {
			status = 1
		}
		rep.Runs = append(rep.Runs, run)
		fmt.Fprintf(stdout, "%-22s %8.0f settled/s  %6.3f CPU ms/settled  throttled %s s  (load average %s)\n",
			spec, run.SettledPerSecond, run.CPUMsPerSettled, fmtFloats(run.ThrottledSeconds), run.LoadAvg)
	}
	rep.summarise(p, cfg.ScaleBulk)
	if len(rep.Runs) > 0 {
		if err := writeJSONFile(cfg.Out, rep.StartedAt.Format("2006-01-02T15-04-05")+"-scale.json", rep); err != nil {
			fmt.Fprintf(stderr, "bench: write scale result: %v\n", err)
			status = 2
		}
	}
	fmt.Fprintf(stdout, "cpu per settled transfer over %v partitions: spread %.1f%% (goal: within 10%%)\n", cfg.ScaleCostPartitions, rep.CostSpread*100)
	perNode := fmt.Sprintf("%d partitions per node: 1 node P=%d, 2 nodes P=%d", p, p, 2*p)
	if cfg.ScaleBulk > 0 {
		fmt.Fprintf(stdout, "scale-out, bulk: 2 nodes / 1 node = %.2f× (%s)\n", rep.BulkRatio, perNode)
	}
	fmt.Fprintf(stdout, "same per-node settings: %s\n", perNode)
	fmt.Fprintf(stdout, "scale-out: 2 nodes / 1 node = %.2f×\n", rep.Ratio)
	return status
}

// summarise works out the ratios, 2 nodes of 2p partitions over 1 node of
// p, and the spread of the cost curve.
func (rep *ScaleReport) summarise(p, bulk int) {
	rate := func(s scaleSpec) float64 {
		for _, r := range rep.Runs {
			if r.scaleSpec == s {
				return r.SettledPerSecond
			}
		}
		return 0
	}
	rep.Ratio = ratio(rate(scaleSpec{2, 2 * p, 0}), rate(scaleSpec{1, p, 0}))
	rep.BulkRatio = ratio(rate(scaleSpec{2, 2 * p, bulk}), rate(scaleSpec{1, p, bulk}))
	lo, hi := math.Inf(1), 0.0
	for _, r := range rep.Runs {
		if r.Nodes == 1 && r.Bulk == 0 && r.CPUMsPerSettled > 0 {
			lo, hi = min(lo, r.CPUMsPerSettled), max(hi, r.CPUMsPerSettled)
		}
	}
	if hi > 0 {
		rep.CostSpread = hi/lo - 1
	}
}

// scaleOne starts spec's stack, measures it and stops it, whatever happens.
func scaleOne(ctx context.Context, cfg Config, spec scaleSpec, log io.Writer) (ScaleRun, error) {
	run := ScaleRun{scaleSpec: spec}
	env := []string{fmt.Sprintf("SCALE_NODES=%d", spec.Nodes), fmt.Sprintf("SCALE_PARTITIONS=%d", spec.Partitions),
		fmt.Sprintf("SCALE_CPU=%g", cfg.ScaleCPU), "SCALE_DIR=" + cfg.ScaleDir}
	if !cfg.ScalePartitioned {
		env = append(env, "SCALE_PARTITIONED=0")
	}
	fmt.Fprintf(log, "[%s] starting %d node(s), %d partitions, %g cores each\n", spec, spec.Nodes, spec.Partitions, cfg.ScaleCPU)
	defer func() {
		// Stopped even when ctx was cancelled (^C): nothing is left running.
		if err := scaleScript(context.WithoutCancel(ctx), cfg.ScaleScript, env, log, "stop"); err != nil {
			fmt.Fprintf(log, "[%s] stop: %v\n", spec, err)
		}
	}()
	if err := scaleScript(ctx, cfg.ScaleScript, env, log, "start"); err != nil {
		return run, err
	}
	st, err := readStack(filepath.Join(cfg.ScaleDir, "stack.env"))
	if err != nil {
		return run, err
	}
	r, throttled, err := measureScale(ctx, cfg, spec, st, log)
	if err != nil {
		return run, err
	}
	run.Result, run.SettledPerSecond, run.CPUMsPerSettled, run.LoadAvg = r.File, r.SettledPerSecond, r.StackCPUMsPerSettled, r.Host.LoadAvg
	run.ThrottledSeconds, run.Settled, run.Pinned = throttled, r.Settled && len(r.Failures) == 0, st.Pinned
	return run, nil
}

// scaleScript runs scale.sh's command with env added, its output to log.
func scaleScript(ctx context.Context, script string, env []string, log io.Writer, command string) error {
	cmd := exec.CommandContext(ctx, script, command)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", script, command, err)
	}
	return nil
}

// measureScale is runOne for a stack of nodes: the accounts' requests go to
// the node holding their shard, every process of every node is watched.
func measureScale(ctx context.Context, cfg Config, spec scaleSpec, st scaleStack, log io.Writer) (*Result, []float64, error) {
	amount, _ := decimal.NewFromString(cfg.Amount)
	cfg.Bulk, cfg.Rate, cfg.Hot, cfg.Shards = spec.Bulk, 0, 0, st.Shards
	clients := cfg.ScaleClients
	if spec.Bulk > 0 {
		clients = cfg.ScaleBulkClients
	}
	cfg.Clients = clients * spec.Nodes // per node
	r := &Result{Scenario: spec.String(), StartedAt: time.Now().UTC(), Flags: cfg.Flags(), Host: hostInfo(), Mode: "closed loop"}
	if spec.Bulk > 0 {
		r.Mode = "bulk"
	}
	servers, err := openServers(st.Servers)
	if err != nil {
		return nil, nil, err
	}
	defer closeServers(servers)
	var tables []LedgerTable
	for _, dsn := range st.Ledgers {
		db, err := openDB(dsn, "", 2)
		if err != nil {
			return nil, nil, err
		}
		defer db.Close()
		schema, _ := schemaOf(dsn)
		tables = append(tables, LedgerTable{DB: db, Table: "`" + schema + "`.ledger_accounts"})
	}
	nc, err := nats.Connect(st.NATS, nats.Name("wallet-bench-scale"))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, err
	}
	streams := []string{"WALLET"} // the one stream before ADR 0038
	if st.Partitioned {
		streams = nil
		for p := range spec.Partitions {
			streams = append(streams, stream.PartitionName(p))
		}
	}
	if err := placeStreams(ctx, js, streams, st, spec, log); err != nil {
		return nil, nil, err
	}
	token, err := auth.Mint(st.Secret, "bench", auth.Operator, 24*time.Hour, "", "")
	if err != nil {
		return nil, nil, err
	}
	apis := make([]*API, len(st.Nodes))
	for i, n := range st.Nodes {
		apis[i] = NewAPI(n.AccountURL, token, clients+16)
		defer apis[i].Close()
	}
	nodeOf := func(id string) int {
		sh := shardOf(id, st.Shards)
		for i, n := range st.Nodes {
			if sh >= n.FirstShard && sh <= n.LastShard {
				return i
			}
		}
		return 0
	}

	r.Prefix = runPrefix(r.StartedAt)
	watch, err := NewWatcher(ctx, servers, tables[0].DB, js, r.Prefix, shardSchemaLike)
	if err != nil {
		return nil, nil, err
	}
	watch.Partitioned(tables, streams)
	// -accounts is per node, like the clients: each node's batches then
	// span as many shards as the single node's do, and a node's cost per
	// transfer is compared at the same work.
	accounts := cfg.Accounts * len(st.Nodes)
	fmt.Fprintf(log, "[%s] setup: %d accounts with prefix %s\n", r.Scenario, accounts, r.Prefix)
	setupStart := time.Now()
	acc, err := setup(ctx, func(id string) *API { return apis[nodeOf(id)] }, r.Prefix, accounts, st.Shards, amount)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: %w", err)
	}
	if b, _, err := watch.WaitCaughtUp(ctx, time.Now(), cfg.SettleTimeout, cfg.SettlePoll, log); err != nil || !b.Clear() {
		return nil, nil, fmt.Errorf("setup did not settle (%s): %v", b, err)
	}
	r.SetupSeconds = time.Since(setupStart).Seconds()
	routes := make([]Route, len(st.Nodes))
	for i := range st.Nodes {
		picker, err := NewPicker(acc.IDs, st.Shards, cfg.Cross, 0)
		if err != nil {
			return nil, nil, err
		}
		var own []string
		for _, id := range picker.all {
			if nodeOf(id) == i {
				own = append(own, id)
			}
		}
		if len(own) == 0 {
			return nil, nil, fmt.Errorf("no account of the run is on node %d", i)
		}
		picker.SetSources(own)
		routes[i] = Route{API: apis[i], Picker: picker}
		r.Shards = len(picker.same)
	}

	var procs []Proc
	for _, n := range st.Nodes {
		procs = append(procs, n.Procs...)
	}
	procs = append(procs, Proc{Name: "bench", PID: os.Getpid()})
	before := throttledNanos(st.Nodes)
	measureLoad(ctx, cfg, r, routes, procs, watch, log)
	after := throttledNanos(st.Nodes)
	throttled := make([]float64, len(st.Nodes))
	for i := range throttled {
		throttled[i] = float64(after[i]-before[i]) / 1e9
	}
	if err := measureOutcome(ctx, r, watch, acc); err != nil {
		return nil, nil, err
	}
	if err := r.write(cfg.Out); err != nil {
		return nil, nil, err
	}
	printResult(log, r)
	return r, throttled, nil
}

// placeStreams puts each stream's (R1) leader on the node that owns its
// partition, by JetStream's placement tags (scale.sh tags node i "node:i"):
// WALLET_<p> on the owner of p; today's one WALLET stream on node 0, where
// the one ledger runs. A stream placed elsewhere is moved (it is empty).
// One node: nothing to place.
func placeStreams(ctx context.Context, js jetstream.JetStream, streams []string, st scaleStack, spec scaleSpec, log io.Writer) error {
	if len(st.Nodes) < 2 {
		return nil
	}
	for p, name := range streams {
		node := 0
		if st.Partitioned {
			node = p * len(st.Nodes) / spec.Partitions
		}
		want := fmt.Sprintf("wallet-scale-%d", node)
		deadline := time.Now().Add(60 * time.Second)
		for moved := false; ; {
			s, err := js.Stream(ctx, name)
			if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("stream %s: %w", name, err)
			}
			if err == nil {
				info := s.CachedInfo()
				if info.Cluster != nil && info.Cluster.Leader == want {
					break
				}
				if !moved {
					c := info.Config
					c.Placement = &jetstream.Placement{Tags: []string{fmt.Sprintf("node:%d", node)}}
					if _, err := js.UpdateStream(ctx, c); err != nil {
						return fmt.Errorf("place stream %s on %s: %w", name, want, err)
					}
					fmt.Fprintf(log, "  moving stream %s to %s\n", name, want)
					moved = true
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("stream %s is not on %s after 60 s", name, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// throttledNanos reads each node cgroup's throttled_time (cpu.stat).
func throttledNanos(nodes []scaleNode) []int64 {
	out := make([]int64, len(nodes))
	for i, n := range nodes {
		raw, err := os.ReadFile(filepath.Join(n.Cgroup, "cpu.stat"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "throttled_time "); ok {
				out[i], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return out
}

// readStack parses stack.env, KEY=VALUE lines (scale.sh start).
func readStack(path string) (scaleStack, error) {
	f, err := os.Open(path)
	if err != nil {
		return scaleStack{}, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return scaleStack{}, err
	}
	st := scaleStack{Partitioned: kv["partitioned"] == "1", Pinned: kv["pin"] == "1", NATS: kv["nats"]}
	n, err1 := strconv.Atoi(kv["nodes"])
	shards, err2 := strconv.Atoi(kv["shards"])
	if err := errors.Join(err1, err2); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	st.Shards = shards
	if st.Servers, err = parseServers(kv["servers"], ""); err != nil {
		return st, err
	}
	if st.Ledgers, err = config.ExpandShards(strings.Split(kv["ledgers"], ",")); err != nil {
		return st, fmt.Errorf("ledgers: %w", err)
	}
	secret, err := os.ReadFile(kv["jwt_secret_file"])
	if err != nil {
		return st, err
	}
	st.Secret = strings.TrimSpace(string(secret))
	for i := range n {
		pre := fmt.Sprintf("node%d.", i)
		node := scaleNode{AccountURL: kv[pre+"account_url"], Cgroup: kv[pre+"cgroup"]}
		if _, err := fmt.Sscanf(kv[pre+"shards"], "%d..%d", &node.FirstShard, &node.LastShard); err != nil {
			return st, fmt.Errorf("%sshards: %w", pre, err)
		}
		if _, err := fmt.Sscanf(kv[pre+"partitions"], "%d..%d", &node.FirstPartition, &node.LastPt); err != nil {
			return st, fmt.Errorf("%spartitions: %w", pre, err)
		}
		for k, v := range kv {
			if name, ok := strings.CutPrefix(k, pre+"pid."); ok {
				pid, err := strconv.Atoi(v)
				if err != nil {
					return st, fmt.Errorf("%s: %w", k, err)
				}
				node.Procs = append(node.Procs, Proc{Name: fmt.Sprintf("node%d/%s", i, name), PID: pid})
			}
		}
		slices.SortFunc(node.Procs, func(a, b Proc) int { return strings.Compare(a.Name, b.Name) })
		st.Nodes = append(st.Nodes, node)
	}
	return st, nil
}

// schemaOf returns the schema a DSN names.
func schemaOf(dsn string) (string, error) {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	return c.DBName, nil
}

func fmtFloats(fs []float64) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strings.Join(parts, "/")
}

// writeJSONFile writes v as indented JSON to dir/name.
func writeJSONFile(dir, name string, v any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}
