package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// VerifyProblemsMax bounds the report; counting goes on past it.
const VerifyProblemsMax = 1000

// Problem is one mismatch found by Verify, precise enough to act on.
type Problem struct {
	Kind    string `json:"kind"`               // transaction_hash, unbalanced, chain_hash, sequence_gap, balance_after, account_state, asset_sum, trail_chain, account_status, idempotency_result, record_hash, …
	UseCase string `json:"use_case,omitempty"` // the use case whose check found it; empty for the engine's own
	Table   string `json:"table,omitempty"`    // the table holding the row at fault
	Row     string `json:"row,omitempty"`      // the row's key in that table
	Account string `json:"account,omitempty"`
	Shard   int    `json:"shard,omitempty"`
	Seq     int64  `json:"seq,omitempty"`
	TxID    string `json:"transaction_id,omitempty"`
	Detail  string `json:"detail"`
}

// VerifyReport is the result of recomputing the ledger from its journal.
type VerifyReport struct {
	OK            bool              `json:"ok"`
	Transactions  int64             `json:"transactions"`
	Postings      int64             `json:"postings"`
	Chains        int64             `json:"chains"`
	TrailEvents   int64             `json:"trail_events"`
	ProblemsTotal int64             `json:"problems_total"`
	Problems      []Problem         `json:"problems"`
	AssetTotals   map[Asset]string  `json:"asset_totals"`
	Root          string            `json:"root"` // digest of every chain head: publish it to anchor the journal
	Duration      string            `json:"duration"`
	Notes         map[string]string `json:"notes,omitempty"`
}

func (r *VerifyReport) add(p Problem) {
	r.ProblemsTotal++
	if len(r.Problems) < VerifyProblemsMax {
		r.Problems = append(r.Problems, p)
	}
}

// Verify recomputes every transaction hash, every per-account hash chain
// and balance from the postings, and the per-asset totals, and compares
// them with what is stored. It reads a consistent snapshot.
func (l *Ledger) Verify(ctx context.Context) (*VerifyReport, error) {
	rep, err := l.verify(ctx)
	return rep, translate(err)
}

func (l *Ledger) verify(ctx context.Context) (*VerifyReport, error) {
	start := time.Now()
	rep := &VerifyReport{Problems: []Problem{}, AssetTotals: map[Asset]string{}}
	tx, err := l.pool.BeginTx(ctx, readSnapshot)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only

	v := &verifyRun{ctx: ctx, tx: tx, rep: rep, scales: l.AssetScale}
	if err := v.checkTransactions(); err != nil {
		return nil, err
	}
	if err := v.checkChains(); err != nil {
		return nil, err
	}
	if err := v.checkStateWithoutJournal(); err != nil {
		return nil, err
	}
	v.checkAssetSums()
	rep.Root = hex.EncodeToString(headsDigest(v.heads))
	rep.OK = rep.ProblemsTotal == 0
	rep.Duration = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

// verifyRun carries one Verify through its stages: every stage reads the
// same snapshot (tx) and adds to the same report; the chain stage also
// leaves the per-asset totals and the root digest for the end.
type verifyRun struct {
	ctx    context.Context
	tx     pgx.Tx
	rep    *VerifyReport
	totals map[Asset]decimal.Decimal
	heads  []headLine // for the root: sorted in Go, so it does not depend on the collation
	scales scaleOf
}

// checkTransactions is stage 1: transactions, their content hash and
// balance per asset and phase. The postings arrive joined to their
// transaction, in order, so a transaction is checked when the next begins.
func (v *verifyRun) checkTransactions() error {
	rows, err := v.tx.Query(v.ctx, `
		SELECT t.id, t.kind, t.actor, t.effective_at, t.created_at, t.metadata, t.corrects, t.resolves, t.pending, t.expires_at, t.hash,
		       p.account_id, p.asset, p.phase, p.amount::TEXT, p.idx
		FROM transactions t LEFT JOIN postings p ON p.tx_id = t.id
		ORDER BY t.id, p.idx`)
	if err != nil {
		return err
	}
	var cur *Transaction
	for rows.Next() {
		var t Transaction
		var meta map[string]string
		var acct, asset, phase, amount *string
		var idx *int
		if err := rows.Scan(&t.ID, &t.Kind, &t.Actor, &t.EffectiveAt, &t.CreatedAt, &meta, &t.Corrects, &t.Resolves, &t.Pending, &t.ExpiresAt, &t.Hash,
			&acct, &asset, &phase, &amount, &idx); err != nil {
			rows.Close()
			return err
		}
		if cur == nil || cur.ID != t.ID {
			v.finishTx(cur)
			t.Metadata = meta
			cur = &t
		}
		if acct != nil {
			a := Asset(*asset)
			amt, err := decimal.NewFromString(*amount)
			if err != nil {
				rows.Close()
				return err
			}
			if checkScaleOf(v.scales, a, amt) != nil {
				v.rep.add(Problem{Kind: "amount_scale", Account: *acct, TxID: t.ID.String(),
					Detail: fmt.Sprintf("amount %s has more decimals than %s allows", amt, a)})
			}
			cur.Postings = append(cur.Postings, Posting{Account: *acct, Asset: a, Phase: Phase(*phase), Amount: amt})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	v.finishTx(cur)
	return nil
}

// finishTx checks one transaction read in full (none when cur is nil).
func (v *verifyRun) finishTx(cur *Transaction) {
	if cur == nil {
		return
	}
	rep := v.rep
	rep.Transactions++
	if got := cur.computeHash(); !bytes.Equal(got, cur.Hash) {
		rep.add(Problem{Kind: "transaction_hash", TxID: cur.ID.String(), Detail: "stored hash does not match the transaction's header and postings: they were changed, added or removed"})
	}
	sums := map[string]decimal.Decimal{}
	for _, p := range cur.Postings {
		k := string(p.Asset) + "/" + string(p.Phase)
		sums[k] = sums[k].Add(p.Amount)
	}
	for k, s := range sums {
		if !s.IsZero() {
			rep.add(Problem{Kind: "unbalanced", TxID: cur.ID.String(), Detail: fmt.Sprintf("%s postings sum to %s", k, s)})
		}
	}
}

// verifyChain is one account's (or issuer shard's) chain as Verify replays
// it: what the journal adds up to so far, and the stored state (st*) to
// compare it with at the end.
type verifyChain struct {
	account       string
	shard         int
	asset         Asset
	issuer        bool
	seq           int64
	bal, pend     decimal.Decimal
	head          []byte
	stBal, stPend string
	stSeq         int64
	stHead        []byte
}

// checkChains is stage 2: chains, per account and shard, in sequence
// order. Each posting is checked against the chain replayed so far; a
// chain is checked against its stored state when the next one begins.
func (v *verifyRun) checkChains() error {
	rows, err := v.tx.Query(v.ctx, `
		SELECT p.account_id, p.shard, p.seq, p.tx_id, p.idx, p.asset, p.phase, p.amount::TEXT, p.balance_after::TEXT, p.pending_after::TEXT,
		       p.chain_hash, t.hash, a.sharded,
		       COALESCE(s.balance, a.balance)::TEXT, a.pending_debits::TEXT, COALESCE(s.seq, a.seq), COALESCE(s.head_hash, a.head_hash)
		FROM postings p
		JOIN transactions t ON t.id = p.tx_id
		JOIN accounts a ON a.id = p.account_id
		LEFT JOIN issuer_shards s ON a.sharded AND s.account_id = p.account_id AND s.shard = p.shard
		ORDER BY p.account_id, p.shard, p.seq`)
	if err != nil {
		return err
	}
	v.totals = map[Asset]decimal.Decimal{}
	var c *verifyChain
	for rows.Next() {
		var r chainRow
		p := &r.p
		if err := rows.Scan(&p.Account, &p.Shard, &p.Seq, &r.txID, &r.idx, &p.Asset, &p.Phase, &r.amt, &r.balAfter, &r.pendAfter,
			&p.ChainHash, &r.txHash, &r.issuer, &r.stBal, &r.stPend, &r.stSeq, &r.stHead); err != nil {
			rows.Close()
			return err
		}
		v.rep.Postings++
		if c == nil || c.account != p.Account || c.shard != p.Shard {
			v.finishChain(c)
			c = &verifyChain{account: p.Account, shard: p.Shard, asset: p.Asset, issuer: r.issuer, head: []byte{},
				stBal: r.stBal, stPend: r.stPend, stSeq: r.stSeq, stHead: r.stHead}
		}
		v.checkPosting(c, &r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	v.finishChain(c)
	return nil
}

// chainRow is one row of the chain stage's query: a posting with its
// transaction's hash and its account's (or shard's) stored state.
type chainRow struct {
	p                                       Posting
	txID                                    uuid.UUID
	idx                                     int
	amt, balAfter, pendAfter, stBal, stPend string
	txHash, stHead                          []byte
	issuer                                  bool
	stSeq                                   int64
}

// checkPosting replays the posting of row r onto chain c and checks its
// sequence, its stored balance_after and pending_after, and its chain hash.
func (v *verifyRun) checkPosting(c *verifyChain, r *chainRow) {
	rep, p, txID, issuer := v.rep, &r.p, r.txID, r.issuer
	if p.Seq != c.seq+1 {
		rep.add(Problem{Kind: "sequence_gap", Account: p.Account, Shard: p.Shard, Seq: p.Seq, TxID: txID.String(),
			Detail: fmt.Sprintf("expected seq %d: postings were removed or inserted", c.seq+1)})
	}
	c.seq = p.Seq
	p.Amount, _ = decimal.NewFromString(r.amt)
	switch {
	case p.Phase == PhasePosted:
		c.bal = c.bal.Add(p.Amount)
	case issuer:
	case p.Phase == PhaseHold && p.Amount.IsNegative():
		c.pend = c.pend.Sub(p.Amount)
	case p.Phase == PhaseRelease && p.Amount.IsPositive():
		c.pend = c.pend.Sub(p.Amount)
	}
	storedBal, _ := decimal.NewFromString(r.balAfter)
	storedPend, _ := decimal.NewFromString(r.pendAfter)
	if !storedBal.Equal(c.bal) || !storedPend.Equal(c.pend) {
		rep.add(Problem{Kind: "balance_after", Account: p.Account, Shard: p.Shard, Seq: p.Seq, TxID: txID.String(),
			Detail: fmt.Sprintf("stored balance_after %s pending_after %s, recomputed %s %s", storedBal, storedPend, c.bal, c.pend)})
	}
	if !issuer && c.bal.Sub(c.pend).IsNegative() {
		rep.add(Problem{Kind: "negative_balance", Account: p.Account, Seq: p.Seq, TxID: txID.String(),
			Detail: fmt.Sprintf("holder available balance went to %s", c.bal.Sub(c.pend))})
	}
	p.BalanceAfter, p.PendingAfter = storedBal, storedPend
	want := chainHash(c.head, r.txHash, r.idx, p)
	if !bytes.Equal(want, p.ChainHash) {
		rep.add(Problem{Kind: "chain_hash", Account: p.Account, Shard: p.Shard, Seq: p.Seq, TxID: txID.String(),
			Detail: "posting does not match its chain hash: it was changed after it was written"})
	}
	c.head = p.ChainHash
}

// finishChain adds a chain replayed in full (none when c is nil) to the
// asset totals and the root, and compares it with its stored state.
func (v *verifyRun) finishChain(c *verifyChain) {
	if c == nil {
		return
	}
	v.rep.Chains++
	v.totals[c.asset] = v.totals[c.asset].Add(c.bal)
	v.heads = append(v.heads, headLine{headKey: headKey{chain: true, a: c.account, shard: int64(c.shard)}, seq: c.seq, hash: c.head})
	stBal, _ := decimal.NewFromString(c.stBal)
	stPend, _ := decimal.NewFromString(c.stPend)
	if c.issuer {
		stPend = decimal.Zero
	}
	if !stBal.Equal(c.bal) || !stPend.Equal(c.pend) || c.stSeq != c.seq || !bytes.Equal(c.stHead, c.head) {
		v.rep.add(Problem{Kind: "account_state", Account: c.account, Shard: c.shard, Seq: c.seq,
			Detail: fmt.Sprintf("stored balance %s pending %s seq %d head %x differ from the journal's balance %s pending %s seq %d head %x",
				stBal, stPend, c.stSeq, shortHash(c.stHead), c.bal, c.pend, c.seq, shortHash(c.head))})
	}
}

// checkStateWithoutJournal is stage 3: stored state with no journal behind
// it, which the chain stage cannot see since it starts from the postings.
func (v *verifyRun) checkStateWithoutJournal() error {
	rows, err := v.tx.Query(v.ctx, `
		SELECT a.id, 0, a.balance::TEXT, a.seq FROM accounts a
		WHERE NOT a.sharded AND (a.balance <> 0 OR a.pending_debits <> 0 OR a.seq <> 0)
		  AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.account_id = a.id)
		UNION ALL
		SELECT s.account_id, s.shard, s.balance::TEXT, s.seq FROM issuer_shards s
		WHERE (s.balance <> 0 OR s.seq <> 0)
		  AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.account_id = s.account_id AND p.shard = s.shard)`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, bal string
		var shard int
		var seq int64
		if err := rows.Scan(&id, &shard, &bal, &seq); err != nil {
			rows.Close()
			return err
		}
		v.rep.add(Problem{Kind: "account_state", Account: id, Shard: shard, Seq: seq,
			Detail: fmt.Sprintf("stored balance %s at seq %d but the journal has no postings for it", bal, seq)})
	}
	return rows.Err()
}

// checkAssetSums reports every asset whose balances do not sum to zero:
// each posted leg has its opposite, so anything else was changed.
func (v *verifyRun) checkAssetSums() {
	for a, s := range v.totals {
		v.rep.AssetTotals[a] = s.String()
		if !s.IsZero() {
			v.rep.add(Problem{Kind: "asset_sum", Detail: fmt.Sprintf("balances of %s sum to %s, not zero", a, s)})
		}
	}
}

func shortHash(b []byte) []byte {
	if len(b) > 6 {
		return b[:6]
	}
	return b
}
