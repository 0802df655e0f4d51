package main

import (
	"os"
	"path/filepath"
	"testing"
)

// readStack reads what deploy/local/scale.sh start writes: the layout of
// the nodes, the ledger's schemas with their ranges expanded, the pids.
func TestReadStack(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "jwt-secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := `nodes=2
partitions=4
shards=256
partitioned=1
servers=db1=wallet:wallet@tcp(127.0.0.1:3360)/,db2=wallet:wallet@tcp(127.0.0.1:3361)/
ledgers=wallet:wallet@tcp(127.0.0.1:3360)/wallet_ledger_{0..1},wallet:wallet@tcp(127.0.0.1:3361)/wallet_ledger_{2..3}
nats=nats://wallet_scale:x@127.0.0.1:4260
jwt_secret_file=` + secret + `
node0.account_url=http://127.0.0.1:8270
node0.shards=0..127
node0.partitions=0..1
node0.cgroup=/sys/fs/cgroup/cpu/wallet-scale/node0
node0.pid.nats=11
node0.pid.mariadbd=10
node1.account_url=http://127.0.0.1:8271
node1.shards=128..255
node1.partitions=2..3
node1.cgroup=/sys/fs/cgroup/cpu/wallet-scale/node1
node1.pid.mariadbd=20
`
	path := filepath.Join(dir, "stack.env")
	if err := os.WriteFile(path, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := readStack(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Partitioned || st.Shards != 256 || st.Secret != "s3cret" || len(st.Servers) != 2 || st.Servers[1].Name != "db2" {
		t.Fatalf("stack %+v", st)
	}
	if len(st.Ledgers) != 4 || st.Ledgers[3] != "wallet:wallet@tcp(127.0.0.1:3361)/wallet_ledger_3" {
		t.Fatalf("ledgers %q", st.Ledgers)
	}
	n := st.Nodes[1]
	if len(st.Nodes) != 2 || n.FirstShard != 128 || n.LastShard != 255 || n.FirstPartition != 2 || n.LastPt != 3 {
		t.Fatalf("node 1 %+v", n)
	}
	if p := st.Nodes[0].Procs; len(p) != 2 || p[0] != (Proc{Name: "node0/mariadbd", PID: 10}) {
		t.Fatalf("node 0's processes %+v", p)
	}
}

func TestScaleSummary(t *testing.T) {
	rep := ScaleReport{Runs: []ScaleRun{
		{scaleSpec: scaleSpec{1, 2, 0}, SettledPerSecond: 500, CPUMsPerSettled: 1.0},
		{scaleSpec: scaleSpec{2, 4, 0}, SettledPerSecond: 950, CPUMsPerSettled: 0.9},
		{scaleSpec: scaleSpec{1, 2, 100}, SettledPerSecond: 1000},
		{scaleSpec: scaleSpec{2, 4, 100}, SettledPerSecond: 1500},
		{scaleSpec: scaleSpec{1, 8, 0}, SettledPerSecond: 480, CPUMsPerSettled: 1.08},
	}}
	// 2 partitions per node: 1 node of 2 against 2 nodes of 4.
	rep.summarise(2, 100)
	if rep.Ratio != 1.9 || rep.BulkRatio != 1.5 {
		t.Fatalf("ratios %v, %v", rep.Ratio, rep.BulkRatio)
	}
	// The cost curve is 1 node's single requests only: 1.0 and 1.08.
	if d := rep.CostSpread - 0.08; d > 1e-9 || d < -1e-9 {
		t.Fatalf("spread %v", rep.CostSpread)
	}
}
