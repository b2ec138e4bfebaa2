package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// Benchmarks report transfers/s; compare them with BenchmarkBaselineInsert
// from the same run (a plain multi-row INSERT of the same number of rows
// per commit), since machines are noisy.

const benchAccounts = 2000

func benchLedger(b *testing.B, opts ledger.Options) (*ledger.Ledger, []string) {
	b.Helper()
	pool := ledgertest.Fresh(b)
	l := ledgertest.Ledger(b, pool, opts)
	ids := make([]string, benchAccounts)
	for i := range ids {
		ids[i] = ledger.OrgMoneyAccount(fmt.Sprintf("b%d", i))
	}
	if err := l.EnsureAccounts(ctx, append(ids, "external:CNY")...); err != nil {
		b.Fatal(err)
	}
	var items []ledger.TxInput
	for _, id := range ids {
		items = append(items, ledger.TxInput{Kind: "fund", Postings: legs("external:CNY", "-1000000", id, "1000000")})
	}
	for lo := 0; lo < len(items); lo += ledger.TransactionsPerBatchMax {
		if _, _, err := l.PostBatchAtomic(ctx, province, key(), items[lo:min(lo+ledger.TransactionsPerBatchMax, len(items))]); err != nil {
			b.Fatal(err)
		}
	}
	return l, ids
}

func randomTransfers(ids []string, n int) []ledger.TxInput {
	out := make([]ledger.TxInput, n)
	for i := range out {
		a, c := rand.IntN(len(ids)), rand.IntN(len(ids)-1)
		if c >= a {
			c++
		}
		out[i] = ledger.TxInput{Kind: "transfer", Postings: legs(ids[a], "-0.01", ids[c], "0.01")}
	}
	return out
}

// BenchmarkPostBatch100: 100 independent keyed transfers per call.
func BenchmarkPostBatch100(b *testing.B) {
	l, ids := benchLedger(b, ledger.Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := l.PostBatch(ctx, province, key(), randomTransfers(ids, 100))
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res[0].Err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkPostParallel: single transfers from concurrent callers (coalesced).
func BenchmarkPostParallel(b *testing.B) {
	l, ids := benchLedger(b, ledger.Options{})
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := l.Post(ctx, province, key(), randomTransfers(ids, 1)[0]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkBaselineInsert: the database's own speed for 300 plain rows
// (as many as 100 transfers write: 100 transactions and 200 postings) per commit.
func BenchmarkBaselineInsert(b *testing.B) {
	pool := ledgertest.Fresh(b)
	if _, err := pool.Exec(ctx, `CREATE TABLE baseline (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), a TEXT, n NUMERIC)`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pool.Exec(ctx, `INSERT INTO baseline (a, n) SELECT 'x' || g::TEXT, g FROM generate_series(1, 300) g`); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "transfers/s")
}

// verifyJournalOf posts n random transfers between the bench accounts, in
// atomic batches (the fastest way to a big journal through the engine).
func verifyJournalOf(tb testing.TB, l *ledger.Ledger, ids []string, n int) {
	tb.Helper()
	for lo := 0; lo < n; lo += ledger.TransactionsPerBatchMax {
		if _, _, err := l.PostBatchAtomic(ctx, province, key(), randomTransfers(ids, min(ledger.TransactionsPerBatchMax, n-lo))); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkVerify reports postings/s of a full verification (target
// ≥ 200,000/s) and of an incremental one over the transfers written since
// a clean run (target: 1 M new postings in ≤ 5 s), on a journal of
// BENCH_VERIFY_TRANSFERS transfers (default 200,000: 400,000 postings).
//
//	go test -run '^$' -bench Verify -benchtime 1x ./ledger/
func BenchmarkVerify(b *testing.B) {
	n := 200000
	if s := os.Getenv("BENCH_VERIFY_TRANSFERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("BENCH_VERIFY_TRANSFERS=%q", s)
		}
		n = v
	}
	l, ids := benchLedger(b, ledger.Options{})
	verifyJournalOf(b, l, ids, n)
	b.Run("full", func(b *testing.B) {
		var postings int64
		for i := 0; i < b.N; i++ {
			rep, err := l.VerifyJournal(ctx, ledger.VerifyOptions{NoRecord: true})
			if err != nil || !rep.OK {
				b.Fatal(err, rep)
			}
			postings += rep.Postings
		}
		b.ReportMetric(float64(postings)/b.Elapsed().Seconds(), "postings/s")
	})
	b.Run("incremental", func(b *testing.B) {
		var postings int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if _, err := l.VerifyJournal(ctx, ledger.VerifyOptions{Mode: ledger.VerifyIncremental, Overlap: -1}); err != nil {
				b.Fatal(err)
			}
			verifyJournalOf(b, l, ids, n)
			b.StartTimer()
			rep, err := l.VerifyJournal(ctx, ledger.VerifyOptions{Mode: ledger.VerifyIncremental, Overlap: -1})
			if err != nil || !rep.OK || rep.Mode != ledger.VerifyIncremental {
				b.Fatal(err, rep)
			}
			postings += rep.Postings
		}
		b.ReportMetric(float64(postings)/b.Elapsed().Seconds(), "new-postings/s")
	})
}
