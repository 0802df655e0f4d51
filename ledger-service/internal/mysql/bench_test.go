package mysql_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/walletco/wallet/ledger-service/internal/ledgertest"
)

// Events per second of the mixed history, applied one per transaction and
// in batches of 500 (the consumer's MaxBatch). Run with
//
//	go test -run '^$' -bench Apply -benchtime 20000x ./ledger-service/internal/mysql/
func BenchmarkApply(b *testing.B) {
	evts := history(b.N + 24)
	s, _ := ledgertest.MustStore(b)
	effs := effects(b, evts)
	start := time.Now()
	b.ResetTimer()
	for _, eff := range effs {
		if _, err := s.Apply(context.Background(), eff); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(effs))/time.Since(start).Seconds(), "events/s")
}

func BenchmarkApplyBatch(b *testing.B) {
	evts := history(b.N + 24)
	s, _ := ledgertest.MustStore(b)
	effs := effects(b, evts)
	start := time.Now()
	b.ResetTimer()
	for part := range slices.Chunk(effs, 500) {
		for _, o := range s.ApplyBatch(context.Background(), part) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
	b.ReportMetric(float64(len(effs))/time.Since(start).Seconds(), "events/s")
}
