package systemtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkTransfers measures POST /v1/wallet/balance_transfer through the
// real processes on this machine: 64 concurrent clients over 32 funded
// accounts per shard. Cross-shard requests use Prefer: respond-async, so they
// measure the debit step; the saga completes in the background.
func BenchmarkTransfers(b *testing.B) {
	for _, cross := range []bool{false, true} {
		name := "same-shard"
		if cross {
			name = "cross-shard"
		}
		b.Run(name, func(b *testing.B) {
			s := New(b, binDir)
			for _, bin := range Binaries {
				s.Start(bin, "WALLET_LOG_LEVEL=warn")
			}
			var ids [4][]string
			for sh := range 4 {
				for range 32 {
					id := idOn(sh)
					s.mustOpen(id, "USD")
					s.mustMove("deposits", id, "1000000.00", "USD")
					ids[sh] = append(ids[sh], id)
				}
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
			var n, failed atomic.Int64
			b.SetParallelism(32) // 64 clients on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := n.Add(1)
					sh, to := int(k%4), int(k%4)
					if cross {
						to = (sh + 1) % 4
					}
					// Accounts spread so that concurrent transfers rarely share one.
					from, dest := int(k*7919%32), int(k*104729%32)
					if sh == to && from == dest {
						dest = (dest + 1) % 32
					}
					body, _ := json.Marshal(map[string]string{"from_account": ids[sh][from], "to_account": ids[to][dest],
						"amount": "1.00", "currency": "USD", "transaction_id": uuid.NewString()})
					req, _ := http.NewRequest("POST", s.URL("account-service")+"/v1/wallet/balance_transfer", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Prefer", "respond-async")
					res, err := client.Do(req)
					if err != nil || (res.StatusCode != 200 && res.StatusCode != 202) {
						failed.Add(1)
					}
					if err == nil {
						res.Body.Close()
					}
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "transfers/s")
			if failed.Load() > 0 {
				b.Fatal(fmt.Sprintf("%d of %d transfers failed", failed.Load(), n.Load()))
			}
		})
	}
}
