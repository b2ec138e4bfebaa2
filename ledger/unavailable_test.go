package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// An exhausted pool is unavailable, for reads and writes, and a write
// refused so says that nothing was committed.
func TestExhaustedPoolIsUnavailable(t *testing.T) {
	pool, err := ledger.Connect(ctx, ledgertest.FreshURL(t)+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := l.GetAccount(short, "external:CNY"); ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("read on an exhausted pool: %v, want unavailable", err)
	}
	short2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	_, _, _, err = l.OpenAccount(short2, province, key(), "org:pool-x:CNY", nil)
	if ledger.ErrorCode(err) != ledger.CodeUnavailable || ledger.WriteOutcome(err) != ledger.OutcomeNotCommitted {
		t.Fatalf("write on an exhausted pool: %v (outcome %q), want unavailable, not_committed", err, ledger.WriteOutcome(err))
	}
	held.Release()
	if _, _, _, err := l.OpenAccount(ctx, province, key(), "org:pool-x:CNY", nil); err != nil {
		t.Fatalf("write once a connection is free: %v", err)
	}
}
