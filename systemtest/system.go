package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/auth/authtest"
	"github.com/walletco/wallet/pkg/testenv"
)

// Binaries are the service commands the system is made of.
var Binaries = []string{"account-service", "outbox-relay", "ledger-service"}

// Build compiles the services into dir with the tests' fault hooks
// (testdata/hooks) and the named injected bugs (testdata/bugs/<bug>.patch,
// for the nemesis test) patched in, and nats-server from its pinned module
// for tests that run brokers as processes. Call it once, from TestMain, or
// once per bug. base, unless empty, is the directory of an earlier Build
// without bugs: nats-server and the services the bugs cannot change are
// linked from there rather than built again.
func Build(dir, base string, bugs ...string) error {
	root := repoRoot()
	ps := patches(root, bugs...)
	ov, err := overlay(root, filepath.Join(dir, "src"), ps...)
	if err != nil {
		return err
	}
	var pkgs, reuse []string
	for _, b := range Binaries {
		if base != "" && !patchesBinary(b, ps[len(ps)-len(bugs):]) {
			reuse = append(reuse, b)
			continue
		}
		pkgs = append(pkgs, "./"+b+"/cmd/"+b)
	}
	if base != "" {
		reuse = append(reuse, "nats-server")
	}
	for _, b := range reuse {
		if err := linkOrCopy(filepath.Join(base, b), filepath.Join(dir, b)); err != nil {
			return err
		}
	}
	// One go build for all of them: the packages are loaded once and the
	// binaries linked in parallel.
	if len(pkgs) > 0 {
		cmd := exec.Command("go", append([]string{"build", "-overlay", ov, "-o", dir + string(filepath.Separator)}, pkgs...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
		}
	}
	if base == "" {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nats-server"), "github.com/nats-io/nats-server/v2")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build nats-server: %v\n%s", err, out)
		}
	}
	return nil
}

// patchesBinary reports whether any of patches may change service b: one
// that touches b's internal packages, or any file outside every service's
// internal packages (pkg/, for one, is in every binary). Internal packages
// cannot be imported from another service's module.
func patchesBinary(b string, patches []string) bool {
	for _, p := range patches {
		paths, err := patchedPaths(p)
		if err != nil {
			return true // overlay reported it already; build to be safe
		}
		for _, f := range paths {
			internal := false
			for _, other := range Binaries {
				if strings.HasPrefix(f, other+"/internal/") {
					internal = true
					if other == b {
						return true
					}
				}
			}
			if !internal {
				return true
			}
		}
	}
	return false
}

// linkOrCopy makes dst the file src: a hard link, or a copy where links
// cannot go.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// System is one running wallet: shared databases and broker, and the
// service processes, which tests start, kill and restart.
type System struct {
	t        testing.TB
	bin      string
	logs     string
	env      []string
	procs    map[string]*proc
	addrs    map[string]string
	NATS     *server.Server   // the broker, unless Cluster
	Cluster  *testenv.Cluster // the brokers of NewCluster
	natsURL  string           // every broker's client URL, comma separated
	natsDir  string
	natsPort int // of the server StopNATS stopped
	// DB is the proxy every service reaches MariaDB through, with
	// NewBehindProxy (nil with New): tests cut it to take the database
	// away. Shards and Ledger connect directly.
	DB        *testenv.Proxy
	Shards    []*sqlx.DB
	Ledger    *sqlx.DB
	shardDSN  []string
	ledgerDSN string
}

// New prepares 4 shard schemas, a ledger schema and a JetStream server; no
// service runs yet.
func New(t testing.TB, bin string) *System {
	t.Helper()
	return newSystem(t, bin, false)
}

// NewBehindProxy is New with the services' database connections going
// through System.DB, a proxy the test can cut.
func NewBehindProxy(t testing.TB, bin string) *System {
	t.Helper()
	return newSystem(t, bin, true)
}

// NewCluster is New with a JetStream cluster of n nodes for a broker and
// the WALLET stream at n replicas.
func NewCluster(t testing.TB, bin string, n int) *System {
	t.Helper()
	c := testenv.NATSCluster(t, n)
	s := build(t, bin, c.URLs(), false, fmt.Sprintf("WALLET_NATS_REPLICAS=%d", n))
	s.Cluster = c
	return s
}

// newSystem runs one JetStream server, which StopNATS and StartNATS can
// take away and bring back.
func newSystem(t testing.TB, bin string, proxied bool) *System {
	t.Helper()
	dir := t.TempDir()
	// A reserved port, since StartNATS binds it again after StopNATS.
	n := testenv.StartNATS(t, dir, testenv.FreePorts(t, 1)[0])
	s := build(t, bin, n.ClientURL(), proxied)
	s.NATS, s.natsDir = n, dir
	return s
}

// build prepares the databases and the services' environment for brokers
// at natsURL; with proxied the services reach MariaDB through System.DB.
func build(t testing.TB, bin, natsURL string, proxied bool, env ...string) *System {
	t.Helper()
	dsns := testenv.Databases(t, 5)
	s := &System{t: t, bin: bin, logs: t.TempDir(), procs: map[string]*proc{}, addrs: map[string]string{},
		natsURL: natsURL, shardDSN: dsns[:4], ledgerDSN: dsns[4]}
	for _, dsn := range dsns[:4] {
		s.Shards = append(s.Shards, testenv.MustOpen(t, dsn))
	}
	s.Ledger = testenv.MustOpen(t, dsns[4])
	served := dsns
	if proxied {
		cfg, err := mysql.ParseDSN(dsns[0])
		if err != nil {
			t.Fatal(err)
		}
		s.DB = testenv.StartProxy(t, cfg.Addr)
		served = nil
		for _, dsn := range dsns {
			served = append(served, s.DB.DSN(dsn))
		}
	}
	s.env = append(os.Environ(),
		"WALLET_SHARDS="+strings.Join(served[:4], ","),
		// One event partition, so one ledger schema, until the harness
		// makes a schema per partition (ADR 0038).
		"WALLET_LEDGER_DATABASES="+served[4],
		"WALLET_NATS_PARTITIONS=1",
		"WALLET_NATS_URL="+natsURL,
		"WALLET_LOG_LEVEL=info",
		// The harness calls the APIs as an operator (System.Do, Authorize).
		"WALLET_AUTH_JWT_SECRET="+authtest.Secret,
		// No WALLET_RELAY_POLL_INTERVAL: account-service wakes the relay
		// at each commit, and a 10 ms poll of every idle shard cost each
		// System a tenth of a core (relay and MariaDB) for nothing.
		// A killed relay's lease lapses quickly, so its successor takes over.
		"WALLET_RELAY_LEASE_TTL=1s",
		// Tests that want a transfer's final answer get it on a loaded
		// machine too, where a saga can take longer than the default 2 s.
		"WALLET_ACCOUNT_TRANSFER_WAIT=30s",
	)
	s.env = append(s.env, env...)
	for i, port := range testenv.FreePorts(t, len(Binaries)) {
		s.addrs[Binaries[i]] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	// reconcile reads the shards through account-service's read side.
	s.env = append(s.env, "WALLET_LEDGER_ACCOUNT_SERVICE_URL="+s.URL("account-service"))
	t.Cleanup(s.stopAll)
	return s
}

var addrKey = map[string]string{
	"account-service": "WALLET_ACCOUNT_ADDR",
	"ledger-service":  "WALLET_LEDGER_ADDR",
	"outbox-relay":    "WALLET_RELAY_ADDR",
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start runs a service with extra environment and waits until /readyz is 200.
// outbox-relay provision runs first, with the same environment: the
// services only verify the streams and buckets (ADR 0040).
func (s *System) Start(name string, env ...string) {
	s.t.Helper()
	if code, out, errOut := s.Command(env, "outbox-relay", "provision"); code != 0 {
		s.t.Fatalf("outbox-relay provision: exit %d\n%s%s", code, out, errOut)
	}
	p, err := startProc(filepath.Join(s.bin, name), nil,
		append(append(append([]string{}, s.env...), addrKey[name]+"="+s.addrs[name]), env...),
		filepath.Join(s.logs, name+".log"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.procs[name] = p
	if err := waitReady(s.URL(name), p, 60*time.Second); err != nil {
		s.t.Fatalf("%s: %v\n%s", name, err, s.Log(name))
	}
}

// startProc runs bin with args and env, its output appended to logPath.
func startProc(bin string, args, env []string, logPath string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// Command runs a batch command of a service binary (such as
// "ledger-service reconcile --json") with the system's configuration and
// extra environment, and returns its exit status, stdout and stderr.
func (s *System) Command(env []string, name string, args ...string) (code int, stdout, stderr string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Env = append(append([]string{}, s.env...), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		s.t.Fatalf("%s %v: %v", name, args, err)
	}
	return code, out.String(), errOut.String()
}

// StopNATS shuts the JetStream server down; StartNATS starts it again on
// the same port with the same store, as after a broker restart.
func (s *System) StopNATS() {
	s.natsPort = s.NATS.Addr().(*net.TCPAddr).Port
	s.NATS.Shutdown()
	s.NATS.WaitForShutdown()
}

// StartNATS restarts the server StopNATS stopped.
func (s *System) StartNATS() {
	s.t.Helper()
	s.NATS = testenv.StartNATS(s.t, s.natsDir, s.natsPort)
}

// StartAll starts every service, in Binaries order, with extra environment.
func (s *System) StartAll(env ...string) {
	s.t.Helper()
	for _, b := range Binaries {
		s.Start(b, env...)
	}
}

// Kill sends SIGKILL to a service and waits for it to die.
func (s *System) Kill(name string) { s.signal(name, syscall.SIGKILL) }

// Stop sends SIGTERM (graceful shutdown) and waits for the exit.
func (s *System) Stop(name string) { s.signal(name, syscall.SIGTERM) }

func (s *System) signal(name string, sig syscall.Signal) {
	s.t.Helper()
	p := s.procs[name]
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	delete(s.procs, name)
}

func (s *System) stopAll() {
	for name := range s.procs {
		s.Stop(name)
	}
	if s.t.Failed() {
		for _, b := range Binaries {
			s.t.Logf("--- %s log (tail) ---\n%s", b, s.Log(b))
		}
	}
}

// Log returns the last lines a service logged.
func (s *System) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.logs, name+".log"))
	return tail(string(b), 30)
}

// URL returns the base URL of a service.
func (s *System) URL(name string) string { return "http://" + s.addrs[name] }

// Authorize makes req an operator's: it carries a bearer token signed
// with the secret the services were given.
func (s *System) Authorize(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+s.Token(auth.Operator, "systemtest"))
}

// Token mints a token the services accept.
func (s *System) Token(role auth.Role, subject string) string {
	tok, err := auth.Mint(authtest.Secret, subject, role, time.Hour, "", "")
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// Do sends a JSON request to a service as an operator and decodes the
// JSON answer.
func (s *System) Do(method, url string, body any) (int, map[string]any) {
	s.t.Helper()
	return s.DoAs(s.Token(auth.Operator, "systemtest"), method, url, body)
}

// DoAs is Do with token as the bearer token ("": none).
func (s *System) DoAs(token, method, url string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}
