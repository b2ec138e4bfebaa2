package ledger_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// An exhausted pool is unavailable, for reads and writes, and a write
// refused so says that nothing was committed.
func TestExhaustedPoolIsUnavailable(t *testing.T) {
	u, err := url.Parse(ledgertest.FreshURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1") // whether or not the URL had a query
	u.RawQuery = q.Encode()
	pool, err := ledger.Connect(ctx, u.String())
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

// A write on a server that does not take writes (a standby, or a primary
// fenced with default_transaction_read_only during a failover) is
// unavailable and not committed, not an internal error: the client's retry
// reaches the new primary.
func TestReadOnlyServerIsUnavailable(t *testing.T) {
	u := ledgertest.FreshURL(t)
	pool, err := ledger.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l := ledgertest.Ledger(t, pool, ledger.Options{NoCoalesce: true})
	// Fence the database; connections made from now on are read-only.
	name := u[strings.LastIndex(u, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	if _, err := pool.Exec(ctx, "ALTER DATABASE "+name+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	if _, err := l.GetAccount(ctx, "external:CNY"); err != nil && ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("read on a read-only server: %v", err)
	}
	_, _, _, err = l.OpenAccount(ctx, province, key(), "org:ro-x:CNY", nil)
	if ledger.ErrorCode(err) != ledger.CodeUnavailable || ledger.WriteOutcome(err) != ledger.OutcomeNotCommitted {
		t.Fatalf("write on a read-only server: %v (outcome %q), want unavailable, not_committed", err, ledger.WriteOutcome(err))
	}
}
