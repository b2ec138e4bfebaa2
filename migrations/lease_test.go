package migrations_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/migrations"
)

// A runner renews its lease while it works, so a migration longer than
// the lease keeps it: another runner waits instead of running alongside.
// When the lease is taken from it anyway, its work stops with that reason.
func TestLeaseIsRenewedWhileMigrating(t *testing.T) {
	ctx := context.Background()
	pool := ledgertest.Fresh(t)
	t.Cleanup(migrations.ShortenLease(600*time.Millisecond, 150*time.Millisecond, 300*time.Millisecond))
	leaseDuration := 600 * time.Millisecond

	if err := migrations.AcquireLease(ctx, pool, "first"); err != nil {
		t.Fatal(err)
	}
	kctx, stop := migrations.KeepLease(ctx, pool, "first")
	time.Sleep(3 * leaseDuration) // three lease lengths: held only by renewal
	if err := migrations.AcquireLease(ctx, pool, "second"); err == nil {
		t.Fatal("a second runner took a lease that was being renewed")
	}
	if kctx.Err() != nil {
		t.Fatalf("keeper stopped: %v", context.Cause(kctx))
	}
	stop()
	if _, err := pool.Exec(ctx, `DELETE FROM schema_migration_lease`); err != nil { // released
		t.Fatal(err)
	}

	// Stolen (an operator cleared it, or it expired during a stall): the
	// keeper's next renewal finds it gone and cancels with the reason.
	if err := migrations.AcquireLease(ctx, pool, "first"); err != nil {
		t.Fatal(err)
	}
	kctx, stop = migrations.KeepLease(ctx, pool, "first")
	defer stop()
	if _, err := pool.Exec(ctx, `UPDATE schema_migration_lease SET holder = 'thief' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kctx.Done():
		if c := context.Cause(kctx); c == nil || !strings.Contains(c.Error(), "lost") {
			t.Fatalf("cause %v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the keeper did not notice the lost lease")
	}
}
