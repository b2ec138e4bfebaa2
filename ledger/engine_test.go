package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

var (
	ctx      = context.Background()
	province = ledger.Actor{Sub: "p1", Role: "province"}
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func legs(kv ...any) []ledger.PostingInput {
	var out []ledger.PostingInput
	for i := 0; i < len(kv); i += 2 {
		out = append(out, ledger.PostingInput{Account: kv[i].(string), Amount: dec(kv[i+1].(string))})
	}
	return out
}

func key() string { return uuid.NewString() }

// fund opens org money accounts and deposits amount into each.
func fund(t *testing.T, l *ledger.Ledger, amount string, orgs ...string) []string {
	t.Helper()
	ids := []string{"external:CNY"}
	for _, o := range orgs {
		ids = append(ids, ledger.OrgMoneyAccount(o))
	}
	if err := l.EnsureAccounts(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "deposit", Postings: legs("external:CNY", "-"+amount, id, amount)}); err != nil {
			t.Fatal(err)
		}
	}
	return ids[1:]
}

func balance(t *testing.T, l *ledger.Ledger, id string) (bal, avail string) {
	t.Helper()
	a, err := l.GetAccount(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.FormatAmount(a.Asset, a.Balance), ledger.FormatAmount(a.Asset, a.Available)
}

func mustVerify(t *testing.T, l *ledger.Ledger) *ledger.VerifyReport {
	t.Helper()
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify found %d problems: %+v", rep.ProblemsTotal, rep.Problems)
	}
	return rep
}

func TestPostTransferAndOverdraft(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	a, b := ledgertest.ID("a"), ledgertest.ID("b")
	ids := fund(t, l, "100.00", a, b)
	tx, replayed, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-30.50", ids[1], "30.50"), Metadata: map[string]string{"ref": "x"}})
	if err != nil || replayed {
		t.Fatal(err, replayed)
	}
	if got, _ := balance(t, l, ids[0]); got != "69.50" {
		t.Fatalf("a = %s", got)
	}
	if got, _ := balance(t, l, ids[1]); got != "130.50" {
		t.Fatalf("b = %s", got)
	}
	_, _, err = l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-69.51", ids[1], "69.51")})
	if ledger.ErrorCode(err) != ledger.CodeInsufficientBalance {
		t.Fatalf("overdraft: %v", err)
	}
	if got, _ := balance(t, l, ids[0]); got != "69.50" {
		t.Fatalf("a after failed overdraft = %s", got)
	}
	_, _, err = l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", "org:nobody-"+a+":CNY", "1")})
	if ledger.ErrorCode(err) != ledger.CodeAccountNotFound {
		t.Fatalf("missing account: %v", err)
	}
	got, err := l.GetTransaction(ctx, tx.ID)
	if err != nil || len(got.Postings) != 2 || got.Metadata["ref"] != "x" {
		t.Fatalf("get transaction: %+v %v", got, err)
	}
}

func TestFrozenAccountNeitherSendsNorReceives(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	ids := fund(t, l, "10.00", ledgertest.ID("f"), ledgertest.ID("g"))
	if _, _, err := l.SetAccountStatus(ctx, province, key(), ids[0], "frozen", "test decision"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]ledger.PostingInput{legs(ids[0], "-1", ids[1], "1"), legs(ids[1], "-1", ids[0], "1")} {
		if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: p}); ledger.ErrorCode(err) != ledger.CodeAccountFrozen {
			t.Fatalf("frozen: %v", err)
		}
	}
	if _, _, err := l.SetAccountStatus(ctx, province, key(), ids[0], "active", "test decision"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.SetAccountStatus(ctx, province, key(), "external:CNY", "frozen", "test decision"); err == nil {
		t.Fatal("froze an issuer")
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Run("coalesced", func(t *testing.T) { testIdempotencyKey(t, ledger.Options{}) })
	t.Run("one-per-transaction", func(t *testing.T) { testIdempotencyKey(t, ledger.Options{NoCoalesce: true}) })
}

func testIdempotencyKey(t *testing.T, opts ledger.Options) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), opts)
	ids := fund(t, l, "100.00", ledgertest.ID("i"), ledgertest.ID("j"))
	in := ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-10", ids[1], "10")}
	k := key()

	// Concurrent duplicates: exactly one posts, all get the same transaction.
	const n = 16
	var wg sync.WaitGroup
	txIDs := make([]uuid.UUID, n)
	errs := make([]error, n)
	var replays atomic.Int32
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			tx, replayed, err := l.Post(ctx, province, k, in)
			errs[i] = err
			if err == nil {
				txIDs[i] = tx.ID
				if replayed {
					replays.Add(1)
				}
			}
		}(i)
	}
	close(start)
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if txIDs[i] != txIDs[0] {
			t.Fatalf("call %d got transaction %s, call 0 got %s", i, txIDs[i], txIDs[0])
		}
	}
	if replays.Load() != n-1 {
		t.Fatalf("replays = %d, want %d", replays.Load(), n-1)
	}
	if got, _ := balance(t, l, ids[0]); got != "90.00" {
		t.Fatalf("posted more than once: balance %s", got)
	}
	// A lost response (crash between commit and reply) is resolved by replaying.
	tx, replayed, err := l.Post(ctx, province, k, in)
	if err != nil || !replayed || tx.ID != txIDs[0] {
		t.Fatalf("replay: %v %v %v", tx, replayed, err)
	}
	// Same key, different body.
	in2 := ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-11", ids[1], "11")}
	if _, _, err := l.Post(ctx, province, k, in2); ledger.ErrorCode(err) != ledger.CodeIdempotencyConflict {
		t.Fatalf("different body: %v", err)
	}
	// Keys are per principal: another actor's same key is a new request.
	other := ledger.Actor{Sub: "p2", Role: "province"}
	if _, replayed, err := l.Post(ctx, other, k, in); err != nil || replayed {
		t.Fatalf("other principal: %v %v", replayed, err)
	}
	if got, _ := balance(t, l, ids[0]); got != "80.00" {
		t.Fatalf("balance %s", got)
	}
	if _, _, err := l.Post(ctx, province, "", in); ledger.ErrorCode(err) != ledger.CodeIdempotencyKeyMissing {
		t.Fatalf("missing key: %v", err)
	}
}

// TestConcurrentTransfersConserve forces contention: many goroutines move
// random amounts between a few funded accounts, some of which must fail.
func TestConcurrentTransfersConserve(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts ledger.Options
	}{{"coalesced", ledger.Options{}}, {"one-per-transaction", ledger.Options{NoCoalesce: true}}} {
		t.Run(mode.name, func(t *testing.T) { testConcurrentTransfersConserve(t, mode.opts) })
	}
}

func testConcurrentTransfersConserve(t *testing.T, opts ledger.Options) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, opts)
	var orgs []string
	for i := 0; i < 6; i++ {
		orgs = append(orgs, fmt.Sprintf("o%d", i))
	}
	ids := fund(t, l, "50.00", orgs...)
	const workers, perWorker = 12, 40
	var wg sync.WaitGroup
	var ok, insufficient atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				a, b := rand.IntN(len(ids)), rand.IntN(len(ids)-1)
				if b >= a {
					b++
				}
				amt := fmt.Sprintf("%d.%02d", rand.IntN(30), 1+rand.IntN(99))
				// Multi-leg transactions in both lock orders.
				c := (b + 1) % len(ids)
				var p []ledger.PostingInput
				if c != a && c != b && i%3 == 0 {
					p = legs(ids[a], "-"+amt, ids[b], amt, ids[c], "-0.01", "external:CNY", "0.01")
				} else {
					p = legs(ids[a], "-"+amt, ids[b], amt)
				}
				_, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: p})
				switch ledger.ErrorCode(err) {
				case "":
				case ledger.CodeInsufficientBalance:
					insufficient.Add(1)
					continue
				default:
					if err != nil {
						t.Errorf("transfer: %v", err)
						return
					}
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 || insufficient.Load() == 0 {
		t.Logf("ok=%d insufficient=%d (want both non-zero for a meaningful run)", ok.Load(), insufficient.Load())
	}
	rep := mustVerify(t, l)
	if rep.AssetTotals[ledger.AssetCNY] != "0" {
		t.Fatalf("CNY total %s", rep.AssetTotals[ledger.AssetCNY])
	}
	var negatives int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE NOT issuer AND balance - pending_debits < 0`).Scan(&negatives); err != nil || negatives != 0 {
		t.Fatalf("negative holders: %d %v", negatives, err)
	}
	// Sum of holders equals what was deposited minus what flowed back to external.
	var sum decimal.Decimal
	if err := pool.QueryRow(ctx, `SELECT sum(balance) FROM accounts WHERE NOT issuer AND asset = 'CNY'`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	ext, _ := l.GetAccount(ctx, "external:CNY")
	if !sum.Add(ext.Balance).IsZero() {
		t.Fatalf("holders %s + external %s != 0", sum, ext.Balance)
	}
}

// TestSerializationFailuresAreRetried forces a write-skew under
// SERIALIZABLE: two transactions read both rows, meet at a barrier, and
// each writes one. PostgreSQL aborts one with 40001; the helper retries it
// from a fresh snapshot and both effects land.
func TestSerializationFailuresAreRetried(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	if _, err := pool.Exec(ctx, `CREATE TABLE probe (id INT PRIMARY KEY, v INT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO probe VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	before := l.Stats().Retries.Load()
	var barrier sync.WaitGroup
	barrier.Add(2)
	var attempts atomic.Int32
	var wg sync.WaitGroup
	for _, id := range []int{1, 2} {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			first := true
			err := l.InTx(ctx, pgx.Serializable, func(tx pgx.Tx) error {
				attempts.Add(1)
				var sum int
				if err := tx.QueryRow(ctx, `SELECT sum(v) FROM probe`).Scan(&sum); err != nil {
					return err
				}
				if first {
					first = false
					barrier.Done()
					barrier.Wait()
				}
				_, err := tx.Exec(ctx, `UPDATE probe SET v = $1 WHERE id = $2`, sum+1, id)
				return err
			})
			if err != nil {
				t.Errorf("tx %d: %v", id, err)
			}
		}(id)
	}
	wg.Wait()
	if l.Stats().Retries.Load()-before < 1 || attempts.Load() < 3 {
		t.Fatalf("expected at least one retry; retries=%d attempts=%d", l.Stats().Retries.Load()-before, attempts.Load())
	}
	var total, ones int
	if err := pool.QueryRow(ctx, `SELECT sum(v), count(*) FILTER (WHERE v > 0) FROM probe`).Scan(&total, &ones); err != nil {
		t.Fatal(err)
	}
	// Serial outcome: the first writes 1, the retried one reads 1 and writes 2.
	if ones != 2 || total != 3 {
		t.Fatalf("lost an update: total=%d rows written=%d", total, ones)
	}
}

func TestTwoPhase(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{Now: clock})
	ids := fund(t, l, "100.00", ledgertest.ID("s"), ledgertest.ID("r"))
	hold := ledger.TxInput{Kind: "trade", Postings: legs(ids[0], "-60", ids[1], "60"), Pending: true, Timeout: time.Hour}
	p, _, err := l.Post(ctx, province, key(), hold)
	if err != nil {
		t.Fatal(err)
	}
	if bal, avail := balance(t, l, ids[0]); bal != "100.00" || avail != "40.00" {
		t.Fatalf("after hold: balance %s available %s", bal, avail)
	}
	// The held amount cannot be spent twice.
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-40.01", ids[1], "40.01")}); ledger.ErrorCode(err) != ledger.CodeInsufficientBalance {
		t.Fatalf("spent held money: %v", err)
	}
	if _, _, err := l.PostPending(ctx, province, key(), p.ID); err != nil {
		t.Fatal(err)
	}
	// A resolved hold leaves the timeout working set in the same transaction.
	var open int
	if err := l.Pool().QueryRow(ctx, `SELECT count(*) FROM pending_expiries WHERE tx_id = $1`, p.ID).Scan(&open); err != nil || open != 0 {
		t.Fatalf("resolved hold still awaits its timeout: %d %v", open, err)
	}
	if bal, avail := balance(t, l, ids[0]); bal != "40.00" || avail != "40.00" {
		t.Fatalf("after post: %s %s", bal, avail)
	}
	if _, _, err := l.VoidPending(ctx, province, key(), p.ID); ledger.ErrorCode(err) != ledger.CodePendingResolved {
		t.Fatalf("void after post: %v", err)
	}
	if _, _, err := l.PostPending(ctx, province, key(), p.ID); ledger.ErrorCode(err) != ledger.CodePendingResolved {
		t.Fatalf("post twice: %v", err)
	}

	// Concurrent post and void race: exactly one wins.
	p2, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[0], "-10", ids[1], "10"), Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var wins atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, _, err = l.PostPending(ctx, province, key(), p2.ID)
			} else {
				_, _, err = l.VoidPending(ctx, province, key(), p2.ID)
			}
			if err == nil {
				wins.Add(1)
			} else if ledger.ErrorCode(err) != ledger.CodePendingResolved {
				t.Errorf("race: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d resolutions won", wins.Load())
	}

	// Timeout: after the deadline a post fails and the sweeper voids it once.
	p3, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[1], "-5", ids[0], "5"), Pending: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, availBefore := balance(t, l, ids[1])
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if _, _, err := l.PostPending(ctx, province, key(), p3.ID); ledger.ErrorCode(err) != ledger.CodePendingExpired {
		t.Fatalf("post after timeout: %v", err)
	}
	n, err := l.VoidExpired(ctx, 100)
	if err != nil || n < 1 {
		t.Fatalf("sweeper voided %d: %v", n, err)
	}
	if _, avail := balance(t, l, ids[1]); avail == availBefore {
		t.Fatalf("hold not released: %s", avail)
	}
	if _, _, err := l.VoidPending(ctx, province, key(), p3.ID); ledger.ErrorCode(err) != ledger.CodePendingResolved {
		t.Fatalf("void after sweep: %v", err)
	}
}

func TestReversalOnceAndNeverNegative(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	ids := fund(t, l, "10.00", ledgertest.ID("x"), ledgertest.ID("y"))
	tx, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-4", ids[1], "4")})
	if err != nil {
		t.Fatal(err)
	}
	rev, _, err := l.Reverse(ctx, province, key(), tx.ID, map[string]string{"case": "C-1"})
	if err != nil || rev.Corrects == nil || *rev.Corrects != tx.ID {
		t.Fatalf("reverse: %v %+v", err, rev)
	}
	if _, _, err := l.Reverse(ctx, province, key(), tx.ID, nil); ledger.ErrorCode(err) != ledger.CodeAlreadyReversed {
		t.Fatalf("second reversal: %v", err)
	}
	// The receiver spends what it got; the reversal must not push it below zero.
	tx2, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-8", ids[1], "8")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[1], "-15", ids[0], "15")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Reverse(ctx, province, key(), tx2.ID, nil); ledger.ErrorCode(err) != ledger.CodeInsufficientBalance {
		t.Fatalf("reversal below zero: %v", err)
	}
}

func TestBatches(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	ids := fund(t, l, "10.00", ledgertest.ID("m"), ledgertest.ID("n"))
	items := []ledger.TxInput{
		{Kind: "transfer", Postings: legs(ids[0], "-3", ids[1], "3")},
		{Kind: "transfer", Postings: legs(ids[0], "-30", ids[1], "30")}, // insufficient
		{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "2")},   // unbalanced
		{Kind: "transfer", Postings: legs(ids[1], "-5", ids[0], "5")},
	}
	k := key()
	res, err := l.PostBatch(ctx, province, k, items)
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := []ledger.Code{"", ledger.CodeInsufficientBalance, ledger.CodeUnbalanced, ""}
	for i, r := range res {
		var code ledger.Code
		if r.Err != nil {
			code = r.Err.Code
		}
		if code != wantCodes[i] {
			t.Fatalf("item %d: %v, want %s", i, r.Err, wantCodes[i])
		}
	}
	// Replay: successes replayed, nothing posts twice.
	res2, err := l.PostBatch(ctx, province, k, items)
	if err != nil || !res2[0].Replayed || !res2[3].Replayed || res2[0].Transaction.ID != res[0].Transaction.ID {
		t.Fatalf("replay: %+v %v", res2, err)
	}
	if got, _ := balance(t, l, ids[0]); got != "12.00" {
		t.Fatalf("balance %s", got)
	}
	// Atomic: one bad item, nothing moves.
	_, _, err = l.PostBatchAtomic(ctx, province, key(), items)
	if e, ok := ledger.AsError(err); !ok || e.Code != ledger.CodeUnbalanced || e.Field != "items[2].postings" {
		t.Fatalf("atomic: %v", err)
	}
	_, _, err = l.PostBatchAtomic(ctx, province, key(), []ledger.TxInput{items[0], items[1]})
	if e, ok := ledger.AsError(err); !ok || e.Code != ledger.CodeInsufficientBalance || e.Field != "items[1]" {
		t.Fatalf("atomic insufficient: %v", err)
	}
	if got, _ := balance(t, l, ids[0]); got != "12.00" {
		t.Fatalf("atomic failure moved money: %s", got)
	}
	txs, _, err := l.PostBatchAtomic(ctx, province, key(), []ledger.TxInput{items[0], items[3]})
	if err != nil || len(txs) != 2 {
		t.Fatal(err)
	}
	if _, err := l.PostBatch(ctx, province, key(), make([]ledger.TxInput, ledger.TransactionsPerBatchMax+1)); ledger.ErrorCode(err) != ledger.CodeLimitExceeded {
		t.Fatalf("oversized batch: %v", err)
	}
}

func TestHistoryPagingAndAsOf(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	ids := fund(t, l, "1.00", ledgertest.ID("h"), ledgertest.ID("k"))
	for i := 0; i < 7; i++ {
		if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[1], "-0.01", ids[0], "0.01")}); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []int64
	cursor := ""
	for {
		page, err := l.ListPostings(ctx, ids[0], 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			seqs = append(seqs, p.Seq)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seqs) != 8 || seqs[0] != 8 || seqs[7] != 1 {
		t.Fatalf("history seqs %v", seqs)
	}
	a, err := l.BalanceAt(ctx, ids[0], 3)
	if err != nil || ledger.FormatAmount(a.Asset, a.Balance) != "1.02" {
		t.Fatalf("as of seq 3: %v %v", a.Balance, err)
	}
	if _, err := l.ListPostings(ctx, ids[0], 3, "garbage!"); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("bad cursor: %v", err)
	}
}

// TestIssuerDoesNotSerialise mints concurrently from one issuer: the
// credits land on many shards, and the issuer's balance is their sum.
func TestIssuerDoesNotSerialise(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	var accts []string
	for i := 0; i < 40; i++ {
		accts = append(accts, ledger.OrgMoneyAccount(fmt.Sprintf("c%d", i)))
	}
	if err := l.EnsureAccounts(ctx, append(accts, "external:CNY")...); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, a := range accts {
		wg.Add(1)
		go func(a string) {
			defer wg.Done()
			if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "mint", Postings: legs("external:CNY", "-25", a, "25")}); err != nil {
				t.Error(err)
			}
		}(a)
	}
	wg.Wait()
	var shards int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT shard) FROM postings WHERE account_id = 'external:CNY'`).Scan(&shards); err != nil {
		t.Fatal(err)
	}
	if shards < 2 {
		t.Fatalf("40 mints used %d shard(s)", shards)
	}
	iss, _ := l.GetAccount(ctx, "external:CNY")
	if ledger.FormatAmount(ledger.AssetCNY, iss.Balance) != "-1000.00" {
		t.Fatalf("issuer balance %s", iss.Balance)
	}
	mustVerify(t, l)
}

// TestTamperingIsDetected edits stored rows by hand, as an attacker or a
// careless operator with database access would, and expects verify to name
// each change.
func TestTamperingIsDetected(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := fund(t, l, "10.00", "ta", "tb")
	tx, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-4", ids[1], "4"), Metadata: map[string]string{"note": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")}); err != nil {
		t.Fatal(err)
	}
	clean := mustVerify(t, l)

	tamper := func(t *testing.T, sql string, wantKind, wantAccount string) {
		t.Helper()
		tx0, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx0.Rollback(ctx) //nolint:errcheck
		if _, err := tx0.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		if err := tx0.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := l.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK {
			t.Fatalf("%s: not detected", sql)
		}
		found := false
		for _, p := range rep.Problems {
			if p.Kind == wantKind && (wantAccount == "" || p.Account == wantAccount) {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: want a %s problem on %q, got %+v", sql, wantKind, wantAccount, rep.Problems)
		}
	}
	restore := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		if rep := mustVerify(t, l); rep.Root != clean.Root {
			t.Fatal("restored journal has a different root")
		}
	}
	// Each edit is detected, then undone so the next starts clean.
	tamper(t, fmt.Sprintf(`UPDATE postings SET amount = -5, balance_after = balance_after - 1 WHERE tx_id = '%s' AND account_id = '%s'`, tx.ID, ids[0]), "chain_hash", ids[0])
	restore(fmt.Sprintf(`UPDATE postings SET amount = -4, balance_after = balance_after + 1 WHERE tx_id = '%s' AND account_id = '%s'`, tx.ID, ids[0]))
	tamper(t, fmt.Sprintf(`UPDATE postings SET amount = -5 WHERE tx_id = '%s' AND account_id = '%s'`, tx.ID, ids[0]), "transaction_hash", "")
	restore(fmt.Sprintf(`UPDATE postings SET amount = -4 WHERE tx_id = '%s' AND account_id = '%s'`, tx.ID, ids[0]))
	tamper(t, fmt.Sprintf(`UPDATE transactions SET metadata = '{"note":"y"}' WHERE id = '%s'`, tx.ID), "transaction_hash", "")
	restore(fmt.Sprintf(`UPDATE transactions SET metadata = '{"note":"x"}' WHERE id = '%s'`, tx.ID))
	tamper(t, fmt.Sprintf(`UPDATE accounts SET balance = balance + 100 WHERE id = '%s'`, ids[1]), "account_state", ids[1])
}

func TestVerifyReportsJournalOnlyChanges(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := fund(t, l, "10.00", "da", "db")
	if _, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-4", ids[1], "4")}); err != nil {
		t.Fatal(err)
	}
	// Deleting the latest posting of an account leaves a gap behind the stored state.
	if _, err := pool.Exec(ctx, `DELETE FROM postings WHERE account_id = $1 AND seq = 2`, ids[1]); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind+"@"+p.Account)
	}
	if rep.OK || len(kinds) < 2 {
		t.Fatalf("deleted posting: %v", kinds)
	}
}

// TestJournalIsAppendOnly snapshots every journal row, runs every kind of
// write (posts, holds, posts of holds, voids, reversals, batches) and
// checks that no earlier row changed or disappeared.
func TestJournalIsAppendOnly(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := fund(t, l, "100.00", "ja", "jb")
	snapshot := func() map[string]string {
		rows, err := pool.Query(ctx, `
			SELECT 't' || id::TEXT, md5(CAST((kind, actor, effective_at, created_at, metadata, corrects, resolves, pending, expires_at, hash) AS TEXT)) FROM transactions
			UNION ALL
			SELECT 'p' || account_id || '/' || shard::TEXT || '/' || seq::TEXT, md5(CAST((tx_id, idx, asset, phase, amount, balance_after, pending_after, chain_hash, created_at) AS TEXT)) FROM postings`)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			m[k] = v
		}
		return m
	}
	step := func(f func() error) {
		before := snapshot()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		after := snapshot()
		for k, v := range before {
			if after[k] != v {
				t.Fatalf("journal row %s changed or vanished", k)
			}
		}
		if len(after) <= len(before) {
			t.Fatalf("step appended nothing")
		}
	}
	var tx1, hold1, hold2 *ledger.Transaction
	step(func() (err error) {
		tx1, _, err = l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-4", ids[1], "4")})
		return err
	})
	step(func() (err error) {
		hold1, _, err = l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[0], "-4", ids[1], "4"), Pending: true})
		return err
	})
	step(func() (err error) {
		hold2, _, err = l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[0], "-4", ids[1], "4"), Pending: true})
		return err
	})
	step(func() error { _, _, err := l.PostPending(ctx, province, key(), hold1.ID); return err })
	step(func() error { _, _, err := l.VoidPending(ctx, province, key(), hold2.ID); return err })
	step(func() error { _, _, err := l.Reverse(ctx, province, key(), tx1.ID, nil); return err })
	step(func() error {
		_, err := l.PostBatch(ctx, province, key(), []ledger.TxInput{{Kind: "transfer", Postings: legs(ids[1], "-1", ids[0], "1")}})
		return err
	})
	mustVerify(t, l)
}

func TestCommitUnknownIsTypedError(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err := l.Post(cctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs("external:CNY", "-1", "org:nobody:CNY", "1")})
	if err == nil || errors.Is(err, context.Canceled) && ledger.ErrorCode(err) == ledger.CodeInternal {
		t.Fatalf("cancelled context: %v", err)
	}
}

// The generic operations cannot move the use cases' assets.
func TestGenericPostingRefusesManagedAssets(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	c := ledgertest.ID("c")
	if err := l.EnsureAccounts(ctx, "programme:CP:issuance", ledger.CitizenPendingAccount(c)); err != nil {
		t.Fatal(err)
	}
	in := ledger.TxInput{Kind: "mint", Postings: legs("programme:CP:issuance", "-5", ledger.CitizenPendingAccount(c), "5")}
	if _, _, err := l.Post(ctx, province, key(), in); ledger.ErrorCode(err) != ledger.CodeManagedAsset {
		t.Fatalf("post: %v", err)
	}
	if res, err := l.PostBatch(ctx, province, key(), []ledger.TxInput{in}); err != nil || res[0].Err == nil || res[0].Err.Code != ledger.CodeManagedAsset {
		t.Fatalf("batch: %v %+v", err, res)
	}
	if _, _, err := l.PostBatchAtomic(ctx, province, key(), []ledger.TxInput{in}); ledger.ErrorCode(err) != ledger.CodeManagedAsset {
		t.Fatalf("atomic: %v", err)
	}
	if _, _, err := l.SetAccountStatus(ctx, province, key(), ledger.CitizenPendingAccount(c), "frozen", "test decision"); ledger.ErrorCode(err) != ledger.CodeManagedAsset {
		t.Fatalf("status: %v", err)
	}
}

// A change below the asset's scale is still a change: verify reports it.
func TestTamperingBelowScaleIsDetected(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := fund(t, l, "10.00", "sa", "sb")
	tx, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-4", ids[1], "4")})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`UPDATE postings SET amount = -4.004, balance_after = balance_after - 0.004 WHERE tx_id = '%s' AND account_id = '%s'`, tx.ID, ids[0]),
		fmt.Sprintf(`UPDATE postings SET amount = 4.004, balance_after = balance_after + 0.004 WHERE tx_id = '%s' AND account_id = '%s'`, tx.ID, ids[1]),
		fmt.Sprintf(`UPDATE accounts SET balance = balance - 0.004 WHERE id = '%s'`, ids[0]),
		fmt.Sprintf(`UPDATE accounts SET balance = balance + 0.004 WHERE id = '%s'`, ids[1]),
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatal("a 0.004 CNY edit on both legs went undetected")
	}
}

// Duplicates of a request that drains the account all get the first
// result, not insufficient_balance: the key is read after the lock wait.
func TestConcurrentDuplicatesOfADrainingTransfer(t *testing.T) {
	for _, mode := range []ledger.Options{{}, {NoCoalesce: true}} {
		l := ledgertest.Ledger(t, ledgertest.Shared(t), mode)
		for round := 0; round < 5; round++ {
			ids := fund(t, l, "10.00", ledgertest.ID("dr"), ledgertest.ID("ds"))
			in := ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-10.00", ids[1], "10.00")}
			k := key()
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Add(1)
				go func(i int) { defer wg.Done(); _, _, errs[i] = l.Post(ctx, province, k, in) }(i)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("mode %+v round %d duplicate %d: %v", mode, round, i, err)
				}
			}
		}
	}
}

// Concurrent duplicates of a post-pending or reversal get the first result.
func TestConcurrentDuplicateResolutionsAndReversals(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	ids := fund(t, l, "10.00", ledgertest.ID("ra"), ledgertest.ID("rb"))
	p, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "trade", Postings: legs(ids[0], "-1", ids[1], "1"), Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	tx, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")})
	if err != nil {
		t.Fatal(err)
	}
	kp, kr := key(), key()
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i%2 == 0 {
				_, _, errs[i] = l.PostPending(ctx, province, kp, p.ID)
			} else {
				_, _, errs[i] = l.Reverse(ctx, province, kr, tx.ID, nil)
			}
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("duplicate %d: %v", i, err)
		}
	}
}

// Balances that would leave the column's range are a clean per-item error.
func TestBalanceRangeIsAnError(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	ids := fund(t, l, "1.00", ledgertest.ID("big"))
	huge := strings.Repeat("9", 30)
	var err error
	for i := 0; i < 12 && err == nil; i++ {
		_, _, err = l.Post(ctx, province, key(), ledger.TxInput{Kind: "deposit", Postings: legs("external:CNY", "-"+huge, ids[0], huge)})
	}
	if ledger.ErrorCode(err) != ledger.CodeInvalidAmount {
		t.Fatalf("overflow: %v", err)
	}
	mustVerify(t, l)
}

// Close answers every queued request, and later calls still work.
func TestCoalescerCloseAnswersEveryone(t *testing.T) {
	pool := ledgertest.Shared(t)
	l, err := ledger.New(ctx, pool, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := fund(t, l, "100.00", ledgertest.ID("ca"), ledgertest.ID("cb"))
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, errs[i] = l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")})
		}(i)
	}
	l.Close()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if got, _ := balance(t, l, ids[0]); got != "60.00" {
		t.Fatalf("balance %s", got)
	}
}

// A sink (every redemption lands on programme:CP:redeemed) is sharded like
// an issuer, so concurrent writers do not queue on one row, and it only
// ever receives, so it can never go negative.
func TestSinksAreShardedAndCreditOnly(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	const n = 30
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, ledger.CitizenAvailableAccount(fmt.Sprintf("s%d", i)))
	}
	if err := l.EnsureAccounts(ctx, append(ids, "programme:CP:issuance", "programme:CP:redeemed")...); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			err := l.Update(ctx, func(w *ledger.Writer) error {
				earn, err := w.Build(province, ledger.TxInput{Kind: "earn", Postings: legs("programme:CP:issuance", "-7", id, "7")})
				if err != nil {
					return err
				}
				spend, err := w.Build(province, ledger.TxInput{Kind: "redeem", Postings: legs(id, "-5", "programme:CP:redeemed", "5")})
				if err != nil {
					return err
				}
				return w.Apply(earn, spend)
			})
			if err != nil {
				t.Error(err)
			}
		}(id)
	}
	wg.Wait()
	var shards int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT shard) FROM postings WHERE account_id = 'programme:CP:redeemed'`).Scan(&shards); err != nil || shards < 2 {
		t.Fatalf("redemptions used %d shard(s): %v", shards, err)
	}
	if a, _ := l.GetAccount(ctx, "programme:CP:redeemed"); a.Balance.String() != "150" || !a.Sharded {
		t.Fatalf("sink balance %s sharded %v", a.Balance, a.Sharded)
	}
	err := l.Update(ctx, func(w *ledger.Writer) error {
		back, err := w.Build(province, ledger.TxInput{Kind: "unredeem", Postings: legs("programme:CP:redeemed", "-1", ids[0], "1")})
		if err != nil {
			return err
		}
		return w.Apply(back)
	})
	if ledger.ErrorCode(err) != ledger.CodeInvalidAccount {
		t.Fatalf("debit from a sink: %v", err)
	}
	mustVerify(t, l)
}
