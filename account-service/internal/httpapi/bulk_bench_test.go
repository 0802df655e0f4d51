package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/groupcommit"
	"github.com/walletco/wallet/account-service/internal/httpapi"
	"github.com/walletco/wallet/pkg/auth/authtest"
)

// benchServer is the real handler over fresh shards with perShard funded
// accounts on each shard, for benchmarks.
func benchServer(b *testing.B, perShard int) (url, token string, ids [][]string) {
	b.Helper()
	f := accounttest.MustStore(b, groupcommit.Config{})
	h, err := httpapi.New(f.Store, f.Writer, noWaiter{}, httpapi.Options{Guard: authtest.Guard(b, httpapi.Policy(), 0)},
		slog.New(slog.DiscardHandler), f.Store.Ping)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	ids = make([][]string, accounttest.Shards)
	for sh := range ids {
		for range perShard {
			id := accounttest.IDOn(sh)
			f.MustOpen(id, "1000000.00")
			ids[sh] = append(ids[sh], id)
		}
	}
	return srv.URL, authtest.Operator(b), ids
}

// benchItems returns n transfers of 0.01 among ids, one in ten across
// shards.
func benchItems(ids [][]string, n, seed int) []string {
	out := make([]string, n)
	for i := range out {
		k := seed*n + i
		sh := k % len(ids)
		from, to := ids[sh][k%len(ids[sh])], ids[sh][(k+1)%len(ids[sh])]
		if k%10 == 0 {
			to = ids[(sh+1)%len(ids)][k%len(ids[sh])]
		}
		out[i] = item(from, to, "0.01", "USD", uuid.NewString())
	}
	return out
}

func benchPost(b *testing.B, url, token, path, body string) {
	req, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted || bytes.Contains(raw, []byte(`"error"`)) {
		b.Errorf("%s: %d %.300s", path, res.StatusCode, raw)
	}
}

// BenchmarkBulkTransfer sends bulks of 100 transfers from 8 clients; the
// figure to read is transfers/s. On the test MariaDB (not durable) it shows
// what the service spends per transfer, not the durable throughput.
func BenchmarkBulkTransfer(b *testing.B) {
	url, token, ids := benchServer(b, 50)
	b.SetParallelism(4) // 4 × GOMAXPROCS clients
	var seed atomic.Int64
	cpu := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := int(seed.Add(1))
			benchPost(b, url, token, "/v1/wallet/transfers", `{"transfers":[`+strings.Join(benchItems(ids, 100, s), ",")+`]}`)
		}
	})
	reportPerTransfer(b, cpu, b.N*100)
}

// BenchmarkSingleTransfer is the same load, one transfer per request (no
// request waits for a saga: TransferWait is zero here).
func BenchmarkSingleTransfer(b *testing.B) {
	url, token, ids := benchServer(b, 50)
	b.SetParallelism(32)
	var seed atomic.Int64
	cpu := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := int(seed.Add(1))
			benchPost(b, url, token, "/v1/wallet/balance_transfer", benchItems(ids, 1, s)[0])
		}
	})
	reportPerTransfer(b, cpu, b.N)
}

// cpuTime is the CPU time this process has used so far (the server and
// the benchmark's clients, which build the bodies).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportPerTransfer(b *testing.B, cpuBefore time.Duration, transfers int) {
	b.ReportMetric(float64(transfers)/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(float64((cpuTime(b)-cpuBefore).Microseconds())/float64(transfers), "cpu-µs/transfer")
}
