package ledger_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// verifyJournal builds a journal with every kind of posting: deposits
// from a sharded issuer, transfers, holds posted and voided, a reversal.
func verifyJournal(t *testing.T, l *ledger.Ledger, orgs ...string) []string {
	t.Helper()
	ids := fund(t, l, "100.00", orgs...)
	for i := 0; i < 3; i++ {
		if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1.25", ids[1], "1.25")}); err != nil {
			t.Fatal(err)
		}
	}
	hold, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[1], "-2", ids[2], "2"), Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.PostPending(ctx, province, key(), hold.ID); err != nil {
		t.Fatal(err)
	}
	hold, _, err = l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[2], "-3", ids[0], "3"), Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.VoidPending(ctx, province, key(), hold.ID); err != nil {
		t.Fatal(err)
	}
	tx, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[2], "-4", ids[0], "4")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Reverse(ctx, province, key(), tx.ID, nil); err != nil {
		t.Fatal(err)
	}
	return ids
}

// same asserts that two reports say the same about the journal.
func same(t *testing.T, what string, want, got *ledger.VerifyReport) {
	t.Helper()
	kinds := func(r *ledger.VerifyReport) []string {
		var out []string
		for _, p := range r.Problems {
			out = append(out, fmt.Sprintf("%s %s %d %d %s", p.Kind, p.Account, p.Shard, p.Seq, p.TxID))
		}
		slices.Sort(out)
		return out
	}
	if want.OK != got.OK || want.Transactions != got.Transactions || want.Postings != got.Postings || want.Chains != got.Chains ||
		want.ProblemsTotal != got.ProblemsTotal || want.Root != got.Root || fmt.Sprint(want.AssetTotals) != fmt.Sprint(got.AssetTotals) ||
		!slices.Equal(kinds(want), kinds(got)) {
		t.Fatalf("%s: reports differ:\nwant %+v\n got %+v", what, want, got)
	}
}

func verifyWith(t *testing.T, l *ledger.Ledger, o ledger.VerifyOptions) *ledger.VerifyReport {
	t.Helper()
	rep, err := l.VerifyJournal(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// edit changes rows by hand and fails unless it changed some.
func edit(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if tag, err := pool.Exec(ctx, sql, args...); err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("%s: %v (%d rows)", sql, err, tag.RowsAffected())
	}
}

// A full verification read in chunks of one, two or three rows (so every
// chain and transaction boundary falls inside and at the edge of a chunk)
// reports exactly what one chunk of everything reports, clean and after
// each kind of tampering.
func TestChunkedVerifyGivesTheSameReport(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := verifyJournal(t, l, "ca", "cb", "cc")
	compare := func(what string) *ledger.VerifyReport {
		t.Helper()
		whole := verifyWith(t, l, ledger.VerifyOptions{ChunkRows: 1 << 30})
		for _, n := range []int{1, 2, 3} {
			same(t, fmt.Sprintf("%s, chunks of %d", what, n), whole, verifyWith(t, l, ledger.VerifyOptions{ChunkRows: n}))
		}
		same(t, what+", default chunks", whole, mustVerifyOrNot(t, l))
		return whole
	}
	clean := compare("clean")
	if !clean.OK || clean.Postings == 0 || clean.Root == "" || clean.Mode != ledger.VerifyFull {
		t.Fatalf("clean: %+v", clean)
	}
	// An edited amount, a deleted posting, a stored balance without its
	// journal: each is reported the same whatever the chunking.
	var txID string
	if err := pool.QueryRow(ctx, `SELECT tx_id::TEXT FROM postings WHERE account_id = $1 AND seq = 2`, ids[1]).Scan(&txID); err != nil {
		t.Fatal(err)
	}
	edit(t, pool, `UPDATE postings SET amount = amount + 1 WHERE tx_id = $1 AND account_id = $2`, txID, ids[1])
	if rep := compare("edited amount"); rep.OK {
		t.Fatal("edited amount not detected")
	}
	edit(t, pool, `UPDATE postings SET amount = amount - 1 WHERE tx_id = $1 AND account_id = $2`, txID, ids[1])
	edit(t, pool, `DELETE FROM postings WHERE account_id = $1 AND seq = (SELECT max(seq) FROM postings WHERE account_id = $1)`, ids[0])
	if rep := compare("deleted posting"); rep.OK {
		t.Fatal("deleted posting not detected")
	}
	other := ledger.OrgMoneyAccount(ledgertest.ID("empty"))
	if err := l.EnsureAccounts(ctx, other); err != nil {
		t.Fatal(err)
	}
	edit(t, pool, `UPDATE accounts SET balance = 7 WHERE id = $1`, other)
	rep := compare("balance without journal")
	found := false
	for _, p := range rep.Problems {
		found = found || p.Kind == "account_state" && p.Account == other
	}
	if !found {
		t.Fatalf("balance without journal: %+v", rep.Problems)
	}
}

func mustVerifyOrNot(t *testing.T, l *ledger.Ledger) *ledger.VerifyReport {
	t.Helper()
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// An incremental run reads the transactions made since the last clean
// run and the chains they touched: tampering in that range is found, and
// what was verified before is not read again (only a full run finds an
// edit there).
func TestIncrementalVerifyChecksWhatWasWrittenSince(t *testing.T) {
	for _, chunk := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) { incrementalVerify(t, chunk) })
	}
}

func incrementalVerify(t *testing.T, chunk int) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	inc := ledger.VerifyOptions{Mode: ledger.VerifyIncremental, Overlap: -1, ChunkRows: chunk}

	// No clean run yet: an incremental run reads everything.
	ids := verifyJournal(t, l, "ia", "ib", "ic")
	first := verifyWith(t, l, inc)
	if !first.OK || first.Mode != ledger.VerifyFull || first.Notes["incremental"] == "" {
		t.Fatalf("first run: %+v", first)
	}
	old, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1"), Metadata: map[string]string{"n": "old"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the clean run's mark lies after every id made so far
	base := verifyWith(t, l, inc)
	if !base.OK || base.Mode != ledger.VerifyIncremental || base.Transactions == 0 {
		t.Fatalf("base: %+v", base)
	}
	time.Sleep(5 * time.Millisecond)

	// Nothing new: nothing read.
	if rep := verifyWith(t, l, inc); !rep.OK || rep.Transactions != 0 || rep.Postings != 0 {
		t.Fatalf("nothing new: %+v", rep)
	}
	time.Sleep(5 * time.Millisecond)

	// Three new transactions: exactly they, and the postings of the
	// chains they touched from the first new one on.
	for i := 0; i < 3; i++ {
		if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[1], "-0.5", ids[2], "0.5")}); err != nil {
			t.Fatal(err)
		}
	}
	rep := verifyWith(t, l, inc)
	if !rep.OK || rep.Transactions != 3 || rep.Postings != 6 || rep.Chains != 2 {
		t.Fatalf("three new: %+v", rep)
	}
	if rep.Root != "" || rep.AssetTotals["CNY"] != "0" {
		t.Fatalf("three new: root %q totals %v", rep.Root, rep.AssetTotals)
	}
	time.Sleep(5 * time.Millisecond)

	// An edit before the mark is not read by an incremental run; a full
	// run finds it.
	edit(t, pool, `UPDATE transactions SET metadata = '{"n":"edited"}' WHERE id = $1`, old.ID)
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[2], "-0.25", ids[0], "0.25")}); err != nil {
		t.Fatal(err)
	}
	if rep := verifyWith(t, l, inc); !rep.OK || rep.Transactions != 1 {
		t.Fatalf("edit before the mark, incremental: %+v", rep)
	}
	if rep := verifyWith(t, l, ledger.VerifyOptions{NoRecord: true}); rep.OK || !hasProblem(rep, "transaction_hash", "", old.ID.String()) {
		t.Fatalf("edit before the mark, full: %+v", rep.Problems)
	}
	edit(t, pool, `UPDATE transactions SET metadata = '{"n":"old"}' WHERE id = $1`, old.ID)
	time.Sleep(5 * time.Millisecond)

	// Tampering in the new range is found, with every kind of edit, and
	// a run that found problems moves no mark: the next one finds it
	// again.
	cases := []struct {
		name, edit, undo, kind, account string
	}{
		{"metadata", `UPDATE transactions SET metadata = '{"n":"x"}' WHERE id = '%s'`, `UPDATE transactions SET metadata = '{"n":"new"}' WHERE id = '%s'`, "transaction_hash", ""},
		{"amount and balance", `UPDATE postings SET amount = -0.5, balance_after = balance_after + 0.25 WHERE tx_id = '%s' AND idx = 0`,
			`UPDATE postings SET amount = -0.75, balance_after = balance_after - 0.25 WHERE tx_id = '%s' AND idx = 0`, "chain_hash", ids[0]},
		{"deleted posting", `DELETE FROM postings WHERE tx_id = '%s' AND idx = 1`, "", "unbalanced", ""},
	}
	for _, c := range cases {
		tx, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-0.75", ids[1], "0.75"), Metadata: map[string]string{"n": "new"}})
		if err != nil {
			t.Fatal(err)
		}
		edit(t, pool, fmt.Sprintf(c.edit, tx.ID))
		for round := 0; round < 2; round++ {
			rep := verifyWith(t, l, inc)
			if rep.OK || !hasProblem(rep, c.kind, c.account, "") {
				t.Fatalf("%s (round %d): want %s on %q, got %+v", c.name, round, c.kind, c.account, rep.Problems)
			}
		}
		if c.undo != "" {
			edit(t, pool, fmt.Sprintf(c.undo, tx.ID))
			if rep := verifyWith(t, l, inc); !rep.OK || rep.Transactions == 0 {
				t.Fatalf("%s undone: %+v", c.name, rep)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func hasProblem(rep *ledger.VerifyReport, kind, account, txID string) bool {
	for _, p := range rep.Problems {
		if p.Kind == kind && (account == "" || p.Account == account) && (txID == "" || p.TxID == txID) {
			return true
		}
	}
	return false
}

// A full run interrupted between chunks goes on, with Resume, from where
// it last recorded its progress, and ends with the report an
// uninterrupted run gives.
func TestFullVerifyResumes(t *testing.T) {
	pool := ledgertest.Fresh(t)
	var coll string
	if err := pool.QueryRow(ctx, `SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&coll); err != nil {
		t.Fatal(err)
	}
	switch coll {
	case "C", "POSIX", "C.UTF-8", "C.utf8":
	default:
		t.Skipf("database collation %s does not order text by bytes: a full run cannot be resumed there (by design)", coll)
	}
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	verifyJournal(t, l, "ra", "rb", "rc")
	whole := verifyWith(t, l, ledger.VerifyOptions{NoRecord: true})
	for _, stop := range []string{"chains", "accounts"} {
		cctx, cancel := context.WithCancel(ctx)
		_, err := l.VerifyJournal(cctx, ledger.VerifyOptions{ChunkRows: 2, Progress: func(p ledger.VerifyProgress) {
			if p.Stage == stop {
				cancel()
			}
		}})
		cancel()
		if ledger.ErrorCode(err) != ledger.CodeUnavailable {
			t.Fatalf("interrupted at %s: %v", stop, err)
		}
		var stage string
		rep, err := l.VerifyJournal(ctx, ledger.VerifyOptions{ChunkRows: 2, Resume: true, Progress: func(p ledger.VerifyProgress) {
			if stage == "" {
				stage = p.Stage
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Notes["resumed"] == "" || stage != stop {
			t.Fatalf("resumed at %s: first progress at %q, notes %v", stop, stage, rep.Notes)
		}
		same(t, "resumed at "+stop, whole, rep)
	}
	// Nothing left to resume: a new run.
	if rep := verifyWith(t, l, ledger.VerifyOptions{Resume: true}); rep.Notes["resumed"] != "" || !rep.OK {
		t.Fatalf("nothing to resume: %+v", rep)
	}
}

// A verification never fails with the driver's error: a statement
// timeout is unavailable (HTTP 503), and a chunk is far below it.
func TestVerifyErrorsAreDomainErrors(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.VerifyJournal(cctx, ledger.VerifyOptions{Mode: ledger.VerifyIncremental}); ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := l.VerifyJournal(ctx, ledger.VerifyOptions{Mode: "sometimes"}); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("bad mode: %v", err)
	}
}

// The trail and the checkpoints' recorded heads are read in chunks too:
// VerifyAll with chunks of one row reports what it reports with the
// default chunks, clean and after an edited trail event and a deleted
// checkpoint head.
func TestVerifyAllInChunksGivesTheSameReport(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := verifyJournal(t, l, "ta", "tb", "tc")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for round, id := range ids {
		for _, st := range []string{"frozen", "active"} {
			if _, _, err := l.SetAccountStatus(ctx, province, key(), id, st, "a decision"); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(id, "-0.5", ids[(round+1)%len(ids)], "0.5")}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Checkpoint(ctx, priv, "k1"); err != nil {
			t.Fatal(err)
		}
	}
	compare := func(what string) *ledger.VerifyReport {
		t.Helper()
		whole, err := l.VerifyAll(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 2} {
			got, err := l.VerifyAllWith(ctx, nil, ledger.VerifyOptions{ChunkRows: n})
			if err != nil {
				t.Fatal(err)
			}
			same(t, fmt.Sprintf("%s, chunks of %d", what, n), whole, got)
			if got.TrailEvents != whole.TrailEvents || got.Notes["checkpoints"] != whole.Notes["checkpoints"] {
				t.Fatalf("%s, chunks of %d: trail events %d vs %d, checkpoints %s vs %s", what, n, got.TrailEvents, whole.TrailEvents,
					got.Notes["checkpoints"], whole.Notes["checkpoints"])
			}
		}
		return whole
	}
	if rep := compare("clean"); !rep.OK || rep.TrailEvents < 6 || rep.Notes["checkpoints"] != "3" {
		t.Fatalf("clean: %+v", rep)
	}
	edit(t, pool, `UPDATE trail_events SET reason = 'no reason' WHERE subject = $1 AND seq = 1`, ledger.AccountSubject(ids[1]))
	if rep := compare("edited trail event"); !hasProblem(rep, "trail_chain", "", "") {
		t.Fatalf("edited trail event: %+v", rep.Problems)
	}
	edit(t, pool, `DELETE FROM checkpoint_heads WHERE account_id = $1`, ids[2])
	if rep := compare("deleted checkpoint heads"); !hasProblem(rep, "checkpoint", "", "") {
		t.Fatalf("deleted checkpoint heads: %+v", rep.Problems)
	}
}
