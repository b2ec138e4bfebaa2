package ledgertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// TestNamesAreUniquePerRun: two runs of one test binary get different
// shared databases, so concurrent runs on one server cannot drop each
// other's (the old fixed name cltest_shared_<pkg> was force-dropped by the
// next run).
func TestNamesAreUniquePerRun(t *testing.T) {
	a, b := sharedName(), sharedName()
	if a == b || !testDBName.MatchString(a) || !strings.HasPrefix(a, "cltest_shared_") {
		t.Fatalf("shared names %q, %q", a, b)
	}
	if f := uniqueName("fresh"); !testDBName.MatchString(f) {
		t.Fatalf("fresh name %q", f)
	}
}

// TestSweepDropsOnlyStale: the sweep drops a test database whose name is
// older than staleAfter and keeps a current one and any other database.
func TestSweepDropsOnlyStale(t *testing.T) {
	skipShort(t)
	ctx := context.Background()
	pool, err := ledger.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	old := fmt.Sprintf("cltest_sweep_%d_%s", time.Now().Add(-staleAfter-time.Hour).Unix(), "0123456789")
	cur := uniqueName("sweep")
	other := "cltestx_" + strings.TrimPrefix(cur, "cltest_")
	for _, n := range []string{old, cur, other} {
		if _, err := pool.Exec(ctx, "CREATE DATABASE "+n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)") })
	}
	sweepStale(ctx, pool)
	for n, want := range map[string]bool{old: false, cur: true, other: true} {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, n).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("database %s exists=%v after the sweep, want %v", n, exists, want)
		}
	}
}
