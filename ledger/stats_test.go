package ledger_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// Stats count what committed: a write that failed after applying and
// emitting counts nothing, a replay counts nothing, and transactions
// retried under contention count once each.
func TestStatsCountCommitsOnly(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{})
	accts := fund(t, l, "100.00", "org-a", "org-b")
	st := l.Stats()
	tx0, ev0 := st.Transactions.Load(), st.EventCommitted("test.transferred")

	type out struct{ ID uuid.UUID }
	transfer := func(k, amount string) error {
		_, _, err := ledger.Run(ctx, l, ledger.KeyOf(province, k), "test.transfer", amount, func(w *ledger.Writer) (out, error) {
			tx, err := w.Build(province, ledger.TxInput{Kind: "transfer", Postings: legs(accts[0], "-"+amount, accts[1], amount)})
			if err != nil {
				return out{}, err
			}
			if err := w.Apply(tx); err != nil {
				return out{}, err
			}
			if err := w.Emit("test.transferred", "transaction:"+tx.ID.String(), nil, nil); err != nil {
				return out{}, err
			}
			if amount == "3.00" {
				return out{}, ledger.Errf(ledger.CodeInvalidRequest, "refused after applying and emitting")
			}
			return out{tx.ID}, nil
		})
		return err
	}
	if err := transfer("s-1", "1.00"); err != nil {
		t.Fatal(err)
	}
	if err := transfer("s-1", "1.00"); err != nil { // replay
		t.Fatal(err)
	}
	if err := transfer("s-2", "3.00"); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("failing write: %v", err)
	}
	if got := st.Transactions.Load() - tx0; got != 1 {
		t.Errorf("transactions counted %d, want 1 (one commit; a replay and a rolled-back write count nothing)", got)
	}
	if got := st.EventCommitted("test.transferred") - ev0; got != 1 {
		t.Errorf("events counted %d, want 1", got)
	}

	// Concurrent writers on the same two accounts: whatever retries they
	// need, each committed transfer is counted once.
	tx1, p1 := st.Transactions.Load(), st.Postings.Load()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := transfer("c-"+uuid.NewString(), "0.50"); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if got := st.Transactions.Load() - tx1; got != 8 {
		t.Errorf("transactions counted %d, want 8", got)
	}
	if got := st.Postings.Load() - p1; got != 16 {
		t.Errorf("postings counted %d, want 16", got)
	}
	var sum int64
	for _, n := range st.RetriesByReason() {
		sum += n
	}
	if sum != st.Retries.Load() {
		t.Errorf("retries by reason sum to %d, total %d", sum, st.Retries.Load())
	}
}

// The void-expired-pending job's lag: zero while no hold is past its
// timeout, the age of the oldest overdue one after, and zero again once
// the job has voided it (the metric carbonledger_job_lag_seconds reads it).
func TestOverdueHoldsRiseAndClear(t *testing.T) {
	clk := ledgertest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	l := ledgertest.Ledger(t, ledgertest.Fresh(t), ledger.Options{Now: clk.Now})
	ids := fund(t, l, "10.00", ledgertest.ID("lag-a"), ledgertest.ID("lag-b"))
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[0], "-5", ids[1], "5"), Pending: true, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	lag := func() time.Duration {
		t.Helper()
		d, err := l.OverdueHolds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := lag(); d != 0 {
		t.Fatalf("lag before the timeout = %v, want 0", d)
	}
	clk.Advance(3 * time.Minute)
	if d := lag(); d != 2*time.Minute {
		t.Fatalf("lag 3 min after a 1 min hold = %v, want 2m", d)
	}
	if n, err := l.VoidExpired(ctx, 100); err != nil || n != 1 {
		t.Fatalf("voided %d (%v), want 1", n, err)
	}
	if d := lag(); d != 0 {
		t.Fatalf("lag after the job = %v, want 0", d)
	}
}
