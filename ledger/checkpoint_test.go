package ledger_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

type cpWorld struct {
	pool *pgxpool.Pool
	l    *ledger.Ledger
	priv ed25519.PrivateKey
	kid  string
	keys map[string]ed25519.PublicKey
	a, b string // two org money accounts
	txs  []uuid.UUID
}

// newCPWorld: a fresh database (the tests tamper with it), two funded
// accounts and a few transfers between them.
func newCPWorld(t *testing.T) *cpWorld {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := &cpWorld{pool: ledgertest.Fresh(t), priv: priv, kid: "test-kid", keys: map[string]ed25519.PublicKey{"test-kid": pub}}
	w.l = ledgertest.Ledger(t, w.pool, ledger.Options{CheckpointKeys: w.keys})
	ids := fund(t, w.l, "100", "A", "B")
	w.a, w.b = ids[0], ids[1]
	for i, amt := range []string{"10", "5", "2"} {
		tx, _, err := w.l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Metadata: map[string]string{"ref": "t" + string(rune('1'+i))},
			Postings: legs(w.a, "-"+amt, w.b, amt)})
		if err != nil {
			t.Fatal(err)
		}
		w.txs = append(w.txs, tx.ID)
	}
	return w
}

func (w *cpWorld) checkpoint(t *testing.T) *ledger.Checkpoint {
	t.Helper()
	cp, err := w.l.Checkpoint(ctx, w.priv, w.kid)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (w *cpWorld) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := w.pool.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// wantCheckpointProblem asserts that both VerifyCheckpoints and VerifyAll
// report a checkpoint problem in table naming every part of want.
func (w *cpWorld) wantCheckpointProblem(t *testing.T, table string, want ...string) {
	t.Helper()
	rep, err := w.l.VerifyCheckpoints(ctx, w.keys)
	if err != nil {
		t.Fatal(err)
	}
	all, err := w.l.VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all.Problems {
		t.Logf("VerifyAll: %s %s %s: %s", p.Kind, p.Table, p.Row, p.Detail)
	}
	for name, r := range map[string]*ledger.VerifyReport{"VerifyCheckpoints": rep, "VerifyAll": all} {
		found := false
		for _, p := range r.Problems {
			ok := p.Kind == "checkpoint" && p.Table == table
			for _, s := range want {
				ok = ok && strings.Contains(p.Detail+" "+p.Row, s)
			}
			found = found || ok
		}
		if r.OK || !found {
			t.Errorf("%s: no checkpoint problem in %s naming %q: %+v", name, table, want, r.Problems)
		}
	}
}

func TestCheckpointRecordsRootAndOnlyChangedHeads(t *testing.T) {
	w := newCPWorld(t)
	cp1 := w.checkpoint(t)
	rep := mustVerify(t, w.l)
	st := cp1.Statement
	if cp1.Number != 1 || st.Prev != "" || st.ChainRoot != rep.Root || st.Transactions != rep.Transactions || st.Postings != rep.Postings || st.Chains != rep.Chains {
		t.Fatalf("checkpoint 1 %+v does not match verify %+v", st, rep)
	}
	if st.HeadsChanged != st.Chains {
		t.Fatalf("the first checkpoint records every chain: %d of %d", st.HeadsChanged, st.Chains)
	}
	// Nothing moved: the next checkpoint records no heads but the same root.
	cp2 := w.checkpoint(t)
	if cp2.Number != 2 || cp2.Statement.Prev != cp1.Hash || cp2.Statement.HeadsChanged != 0 || cp2.Statement.ChainRoot != st.ChainRoot {
		t.Fatalf("checkpoint 2: %+v (1: %s)", cp2.Statement, cp1.Hash)
	}
	// One transfer moves two chains.
	if _, _, err := w.l.Post(ctx, province, key(), ledger.TxInput{Kind: "transfer", Postings: legs(w.a, "-1", w.b, "1")}); err != nil {
		t.Fatal(err)
	}
	cp3 := w.checkpoint(t)
	rep = mustVerify(t, w.l)
	if cp3.Statement.HeadsChanged != 2 || cp3.Statement.ChainRoot != rep.Root {
		t.Fatalf("checkpoint 3: %+v, verify root %s", cp3.Statement, rep.Root)
	}
	// Signed as a JWS over the published signing input.
	if err := ledger.VerifyCheckpoint(cp3, w.keys[w.kid]); err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(cp3.JWS, "."); len(parts) != 3 || parts[0]+"."+parts[1] != cp3.SigningInput {
		t.Fatalf("jws %q", cp3.JWS)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(cp3.SigningInput, ".")[0])
	if string(hdr) != `{"alg":"EdDSA","kid":"test-kid","typ":"carbonledger-checkpoint+json"}` {
		t.Fatalf("header %s", hdr)
	}
	// Not due: a younger checkpoint exists.
	if cp, err := w.l.CheckpointIfDue(ctx, w.priv, w.kid, time.Hour); err != nil || cp != nil {
		t.Fatalf("not due, got %+v %v", cp, err)
	}
	clean, err := w.l.VerifyAll(ctx, nil)
	if err != nil || !clean.OK {
		t.Fatalf("clean ledger: %+v %v", clean, err)
	}
	page, err := w.l.ListCheckpoints(ctx, 2, "")
	if err != nil || len(page.Items) != 2 || page.Items[0].Number != 3 || page.NextCursor == "" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = w.l.ListCheckpoints(ctx, 2, page.NextCursor)
	if err != nil || len(page.Items) != 1 || page.Items[0].Number != 1 || page.NextCursor != "" {
		t.Fatalf("page 2: %+v %v", page, err)
	}
}

// (a) The point of checkpoints: the newest transaction deleted with its
// postings and its accounts rolled back consistently passes Verify, but
// not the checkpoint that covered it.
func TestCheckpointCatchesCutAtTheEnd(t *testing.T) {
	w := newCPWorld(t)
	w.checkpoint(t)
	newest := w.txs[len(w.txs)-1]
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		for _, acct := range []string{w.a, w.b} {
			if _, err := tx.Exec(ctx, `
				UPDATE accounts SET seq = seq - 1,
				       balance = (SELECT p.balance_after FROM postings p WHERE p.account_id = $1 AND p.seq = accounts.seq - 1),
				       head_hash = (SELECT p.chain_hash FROM postings p WHERE p.account_id = $1 AND p.seq = accounts.seq - 1)
				WHERE id = $1`, acct); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM postings WHERE tx_id = $1`, newest); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM transactions WHERE id = $1`, newest)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The engine's own verification is satisfied: the cut is consistent.
	mustVerify(t, w.l)
	w.wantCheckpointProblem(t, "postings", "checkpoint 1", "chain "+w.a, "no longer has it")
	w.wantCheckpointProblem(t, "transactions", "checkpoint 1", "deleted")
}

// (b) An older posting's transaction rewritten together with both chains
// from there on, every hash recomputed with the engine's own functions:
// Verify is satisfied, the checkpoint is not.
func TestCheckpointCatchesRewrittenChain(t *testing.T) {
	w := newCPWorld(t)
	w.checkpoint(t)
	old := w.txs[0]
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE transactions SET metadata = '{"ref": "rewritten"}' WHERE id = $1`, old); err != nil {
			return err
		}
		var h ledger.Transaction
		if err := tx.QueryRow(ctx, `SELECT id, kind, actor, effective_at, created_at, metadata, corrects, resolves, pending, expires_at FROM transactions WHERE id = $1`, old).
			Scan(&h.ID, &h.Kind, &h.Actor, &h.EffectiveAt, &h.CreatedAt, &h.Metadata, &h.Corrects, &h.Resolves, &h.Pending, &h.ExpiresAt); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT account_id, asset, phase, amount::TEXT FROM postings WHERE tx_id = $1 ORDER BY idx`, old)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p ledger.Posting
			var amt string
			if err := rows.Scan(&p.Account, &p.Asset, &p.Phase, &amt); err != nil {
				return err
			}
			p.Amount = decimal.RequireFromString(amt)
			h.Postings = append(h.Postings, p)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE transactions SET hash = $2 WHERE id = $1`, old, h.ComputeHash()); err != nil {
			return err
		}
		for _, acct := range []string{w.a, w.b} {
			if err := rechain(tx, acct); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, w.l)
	w.wantCheckpointProblem(t, "postings", "checkpoint 1", "chain "+w.b, "rewritten")
}

// rechain recomputes an (unsharded) account's whole chain and head.
func rechain(tx pgx.Tx, acct string) error {
	rows, err := tx.Query(ctx, `
		SELECT p.seq, p.idx, p.phase, p.amount::TEXT, p.balance_after::TEXT, p.pending_after::TEXT, t.hash
		FROM postings p JOIN transactions t ON t.id = p.tx_id WHERE p.account_id = $1 ORDER BY p.seq`, acct)
	if err != nil {
		return err
	}
	type row struct {
		seq  int64
		hash []byte
	}
	var out []row
	prev := []byte{}
	for rows.Next() {
		p := ledger.Posting{Account: acct}
		var idx int
		var amt, bal, pend string
		var txHash []byte
		if err := rows.Scan(&p.Seq, &idx, &p.Phase, &amt, &bal, &pend, &txHash); err != nil {
			return err
		}
		p.Amount, p.BalanceAfter, p.PendingAfter = decimal.RequireFromString(amt), decimal.RequireFromString(bal), decimal.RequireFromString(pend)
		prev = ledger.ChainHash(prev, txHash, idx, &p)
		out = append(out, row{p.Seq, prev})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range out {
		if _, err := tx.Exec(ctx, `UPDATE postings SET chain_hash = $3 WHERE account_id = $1 AND seq = $2`, acct, r.seq, r.hash); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `UPDATE accounts SET head_hash = $2 WHERE id = $1`, acct, prev)
	return err
}

// The checkpoints themselves: a forged or edited one, a removed one and
// edited recorded heads are each named.
func TestCheckpointTamperingWithCheckpoints(t *testing.T) {
	w := newCPWorld(t)
	cp1 := w.checkpoint(t)
	w.checkpoint(t)
	w.checkpoint(t)
	// A different key signs nothing we trust.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	rep, err := w.l.VerifyCheckpoints(ctx, map[string]ed25519.PublicKey{w.kid: other.Public().(ed25519.PublicKey)})
	if err != nil || rep.OK || !strings.Contains(rep.Problems[0].Detail, "signature does not verify") {
		t.Fatalf("wrong key: %+v %v", rep, err)
	}
	// Editing the recorded heads of checkpoint 1.
	w.exec(t, `UPDATE checkpoint_heads SET seq = seq + 1 WHERE checkpoint_id = $1 AND account_id = $2`, cp1.ID, w.a)
	w.wantCheckpointProblem(t, "checkpoint_heads", "checkpoint 1", "signed")
	w.exec(t, `UPDATE checkpoint_heads SET seq = seq - 1 WHERE checkpoint_id = $1 AND account_id = $2`, cp1.ID, w.a)
	// Editing a signed body (here: fewer transactions) breaks the signature.
	w.exec(t, `UPDATE checkpoints SET body = replace(body, '"transactions":', '"transactions":1') WHERE number = 3`)
	w.wantCheckpointProblem(t, "checkpoints", "checkpoint 3", "signature")
	// Removing a middle checkpoint leaves a gap.
	w.exec(t, `DELETE FROM checkpoint_heads WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE number = 2)`)
	w.exec(t, `DELETE FROM checkpoint_trail_heads WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE number = 2)`)
	w.exec(t, `DELETE FROM checkpoints WHERE number = 2`)
	w.wantCheckpointProblem(t, "checkpoints", "checkpoint 3", "removed")
}
