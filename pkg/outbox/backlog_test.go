package outbox_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walletco/wallet/pkg/outbox"
	"github.com/walletco/wallet/pkg/testenv"
)

// The backlog collector reports the unpublished rows of each shard and the
// age of the oldest, and 0 and 0 once the relay published them.
func TestBacklogReportsUnpublishedRows(t *testing.T) {
	f := mustFixture(t)
	f.append(t, 3)
	if _, err := f.db.Exec("UPDATE outbox SET occurred_at = NOW(6) - INTERVAL 90 SECOND"); err != nil {
		t.Fatal(err)
	}
	b := outbox.NewBacklog(outbox.EachOwnServer(f.db))
	if err := testutil.CollectAndCompare(b, strings.NewReader(`
# HELP wallet_outbox_pending_rows Outbox rows waiting to be published (not set aside), per shard (read when scraped).
# TYPE wallet_outbox_pending_rows gauge
wallet_outbox_pending_rows{shard="0"} 3
`), "wallet_outbox_pending_rows"); err != nil {
		t.Error(err)
	}
	if age := testenv.Gauge(t, b, "wallet_outbox_oldest_pending_seconds"); age < 89 || age > 3600 {
		t.Errorf("oldest pending %v s, want about 90", age)
	}
	if _, err := f.db.Exec("UPDATE outbox SET published_at = NOW(6)"); err != nil {
		t.Fatal(err)
	}
	if n, age := testenv.Gauge(t, b, "wallet_outbox_pending_rows"), testenv.Gauge(t, b, "wallet_outbox_oldest_pending_seconds"); n != 0 || age != 0 {
		t.Errorf("after publishing: %v rows, oldest %v s", n, age)
	}
}
