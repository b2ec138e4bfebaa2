package ledger_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// problemsOf runs the one verification and returns the problems of kind.
func problemsOf(t *testing.T, l *ledger.Ledger, kind string) []ledger.Problem {
	t.Helper()
	rep, err := l.VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Problem
	for _, p := range rep.Problems {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	if len(out) > 0 && rep.OK {
		t.Fatalf("problems %+v in a report that is ok", out)
	}
	return out
}

func wantClean(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	rep, err := l.VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("VerifyAll found %d problems: %+v", rep.ProblemsTotal, rep.Problems)
	}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

// Every status change is a recorded decision (actor, status, reason) in
// the account's trail, and VerifyAll finds a status changed behind the
// engine's back: one that contradicts the last decision, and one that
// has none.
func TestAccountStatusDecisions(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := fund(t, l, "10.00", "sa", "sb", "sc")
	k := key()
	if _, _, err := l.SetAccountStatus(ctx, province, k, ids[0], "frozen", "SDEE-2026-3: court order"); err != nil {
		t.Fatal(err)
	}
	// The reason is part of the request: same key, other reason.
	if _, _, err := l.SetAccountStatus(ctx, province, k, ids[0], "frozen", "another reason"); ledger.ErrorCode(err) != ledger.CodeIdempotencyConflict {
		t.Fatalf("same key, other reason: %v", err)
	}
	if _, _, err := l.SetAccountStatus(ctx, province, key(), ids[1], "frozen", "bad\x01reason"); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("control character in reason: %v", err)
	}
	if _, _, err := l.SetAccountStatus(ctx, province, key(), ids[1], "frozen", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.SetAccountStatus(ctx, province, key(), ids[1], "active", "lifted"); err != nil {
		t.Fatal(err)
	}
	err := l.Read(ctx, func(r *ledger.Reader) error {
		evs, err := r.Trail(ledger.TrailUseCase, ledger.AccountSubject(ids[0]))
		if err != nil {
			return err
		}
		var body map[string]string
		if len(evs) != 1 || json.Unmarshal(evs[0].Body, &body) != nil || body["status"] != "frozen" || body["previous"] != "active" ||
			evs[0].Actor != province.ID() || evs[0].Reason != "SDEE-2026-3: court order" || evs[0].Event != ledger.EventAccountStatus {
			t.Fatalf("trail of %s: %+v", ids[0], evs)
		}
		evs, err = r.Trail(ledger.TrailUseCase, ledger.AccountSubject(ids[1]))
		if len(evs) != 2 || evs[1].Reason != "lifted" {
			t.Fatalf("trail of %s: %+v", ids[1], evs)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, l)

	for _, c := range []struct{ name, account, edit, undo string }{
		{"unfrozen in SQL", ids[0], `UPDATE accounts SET status = 'active' WHERE id = $1`, `UPDATE accounts SET status = 'frozen' WHERE id = $1`},
		{"frozen in SQL after a decision", ids[1], `UPDATE accounts SET status = 'frozen' WHERE id = $1`, `UPDATE accounts SET status = 'active' WHERE id = $1`},
		{"closed in SQL without any decision", ids[2], `UPDATE accounts SET status = 'closed' WHERE id = $1`, `UPDATE accounts SET status = 'active' WHERE id = $1`},
	} {
		exec(t, pool, c.edit, c.account)
		ps := problemsOf(t, l, "account_status")
		if len(ps) != 1 || ps[0].Table != "accounts" || ps[0].Row != c.account {
			t.Fatalf("%s: %+v", c.name, ps)
		}
		t.Logf("%s: %s", c.name, ps[0].Detail)
		exec(t, pool, c.undo, c.account)
		wantClean(t, l)
	}
}

// Accounts frozen before decisions were recorded are adopted once, at
// the first start after the change; a status edited in SQL later is not
// adopted by a restart.
func TestLegacyAccountStatusesAreAdoptedOnce(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := fund(t, l, "10.00", "la", "lb")
	// The database as it was before: a frozen account with no decision,
	// and no adoption done yet.
	exec(t, pool, `UPDATE accounts SET status = 'frozen' WHERE id = $1`, ids[0])
	exec(t, pool, `DELETE FROM trail_events WHERE use_case = 'ledger' AND subject = 'migration:account-status'`)
	exec(t, pool, `DELETE FROM trail_heads WHERE use_case = 'ledger' AND subject = 'migration:account-status'`)

	l2 := ledgertest.Ledger(t, pool, ledger.Options{})
	wantClean(t, l2)
	err := l2.Read(ctx, func(r *ledger.Reader) error {
		evs, err := r.Trail(ledger.TrailUseCase, ledger.AccountSubject(ids[0]))
		if len(evs) != 1 || evs[0].Event != ledger.EventAccountStatusAdopted || evs[0].Actor != "system:migration" {
			t.Fatalf("adopted: %+v", evs)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// After the adoption nothing is adopted again.
	exec(t, pool, `UPDATE accounts SET status = 'frozen' WHERE id = $1`, ids[1])
	l3 := ledgertest.Ledger(t, pool, ledger.Options{})
	if ps := problemsOf(t, l3, "account_status"); len(ps) != 1 || ps[0].Row != ids[1] {
		t.Fatalf("a status edited after the adoption: %+v", ps)
	}
}

// A key's stored result of a posted transaction is compared with the
// journal: repointed at a missing transaction, at another principal's, at
// another of the same principal's, or an edited stored copy — each is
// reported, naming the key.
func TestIdempotencyResultsAreChecked(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	ids := fund(t, l, "10.00", "ia", "ib")
	other := ledger.Actor{Sub: "p2", Role: "province"}
	if _, _, err := l.Post(ctx, province, "k-post", ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")}); err != nil {
		t.Fatal(err)
	}
	mine, _, err := l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-2", ids[1], "2")})
	if err != nil {
		t.Fatal(err)
	}
	theirs, _, err := l.Post(ctx, other, key(), ledger.TxInput{Kind: "transfer", Postings: legs(ids[1], "-1", ids[0], "1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Reverse(ctx, province, "k-rev", mine.ID, map[string]string{"why": "test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.PostBatchAtomic(ctx, province, "k-batch", []ledger.TxInput{{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")}}); err != nil {
		t.Fatal(err)
	}
	wantClean(t, l)

	stored := func(k string) string {
		var resp string
		if err := pool.QueryRow(ctx, `SELECT response FROM idempotency_keys WHERE scope = $1 AND key = $2`, province.ID(), k).Scan(&resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var post map[string]any
	if err := json.Unmarshal([]byte(stored("k-post")), &post); err != nil || post["hash"] == nil {
		t.Fatalf("a posted transfer's key stores its id and hash: %v %v", post, err)
	}
	repoint := func(id uuid.UUID, keepHash bool) string {
		m := map[string]any{"transaction_id": id.String()}
		if keepHash {
			m["hash"] = post["hash"]
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	edited := func(k, old, new string) string {
		s := stored(k)
		if !strings.Contains(s, old) {
			t.Fatalf("%s: %q not in %s", k, old, s)
		}
		return strings.Replace(s, old, new, 1)
	}
	for _, c := range []struct{ name, key, response string }{
		{"missing transaction", "k-post", repoint(uuid.New(), false)},
		{"another principal's transaction", "k-post", repoint(theirs.ID, false)},
		{"another transaction, hash kept", "k-post", repoint(mine.ID, true)},
		{"edited stored reversal", "k-rev", edited("k-rev", `"why":"test"`, `"why":"else"`)},
		{"edited stored batch", "k-batch", edited("k-batch", `"kind":"transfer"`, `"kind":"transfex"`)},
	} {
		orig := stored(c.key)
		exec(t, pool, `UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2`, province.ID(), c.key, c.response)
		ps := problemsOf(t, l, "idempotency_result")
		if len(ps) != 1 || ps[0].Table != "idempotency_keys" || ps[0].Row != province.ID()+"/"+c.key {
			t.Fatalf("%s: %+v", c.name, ps)
		}
		t.Logf("%s: %s", c.name, ps[0].Detail)
		exec(t, pool, `UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2`, province.ID(), c.key, orig)
		wantClean(t, l)
	}
	// A result edited into another form is not followed by a replay.
	orig := stored("k-post")
	exec(t, pool, `UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2`, province.ID(), "k-post",
		`{"transaction_id":"`+theirs.ID.String()+`","note":"x"}`)
	if got, replayed, err := l.Post(ctx, province, "k-post", ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")}); err == nil {
		t.Fatalf("replay followed an edited result: %+v %v", got, replayed)
	}
	exec(t, pool, `UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2`, province.ID(), "k-post", orig)
	if _, replayed, err := l.Post(ctx, province, "k-post", ledger.TxInput{Kind: "transfer", Postings: legs(ids[0], "-1", ids[1], "1")}); err != nil || !replayed {
		t.Fatalf("replay: %v %v", replayed, err)
	}
	wantClean(t, l)
}
