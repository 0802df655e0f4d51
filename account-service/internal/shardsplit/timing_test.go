package shardsplit_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/walletco/wallet/account-service/internal/account"
	"github.com/walletco/wallet/account-service/internal/accounttest"
	"github.com/walletco/wallet/account-service/internal/mysql"
	"github.com/walletco/wallet/pkg/deadletter"
)

// timings runs only when WALLET_SPLIT_TIMINGS is set: it measures, on the
// test server, the upgrade's two costs the operations guide quotes.
func timings(t *testing.T) {
	if os.Getenv("WALLET_SPLIT_TIMINGS") == "" {
		t.Skip("set WALLET_SPLIT_TIMINGS=1 to measure the split")
	}
}

// parallelDo runs fn(0…n-1) on workers goroutines.
func parallelDo(n, workers int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// A 4-shard deployment with 10,000 accounts, a deposit each and 20,000
// transfers (three in four cross-shard, left pending with their debits in
// the outbox) splits into 256.
func TestSplitTiming(t *testing.T) {
	timings(t)
	ctx := context.Background()
	s := newStack(t, 4, 256)
	const accounts, transfers = 10000, 20000
	start := time.Now()
	ids := make([]string, accounts)
	parallelDo(accounts, 32, func(i int) {
		ids[i] = fmt.Sprintf("acc-%05d", i)
		if _, _, err := s.store.Open(ctx, account.OpenRequest{AccountID: ids[i], OwnerID: "o", Currency: "USD"}); err != nil {
			t.Error(err)
			return
		}
		if _, err := s.writer.Move(ctx, account.MovementRequest{Kind: account.Deposit, AccountID: ids[i], TransactionID: uuid.NewString(),
			Amount: accounttest.USD(t, "100.00")}); err != nil {
			t.Error(err)
		}
	})
	parallelDo(transfers, 64, func(i int) {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		from, to := ids[rng.IntN(accounts)], ids[rng.IntN(accounts)]
		if from == to {
			return
		}
		_, _ = s.writer.Transfer(ctx, account.TransferRequest{TransactionID: uuid.NewString(), From: from, To: to,
			Amount: accounttest.USD(t, decimal.New(int64(1+rng.IntN(500)), -2).StringFixed(2))})
	})
	t.Logf("workload written in %s", time.Since(start).Round(time.Millisecond))

	var out bytes.Buffer
	sp := s.splitter(&out)
	sp.Batch, sp.Parallel = 0, 0 // the command's defaults
	start = time.Now()
	if _, err := sp.Run(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("split 4 shards with %d accounts into 256 in %s:\n%s", accounts, time.Since(start).Round(time.Millisecond), out.String())
}

// Making and migrating 256 empty schemas, 8 at a time (the split's
// default) and one at a time.
func TestMakeSchemasTiming(t *testing.T) {
	timings(t)
	ctx := context.Background()
	for _, workers := range []int{8, 1} {
		s := newStack(t, 1, 257) // schema 0 only to reuse the fixture; 1…256 are made here
		schemas := s.layout.Schemas[1:]
		servers := []mysql.Server{{Name: "db1", DB: s.db}}
		store, err := mysql.NewPlaced(servers, schemas, make([]int, len(schemas)))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		parallelDo(len(schemas), workers, func(j int) {
			if _, err := s.db.ExecContext(ctx, "CREATE DATABASE `"+schemas[j]+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
				t.Error(err)
				return
			}
			if err := store.MigrateShard(ctx, j, deadletter.Migrations()); err != nil {
				t.Error(err)
			}
		})
		t.Logf("made and migrated %d schemas, %d at a time, in %s", len(schemas), workers, time.Since(start).Round(time.Millisecond))
		var n int
		if err := s.db.Get(&n, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE ?", schemas[0][:len(schemas[0])-1]+"%"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d tables", n)
	}
}
