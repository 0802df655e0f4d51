package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/testenv"
)

// Fleet is the wallet deployed as on separate machines, on this one: two
// MariaDB servers, first with two logical shards each and the ledger's
// schemas of the same partitions (one event partition per shard, ADR
// 0038), a three-node JetStream cluster with the partitions' streams
// WALLET_0..3 at 3 replicas, two account-service instances, two relays and
// two ledger-service instances dividing the partitions by leases.
// Every one is a process of its own that the nemesis can kill, restart
// and pause, and every link from a service to a MariaDB server and from
// one JetStream node to another goes through a proxy it can cut or slow.
// The services know the servers by the names of DBs (config servers), so
// that a shard the nemesis moves (account-service shards move) is found
// on its new server by every instance and by the checker (LiveShards).
type Fleet struct {
	t   testing.TB
	bin string
	dir string

	DBs  []*DBServer
	NATS []*NATSNode
	// Links are the proxies, by name: "account-service-0>mariadb-1",
	// "nats-0>nats-2" (the route node 0 dials to node 2).
	Links map[string]*testenv.Proxy

	Ledgers  []*sqlx.DB // partition p's ledger schema, direct
	direct   []string   // DSNs of shards 0-3 (first placement), not proxied
	ledgers  []string   // DSNs of the ledger schemas, by partition, not proxied
	natsURLs string

	poolMu sync.Mutex
	pools  map[string]*sqlx.DB // direct pools by DSN, for the checker and the nemesis (shardPool)
	moveMu sync.Mutex          // one move at a time (moveShard)
	moves  int                 // moves started, to name their logs

	// trap, while killAnswered arms it, takes the next deposit or
	// withdrawal an account-service instance answers (the workload calls
	// answered): the instance is killed at once, from the goroutine of
	// the client that has just read the answer.
	trapMu sync.Mutex
	trap   chan answered

	// FirstStart is extra environment for the first start of an instance
	// only (a test hook that must not come back after a restart).
	FirstStart map[string][]string

	mu    sync.Mutex
	procs map[string]*proc // running service instances, by name
	addrs map[string]string
	env   []string
}

// Partitions is how many event partitions the fleet has: one per logical
// shard, so that every partition's stream, saga and ledger schema carries
// traffic and a MariaDB server holds the ledger of two of them.
const Partitions = 4

// LedgerInstances is how many ledger-service instances the fleet runs:
// they divide the partitions, and a killed or paused one's partitions are
// taken over by the other (lease.ttl, ADR 0038).
const LedgerInstances = 2

// LedgerInstance names the i-th ledger-service.
func LedgerInstance(i int) string { return fmt.Sprintf("ledger-service-%d", i) }

// AccountInstance and RelayInstance name the i-th account-service and relay.
func AccountInstance(i int) string { return fmt.Sprintf("account-service-%d", i) }

// RelayInstance names the i-th outbox-relay.
func RelayInstance(i int) string { return fmt.Sprintf("outbox-relay-%d", i) }

// Services lists every service instance, in start order.
func (f *Fleet) Services() []string {
	return []string{AccountInstance(0), AccountInstance(1), RelayInstance(0), RelayInstance(1), LedgerInstance(0), LedgerInstance(1)}
}

// binary is the command an instance runs: its name without the number.
func binary(instance string) string {
	if i := strings.LastIndexByte(instance, '-'); i > 0 {
		if _, err := strconv.Atoi(instance[i+1:]); err == nil {
			return instance[:i]
		}
	}
	return instance
}

// shardServer is the MariaDB server shard sh lives on: 0 and 1 on the
// first, 2 and 3 on the second, so a cross-shard transfer often crosses
// servers and a server restart takes half the shards away.
func shardServer(sh int) int { return sh / 2 }

// ledgerServer is the MariaDB server of partition p's ledger schema: the
// server its shard is first placed on, so that killing a server stops the
// ledger of half the partitions too.
func ledgerServer(p int) int { return shardServer(p) }

// ReplicationUser is the login a move's target replicates from its source
// with (config move.replication_user), on every server of the fleet.
const (
	ReplicationUser     = "wallet_repl"
	replicationPassword = "repl-secret"
)

// quietDriver silences the driver's logger once: fleets run in parallel.
var quietDriver sync.Once

// NewFleet starts the databases and the JetStream cluster (not the
// services: Start them) and stops everything when the test ends. bin holds
// the binaries of Build, nats-server included.
func NewFleet(t testing.TB, bin string, env ...string) *Fleet {
	t.Helper()
	f := &Fleet{t: t, bin: bin, dir: t.TempDir(), Links: map[string]*testenv.Proxy{},
		procs: map[string]*proc{}, addrs: map[string]string{}, pools: map[string]*sqlx.DB{}}
	t.Cleanup(f.stopDBs) // if the rest of NewFleet fails
	// The driver logs every connection a killed server broke; the
	// checker's own connections retry, and the noise hides the report.
	quietDriver.Do(func() { _ = mysql.SetLogger(log.New(io.Discard, "", 0)) })

	var wg sync.WaitGroup
	errs := make([]error, 2)
	ports := testenv.FreePorts(t, 2) // in one call: ports reserved one by one may repeat
	for i := range 2 {
		d := &DBServer{Name: fmt.Sprintf("mariadb-%d", i), dir: filepath.Join(f.dir, fmt.Sprintf("mariadb-%d", i)), port: ports[i]}
		f.DBs = append(f.DBs, d)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = d.Start() }()
	}
	f.watchdog()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for sh := range 4 {
		f.direct = append(f.direct, f.createSchema(shardServer(sh), fmt.Sprintf("wallet_shard_%d", sh)))
	}
	for p := range Partitions {
		f.ledgers = append(f.ledgers, f.createSchema(ledgerServer(p), fmt.Sprintf("wallet_ledger_%d", p)))
	}
	// A move's target replicates from its source with this login
	// (mariadb.sh already runs every server with the binary log on and a
	// server_id of its own).
	for _, d := range f.DBs {
		admin := testenv.MustOpen(t, d.DSN(""))
		for _, q := range []string{"CREATE USER IF NOT EXISTS " + ReplicationUser + "@'%' IDENTIFIED BY '" + replicationPassword + "'",
			"GRANT REPLICATION SLAVE ON *.* TO " + ReplicationUser + "@'%'"} {
			if _, err := admin.Exec(q); err != nil {
				t.Fatalf("%s: %v", d.Name, err)
			}
		}
	}
	for _, dsn := range f.ledgers {
		f.Ledgers = append(f.Ledgers, testenv.MustOpen(t, dsn))
	}
	t.Cleanup(f.closePools)

	f.startNATS()
	f.env = append(os.Environ(),
		"WALLET_NATS_URL="+f.natsURLs,
		fmt.Sprintf("WALLET_NATS_PARTITIONS=%d", Partitions),
		"WALLET_NATS_REPLICAS=3",
		"WALLET_LOG_LEVEL=info",
		"WALLET_AUTH_JWT_SECRET="+authtest.Secret,
	)
	f.env = append(f.env, env...)
	services := f.Services()
	for i, port := range testenv.FreePorts(t, len(services)) {
		f.addrs[services[i]] = fmt.Sprintf("127.0.0.1:%d", port)
		f.dsns(services[i]) // its links, so that the nemesis can pick any from the start
	}
	// Registered last, so it runs first: the processes stop while their
	// links still forward.
	t.Cleanup(f.stopAll)
	return f
}

// createSchema creates schema on server i and returns its direct DSN.
func (f *Fleet) createSchema(i int, schema string) string {
	f.t.Helper()
	admin := testenv.MustOpen(f.t, f.DBs[i].DSN(""))
	if _, err := admin.Exec("CREATE DATABASE `" + schema + "`"); err != nil {
		f.t.Fatal(err)
	}
	return f.DBs[i].DSN(schema)
}

// watchdog makes sure the fleet does not outlive the test binary: if it
// dies without its cleanups (a -timeout panic, a SIGKILL), a detached
// shell wakes every process the fleet started (one may be SIGSTOPped),
// kills it, kills both MariaDB servers and removes the fleet's directory.
func (f *Fleet) watchdog() {
	var dbDirs []string
	for _, d := range f.DBs {
		dbDirs = append(dbDirs, d.dir)
	}
	script := `test=$1 pids=$2 dir=$3; shift 3
while kill -0 "$test" 2>/dev/null; do sleep 1; done
for p in $(cat "$pids" 2>/dev/null); do kill -CONT "$p"; kill -KILL "$p"; done 2>/dev/null
for d in "$@"; do [ -f "$d/mariadbd.pid" ] && kill -KILL "$(cat "$d/mariadbd.pid")" 2>/dev/null; done
rm -rf "$dir"`
	args := append([]string{"-c", script, "watchdog", strconv.Itoa(os.Getpid()), f.pidFile(), f.dir}, dbDirs...)
	cmd := exec.Command("sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_ = cmd.Start()
}

func (f *Fleet) pidFile() string { return filepath.Join(f.dir, "pids") }

// recordPid appends pid to the file the watchdog reads.
func recordPid(path string, pid int) {
	if fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintln(fh, pid)
		fh.Close()
	}
}

// link returns the proxy named from>to to target, starting it the first
// time.
func (f *Fleet) link(from, to, target string) *testenv.Proxy {
	name := from + ">" + to
	if p := f.Links[name]; p != nil {
		return p
	}
	p := testenv.StartProxy(f.t, target)
	f.Links[name] = p
	return p
}

// dsns are the servers ("name=DSN"), the shard DSNs of the first
// placement and the ledger schemas' DSNs (by partition) instance connects
// with: each through its own link to the server.
func (f *Fleet) dsns(instance string) (servers, shards, ledgers []string) {
	via := func(server int, dsn string) string {
		return f.link(instance, f.DBs[server].Name, f.DBs[server].Addr()).DSN(dsn)
	}
	for i, d := range f.DBs {
		servers = append(servers, d.Name+"="+via(i, d.DSN("")))
	}
	for sh, dsn := range f.direct {
		shards = append(shards, via(shardServer(sh), dsn))
	}
	for p, dsn := range f.ledgers {
		ledgers = append(ledgers, via(ledgerServer(p), dsn))
	}
	return servers, shards, ledgers
}

// directEnv is the configuration of a batch command: every database
// reached directly, not through a link the nemesis may cut, and the
// replication login a move needs.
func (f *Fleet) directEnv() []string {
	var servers []string
	for _, d := range f.DBs {
		servers = append(servers, d.Name+"="+d.DSN(""))
	}
	return append(append([]string{}, f.env...),
		"WALLET_SERVERS="+strings.Join(servers, ","),
		"WALLET_SHARDS="+strings.Join(f.direct, ","), "WALLET_LEDGER_DATABASES="+strings.Join(f.ledgers, ","),
		"WALLET_MOVE_REPLICATION_USER="+ReplicationUser, "WALLET_MOVE_REPLICATION_PASSWORD="+replicationPassword,
		// reconcile reads the shards through account-service's read side.
		"WALLET_LEDGER_ACCOUNT_SERVICE_URL="+f.URL(AccountInstance(0)))
}

// Start runs a service instance and waits until its /readyz answers 200.
func (f *Fleet) Start(instance string) error {
	b := binary(instance)
	servers, shards, ledgers := f.dsns(instance)
	env := append(append([]string{}, f.env...),
		"WALLET_SERVERS="+strings.Join(servers, ","),
		"WALLET_SHARDS="+strings.Join(shards, ","),
		"WALLET_LEDGER_DATABASES="+strings.Join(ledgers, ","),
		addrKey[b]+"="+f.addrs[instance],
	)
	f.mu.Lock()
	env = append(env, f.FirstStart[instance]...)
	delete(f.FirstStart, instance)
	f.mu.Unlock()
	p, err := startProc(filepath.Join(f.bin, b), nil, env, f.LogPath(instance))
	if err != nil {
		return err
	}
	recordPid(f.pidFile(), p.cmd.Process.Pid)
	f.mu.Lock()
	f.procs[instance] = p
	f.mu.Unlock()
	if err := waitReady(f.URL(instance), p, 90*time.Second); err != nil {
		return fmt.Errorf("%s: %w\n%s", instance, err, f.Log(instance))
	}
	return nil
}

// waitReady polls base's /readyz until it answers 200, p exits, or
// timeout passes.
func waitReady(base string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz %d", res.StatusCode)
		}
		if p.exited() {
			return errors.New("exited during start-up")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartAll starts every instance, one after the other (the first
// account-service migrates the shards), or fails the test.
func (f *Fleet) StartAll() {
	f.t.Helper()
	f.provision()
	for _, name := range f.Services() {
		if err := f.Start(name); err != nil {
			f.t.Fatal(err)
		}
	}
}

// provision runs outbox-relay provision on the fleet's NATS: the services
// only verify the streams and buckets (ADR 0040).
func (f *Fleet) provision() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(f.bin, "outbox-relay"), "provision")
	cmd.Env = f.env
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("outbox-relay provision: %v\n%s", err, out)
	}
}

// Kill sends SIGKILL to an instance and waits for it to die.
func (f *Fleet) Kill(instance string) {
	f.mu.Lock()
	p := f.procs[instance]
	delete(f.procs, instance)
	f.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Signal sends sig (SIGSTOP, SIGCONT) to an instance.
func (f *Fleet) Signal(instance string, sig syscall.Signal) error {
	f.mu.Lock()
	p := f.procs[instance]
	f.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%s is not running", instance)
	}
	return p.cmd.Process.Signal(sig)
}

// Running reports whether an instance's process is alive.
func (f *Fleet) Running(instance string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.procs[instance]
	return p != nil && !p.exited()
}

func (f *Fleet) stopAll() {
	f.mu.Lock()
	procs := f.procs
	f.procs = map[string]*proc{}
	f.mu.Unlock()
	for name, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if f.t.Failed() {
			f.t.Logf("--- %s log (tail) ---\n%s", name, f.Log(name))
		}
	}
	for _, n := range f.NATS {
		n.Kill()
		if f.t.Failed() {
			b, _ := os.ReadFile(n.log)
			f.t.Logf("--- %s log (tail) ---\n%s", n.Name, tail(string(b), 30))
		}
	}
	f.stopDBs()
}

func (f *Fleet) stopDBs() {
	for _, d := range f.DBs {
		d.Stop()
	}
	// Stopped cleanly: the watchdog must not kill pids recycled since.
	_ = os.Remove(f.pidFile())
}

// URL is the base URL of an instance.
func (f *Fleet) URL(instance string) string { return "http://" + f.addrs[instance] }

// LogPath is the file an instance logs to (appended across restarts).
func (f *Fleet) LogPath(instance string) string { return filepath.Join(f.dir, instance+".log") }

// Log returns the last lines an instance logged.
func (f *Fleet) Log(instance string) string {
	b, _ := os.ReadFile(f.LogPath(instance))
	return tail(string(b), 40)
}

// Token mints an operator's token the services accept.
func (f *Fleet) Token() string {
	tok, err := auth.Mint(authtest.Secret, "nemesis", auth.Operator, 24*time.Hour, "", "")
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// Command runs a batch command (such as "ledger-service reconcile") with
// direct connections to every database, and returns its exit status and
// output.
func (f *Fleet) Command(name string, args ...string) (code int, stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(f.bin, name), args...)
	cmd.Env = f.directEnv()
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code, err = exit.ExitCode(), nil
	}
	return code, out.String(), errOut.String(), err
}

// DBServer is one MariaDB server process of the fleet.
type DBServer struct {
	Name string
	dir  string
	port int
}

// DSN is the admin DSN of schema on the server (direct, no proxy).
func (d *DBServer) DSN(schema string) string {
	return fmt.Sprintf("wallet:wallet@tcp(%s)/%s", d.Addr(), schema)
}

// Addr is the server's own address.
func (d *DBServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", d.port) }

// mariadbArgs keep every commit across a SIGKILL of the server: the redo
// log is written to the operating system at each commit
// (flush_log_at_trx_commit=2), which a process crash does not lose; only
// the fsync a power loss would need is left to once a second, since the
// nemesis kills processes, not the machine. Smaller buffers than make
// run's let two servers and their recovery fit the test machine.
const mariadbArgs = "--innodb-flush-log-at-trx-commit=2 --sync-binlog=0 --innodb-buffer-pool-size=256M --innodb-log-file-size=256M"

// Start starts the server (initialising its data directory the first
// time) and waits until it answers, after crash recovery if it was killed.
func (d *DBServer) Start() error {
	// mariadb.sh gives the server a temporary directory of its own
	// (d.dir/tmp): two servers sharing /tmp delete each other's
	// temporary tables.
	cmd := exec.Command(mariadbScript(), "start", d.dir, strconv.Itoa(d.port))
	cmd.Env = append(os.Environ(), "MARIADB_ARGS="+mariadbArgs)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: start: %v\n%s", d.Name, err, out)
	}
	return nil
}

// Kill sends SIGKILL to the server and waits until it is gone.
func (d *DBServer) Kill() error {
	b, err := os.ReadFile(filepath.Join(d.dir, "mariadbd.pid"))
	if err != nil {
		return fmt.Errorf("%s: %v", d.Name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s: pid file: %v", d.Name, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("%s: kill %d: %v", d.Name, pid, err)
	}
	for syscall.Kill(pid, 0) == nil && !zombie(pid) {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// zombie reports whether pid has exited but was not reaped yet (mariadbd
// runs detached under setsid; its parent reaps it eventually).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// Stop shuts the server down cleanly.
func (d *DBServer) Stop() { _ = exec.Command(mariadbScript(), "stop", d.dir).Run() }

func mariadbScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "deploy", "local", "mariadb.sh")
}

// NATSNode is one nats-server process of the fleet's JetStream cluster.
type NATSNode struct {
	Name                   string
	bin, conf, log, pids   string
	port, cluster, monitor int

	mu sync.Mutex
	p  *proc
}

// startNATS writes each node's configuration and starts the cluster. Node
// i dials node j through the link "nats-i>nats-j"; a node advertises no
// route address a peer could reach (127.0.0.1:1), so routes learned by
// gossip cannot bypass the proxies, and a partition cuts every route of a
// node.
func (f *Fleet) startNATS() {
	f.t.Helper()
	const n = 3
	ports := testenv.FreePorts(f.t, 3*n) // client, cluster and monitor port of each node, all distinct
	for i := range n {
		f.NATS = append(f.NATS, &NATSNode{Name: fmt.Sprintf("nats-%d", i), bin: filepath.Join(f.bin, "nats-server"), pids: f.pidFile(),
			port: ports[3*i], cluster: ports[3*i+1], monitor: ports[3*i+2]})
	}
	var urls []string
	for i, node := range f.NATS {
		var routes []string
		for j, peer := range f.NATS {
			if j != i {
				p := f.link(node.Name, peer.Name, fmt.Sprintf("127.0.0.1:%d", peer.cluster))
				routes = append(routes, fmt.Sprintf("%q", "nats-route://"+p.Addr()))
			}
		}
		dir := filepath.Join(f.dir, node.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.t.Fatal(err)
		}
		node.conf, node.log = filepath.Join(dir, "nats.conf"), filepath.Join(f.dir, node.Name+".log")
		conf := fmt.Sprintf(`server_name: %s
host: 127.0.0.1
port: %d
http: "127.0.0.1:%d"
jetstream { store_dir: %q }
cluster {
  name: wallet
  listen: "127.0.0.1:%d"
  advertise: "127.0.0.1:1"
  routes: [%s]
}
`, node.Name, node.port, node.monitor, filepath.Join(dir, "store"), node.cluster, strings.Join(routes, ", "))
		if err := os.WriteFile(node.conf, []byte(conf), 0o644); err != nil {
			f.t.Fatal(err)
		}
		urls = append(urls, node.URL())
	}
	f.natsURLs = strings.Join(urls, ",")
	for _, node := range f.NATS {
		if err := node.Start(); err != nil {
			f.t.Fatal(err)
		}
	}
}

// URL is the node's client URL.
func (n *NATSNode) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start runs the node with its configuration and store and waits until it
// accepts connections.
func (n *NATSNode) Start() error {
	p, err := startProc(n.bin, []string{"-c", n.conf}, os.Environ(), n.log)
	if err != nil {
		return err
	}
	recordPid(n.pids, p.cmd.Process.Pid)
	n.mu.Lock()
	n.p = p
	n.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/varz", n.monitor))
		if err == nil {
			res.Body.Close()
			return nil
		}
		if p.exited() || time.Now().After(deadline) {
			b, _ := os.ReadFile(n.log)
			return fmt.Errorf("%s did not start: %v\n%s", n.Name, err, tail(string(b), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill sends SIGKILL to the node and waits for it to die.
func (n *NATSNode) Kill() {
	n.mu.Lock()
	p := n.p
	n.p = nil
	n.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Routes is how many route connections the node has now (from its
// monitoring endpoint), -1 if it does not answer.
func (n *NATSNode) Routes() int {
	peers, err := n.Peers()
	if err != nil {
		return -1
	}
	return len(peers)
}

// Peers names the nodes n has a route to now, from its monitoring
// endpoint, one name per route connection.
func (n *NATSNode) Peers() ([]string, error) {
	client := &http.Client{Timeout: time.Second}
	res, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/routez", n.monitor))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var v struct {
		Routes []struct {
			RemoteName string `json:"remote_name"`
		} `json:"routes"`
	}
	if err := decodeJSON(res.Body, &v); err != nil {
		return nil, err
	}
	var names []string
	for _, r := range v.Routes {
		names = append(names, r.RemoteName)
	}
	return names, nil
}

// Meshed says why the cluster is not a full mesh again ("" when it is):
// every node has a route to each other node.
func (f *Fleet) Meshed() string {
	for _, n := range f.NATS {
		peers, err := n.Peers()
		if err != nil {
			return fmt.Sprintf("%s: %v", n.Name, err)
		}
		for _, m := range f.NATS {
			if m != n && !slices.Contains(peers, m.Name) {
				return fmt.Sprintf("%s has no route to %s (routes to %v)", n.Name, m.Name, peers)
			}
		}
	}
	return ""
}

// routeSummary counts each node's route connections by peer, for a report.
func (f *Fleet) routeSummary() string {
	var parts []string
	for _, n := range f.NATS {
		peers, err := n.Peers()
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		by := map[string]int{}
		for _, p := range peers {
			by[p]++
		}
		parts = append(parts, fmt.Sprintf("%s: %s", n.Name, counts(by)))
	}
	return strings.Join(parts, "; ")
}

// routeLinks are the links of node's routes, either way.
func (f *Fleet) routeLinks(node int) []*testenv.Proxy {
	var out []*testenv.Proxy
	for name, p := range f.Links {
		from, to, _ := strings.Cut(name, ">")
		if strings.HasPrefix(from, "nats-") && strings.HasPrefix(to, "nats-") &&
			(from == f.NATS[node].Name || to == f.NATS[node].Name) {
			out = append(out, p)
		}
	}
	return out
}

// LinkNames lists the links, sorted, for the nemesis to pick from.
func (f *Fleet) LinkNames() []string {
	var names []string
	for name := range f.Links {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errorSummary counts the lines each instance logged at level ERROR and
// shows a few distinct ones, for the report: an answer 500 a client
// retried is otherwise only a count.
func (f *Fleet) errorSummary() string {
	var b strings.Builder
	for _, name := range f.Services() {
		raw, _ := os.ReadFile(f.LogPath(name))
		n, seen := 0, map[string]bool{}
		var samples []string
		for _, line := range strings.Split(string(raw), "\n") {
			var e struct {
				Level, Msg, Err string
			}
			if json.Unmarshal([]byte(line), &e) != nil || e.Level != "ERROR" {
				continue
			}
			n++
			s := e.Msg + ": " + e.Err
			if len(s) > 240 {
				s = s[:240] + "…"
			}
			if !seen[s] && len(samples) < 3 {
				seen[s] = true
				samples = append(samples, s)
			}
		}
		if n > 0 {
			fmt.Fprintf(&b, "  %s: %d errors logged, e.g.\n", name, n)
			for _, s := range samples {
				fmt.Fprintf(&b, "    - %s\n", s)
			}
		}
	}
	if b.Len() == 0 {
		return "errors logged: none\n"
	}
	return "errors logged:\n" + b.String()
}
