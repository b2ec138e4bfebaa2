package ledger_test

import (
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// Keys are kept for the retention and no longer: within it a replay is a
// replay, the sweep leaves young keys alone, and once a key is older the
// sweep deletes it and the same key and body is a new request (the
// documented behaviour past retention).
func TestIdempotencyKeysExpireAfterTheRetention(t *testing.T) {
	clk := ledgertest.NewClock(time.Now())
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{Now: clk.Now, IdempotencyRetention: time.Hour})
	if err := l.EnsureAccounts(ctx, "external:CNY", "org:RET:CNY"); err != nil {
		t.Fatal(err)
	}
	in := ledger.TxInput{Kind: "transfer", Postings: legs("external:CNY", "-1", "org:RET:CNY", "1")}
	k := key()
	first, replayed, err := l.Post(ctx, province, k, in)
	if err != nil || replayed {
		t.Fatalf("first: %v %v", replayed, err)
	}
	if n, err := l.PruneIdempotencyKeys(ctx, 100); err != nil || n != 0 {
		t.Fatalf("sweep of young keys: %d %v", n, err)
	}
	again, replayed, err := l.Post(ctx, province, k, in)
	if err != nil || !replayed || again.ID != first.ID {
		t.Fatalf("replay within the retention: %v %v", replayed, err)
	}

	clk.Advance(2 * time.Hour)
	if n, err := l.PruneIdempotencyKeys(ctx, 100); err != nil || n != 1 {
		t.Fatalf("sweep past the retention: %d %v", n, err)
	}
	later, replayed, err := l.Post(ctx, province, k, in)
	if err != nil || replayed || later.ID == first.ID {
		t.Fatalf("the key past retention is a new request: %v %v", replayed, err)
	}
	if rep, err := l.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
