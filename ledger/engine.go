package ledger

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// IssuerShards is how many balance rows an issuer account is split into.
// A minting transaction updates one shard chosen at random, so crediting
// a million citizens from one issuer does not queue on one row.
const IssuerShards = 32

// balanceIntegerDigitsMax keeps every balance inside NUMERIC(38,6), so a
// large amount is a clean per-item error, never a database overflow.
const balanceIntegerDigitsMax = 31

var balanceLimit = decimal.New(1, balanceIntegerDigitsMax)

// TransactionsPerBatchMax bounds one call to the engine.
const TransactionsPerBatchMax = 1000

// acctState is an account's lockable balance row as this database
// transaction sees it: the holder row, or the chosen issuer shard.
type acctState struct {
	id      string
	asset   Asset
	issuer  bool // may go negative
	sharded bool // balance row is a shard (issuers and sinks)
	sink    bool // credit-only
	status  string
	shard   int
	balance decimal.Decimal
	pending decimal.Decimal
	seq     int64
	head    []byte
	dirty   bool
}

// applyTransactions locks every account the transactions touch (holder
// rows in id order, then one issuer shard per issuer account in id order,
// so that concurrent writers never deadlock), checks statuses and balances
// in Go, and writes the journal and the new balances in a few set-based
// statements. Each transaction either applies whole or gets its own error
// in errs. With atomic, the first error fails the call and nothing is
// written.
func (l *Ledger) applyTransactions(ctx context.Context, q pgx.Tx, txs []*Transaction, atomic bool) (errs []error, err error) {
	return l.applyWith(ctx, q, txs, atomic, applyHooks{})
}

// applyHooks let a caller ride on the engine's round trips: pre queues
// statements sent in the same pipeline as the lock queries (before them)
// and reads their results, returning errors for items that must not apply
// (skip); post queues statements sent with the journal writes.
type applyHooks struct {
	pre  func(b *pgx.Batch)
	read func(br pgx.BatchResults, errs []error) error
	post func(b *pgx.Batch, errs []error) error
}

func (l *Ledger) applyWith(ctx context.Context, q pgx.Tx, txs []*Transaction, atomic bool, hooks applyHooks) (errs []error, err error) {
	errs = make([]error, len(txs))
	if len(txs) == 0 {
		return errs, nil
	}
	if len(txs) > TransactionsPerBatchMax {
		return nil, Errf(CodeLimitExceeded, "at most %d transactions per batch", TransactionsPerBatchMax)
	}
	holderSet, issuerSet := map[string]bool{}, map[string]bool{}
	for _, t := range txs {
		for _, p := range t.Postings {
			spec, err := ClassifyAccount(p.Account)
			if err != nil {
				return nil, err
			}
			if spec.Sharded() {
				issuerSet[p.Account] = true
			} else {
				holderSet[p.Account] = true
			}
		}
	}
	states := make(map[string]*acctState, len(holderSet)+len(issuerSet))
	// One pipeline: holder rows in id order, one issuer shard per issuer
	// account in id order, then the caller's statements. The caller's reads
	// (idempotency keys) come after the locks on purpose: at READ COMMITTED
	// each statement takes a new snapshot, so a duplicate that waited for
	// the first request's locks sees the key the first request stored.
	b := &pgx.Batch{}
	shard := rand.IntN(IssuerShards)
	if len(holderSet) > 0 {
		b.Queue(`
			SELECT id, asset, issuer, status, balance::TEXT, pending_debits::TEXT, seq, head_hash
			FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, sortedKeys(holderSet))
	}
	if len(issuerSet) > 0 {
		b.Queue(`
			SELECT s.account_id, a.asset, a.issuer, s.balance::TEXT, s.seq, s.head_hash
			FROM issuer_shards s JOIN accounts a ON a.id = s.account_id
			WHERE s.account_id = ANY($1) AND s.shard = $2
			ORDER BY s.account_id FOR UPDATE OF s`, sortedKeys(issuerSet), shard)
	}
	if hooks.pre != nil {
		hooks.pre(b)
	}
	if b.Len() > 0 {
		if err := func() error {
			br := q.SendBatch(ctx, b)
			defer br.Close()
			if len(holderSet) > 0 {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				for rows.Next() {
					var s acctState
					var bal, pend string
					if err := rows.Scan(&s.id, &s.asset, &s.issuer, &s.status, &bal, &pend, &s.seq, &s.head); err != nil {
						rows.Close()
						return err
					}
					s.balance, s.pending = decimal.RequireFromString(bal), decimal.RequireFromString(pend)
					states[s.id] = &s
				}
				if err := rows.Err(); err != nil {
					return err
				}
			}
			if len(issuerSet) > 0 {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				for rows.Next() {
					s := acctState{sharded: true, status: "active", shard: shard, pending: decimal.Zero}
					var bal string
					if err := rows.Scan(&s.id, &s.asset, &s.issuer, &bal, &s.seq, &s.head); err != nil {
						rows.Close()
						return err
					}
					s.balance = decimal.RequireFromString(bal)
					s.sink = !s.issuer
					states[s.id] = &s
				}
				if err := rows.Err(); err != nil {
					return err
				}
			}
			if hooks.read != nil {
				if err := hooks.read(br, errs); err != nil {
					return err
				}
			}
			return br.Close()
		}(); err != nil {
			return nil, err
		}
	}

	// Resolutions and reversals are checked after the locks are held, so a
	// concurrent resolution that committed while we waited is visible.
	if err := l.checkOnce(ctx, q, txs, errs); err != nil {
		return nil, err
	}

	var written []*Transaction
	claimed := map[string]bool{}
	for i, t := range txs {
		if errs[i] == nil {
			for _, k := range onceKeys(t) {
				if claimed[k] {
					errs[i] = Errf(CodeConflict, "the batch resolves or reverses the same transaction twice")
				}
			}
		}
		if errs[i] == nil {
			errs[i] = applyInMemory(t, states)
		}
		if errs[i] == nil {
			for _, k := range onceKeys(t) {
				claimed[k] = true
			}
		}
		if errs[i] != nil {
			if atomic {
				return errs, errs[i]
			}
			continue
		}
		written = append(written, t)
	}
	if len(written) == 0 {
		return errs, nil
	}
	if err := writeJournal(ctx, q, written, states, func(b *pgx.Batch) error {
		if hooks.post != nil {
			return hooks.post(b, errs)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Counted when the database transaction commits (stats.go).
	if tl := tallyOf(q); tl != nil {
		tl.transactions += int64(len(written))
		for _, t := range written {
			tl.postings += int64(len(t.Postings))
		}
	}
	return errs, nil
}

// checkOnce fails resolutions of pending transactions that are already
// resolved and reversals of transactions already reversed, including two
// such items in the same batch.
func (l *Ledger) checkOnce(ctx context.Context, q pgx.Tx, txs []*Transaction, errs []error) error {
	var resolves, reverses, refs []string
	for _, t := range txs {
		if t.Resolves != nil {
			resolves = append(resolves, t.Resolves.String())
		}
		if t.Corrects != nil {
			refs = append(refs, t.Corrects.String())
			if t.Kind == KindReversal {
				reverses = append(reverses, t.Corrects.String())
			}
		}
	}
	if len(resolves) == 0 && len(refs) == 0 {
		return nil
	}
	found := map[string]bool{}
	rows, err := q.Query(ctx, `
		SELECT 'r' || resolves::TEXT FROM transactions WHERE resolves = ANY($1::UUID[])
		UNION ALL
		SELECT 'c' || corrects::TEXT FROM transactions WHERE kind = 'reversal' AND corrects = ANY($2::UUID[])
		UNION ALL
		SELECT 'e' || id::TEXT FROM transactions WHERE id = ANY($3::UUID[])`,
		resolves, reverses, refs)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return err
		}
		found[k] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, t := range txs {
		if errs[i] != nil {
			continue
		}
		switch {
		case t.Resolves != nil && found["r"+t.Resolves.String()]:
			errs[i] = Errf(CodePendingResolved, "pending transaction %s was already posted or voided", t.Resolves)
		case t.Corrects != nil && !found["e"+t.Corrects.String()]:
			errs[i] = Errf(CodeNotFound, "transaction %s to correct does not exist", t.Corrects).At("corrects")
		case t.Kind == KindReversal && t.Corrects != nil && found["c"+t.Corrects.String()]:
			errs[i] = Errf(CodeAlreadyReversed, "transaction %s was already reversed", t.Corrects)
		}
	}
	return nil
}

// onceKeys are the at-most-once claims of a transaction within one call:
// a second resolution or reversal of the same transaction in the same
// batch fails, but only once the first has really applied.
func onceKeys(t *Transaction) []string {
	var ks []string
	if t.Resolves != nil {
		ks = append(ks, "r"+t.Resolves.String())
	}
	if t.Kind == KindReversal && t.Corrects != nil {
		ks = append(ks, "c"+t.Corrects.String())
	}
	return ks
}

// applyInMemory checks t against the locked states and, if it passes,
// assigns positions, balances and chain hashes to its postings and updates
// the states. On error the states are untouched.
func applyInMemory(t *Transaction, states map[string]*acctState) error {
	type change struct {
		bal, pend decimal.Decimal
	}
	next := map[string]*change{}
	for i := range t.Postings {
		p := &t.Postings[i]
		s, ok := states[p.Account]
		if !ok {
			return Errf(CodeAccountNotFound, "account %s does not exist", p.Account)
		}
		if s.asset != p.Asset {
			return Errf(CodeInvalidAccount, "account %s holds %s, not %s", p.Account, s.asset, p.Asset)
		}
		if s.sink && (p.Phase != PhasePosted || !p.Amount.IsPositive()) {
			return Errf(CodeInvalidAccount, "%s is a sink: it only receives, and takes no holds", p.Account)
		}
		if !s.sharded && p.Phase != PhaseRelease {
			overridden := p.Account == t.overFreeze && p.Phase == PhasePosted && p.Amount.IsNegative()
			switch {
			case s.status == "frozen" && !overridden:
				return Errf(CodeAccountFrozen, "account %s is frozen", p.Account)
			case s.status == "closed":
				return Errf(CodeAccountClosed, "account %s is closed", p.Account)
			}
		}
		c, ok := next[p.Account]
		if !ok {
			c = &change{bal: s.balance, pend: s.pending}
			next[p.Account] = c
		}
		switch {
		case p.Phase == PhasePosted:
			c.bal = c.bal.Add(p.Amount)
		case s.sharded:
			// Issuers may go negative; holds do not restrict them.
		case p.Phase == PhaseHold && p.Amount.IsNegative():
			c.pend = c.pend.Sub(p.Amount)
		case p.Phase == PhaseRelease && p.Amount.IsPositive():
			c.pend = c.pend.Sub(p.Amount)
			if c.pend.IsNegative() {
				return Errf(CodeInternal, "release of account %s exceeds its holds", p.Account)
			}
		}
		if c.bal.Abs().Cmp(balanceLimit) >= 0 || c.pend.Cmp(balanceLimit) >= 0 {
			return Errf(CodeInvalidAmount, "the balance of %s would leave the supported range (%d integer digits)", p.Account, balanceIntegerDigitsMax)
		}
		if !s.sharded && c.bal.Sub(c.pend).IsNegative() {
			return &Error{Code: CodeInsufficientBalance, Msg: "insufficient available balance in " + p.Account,
				Detail: map[string]string{"account": p.Account, "available": FormatAmount(s.asset, s.balance.Sub(s.pending))}}
		}
	}
	t.Hash = t.computeHash()
	for i := range t.Postings {
		p := &t.Postings[i]
		s := states[p.Account]
		switch {
		case p.Phase == PhasePosted:
			s.balance = s.balance.Add(p.Amount)
		case s.sharded:
		case p.Phase == PhaseHold && p.Amount.IsNegative():
			s.pending = s.pending.Sub(p.Amount)
		case p.Phase == PhaseRelease && p.Amount.IsPositive():
			s.pending = s.pending.Sub(p.Amount)
		}
		s.seq++
		s.dirty = true
		p.Shard, p.Seq, p.BalanceAfter, p.PendingAfter = s.shard, s.seq, s.balance, s.pending
		p.ChainHash = chainHash(s.head, t.Hash, i, p)
		s.head = p.ChainHash
	}
	return nil
}

func writeJournal(ctx context.Context, q pgx.Tx, txs []*Transaction, states map[string]*acctState, more func(*pgx.Batch) error) error {
	n := len(txs)
	var (
		ids, kinds, actors, metas, corrects, resolves, expires = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		effs, creates                                          = make([]time.Time, n), make([]time.Time, n)
		pendings                                               = make([]bool, n)
		hashes                                                 = make([][]byte, n)
	)
	var (
		pAcct, pTx, pAsset, pPhase, pAmt, pBal, pPend []string
		pShard, pIdx                                  []int64
		pSeq                                          []int64
		pHash                                         [][]byte
		pCreated                                      []time.Time
	)
	for i, t := range txs {
		ids[i], kinds[i], actors[i] = t.ID.String(), t.Kind, t.Actor
		m, _ := json.Marshal(t.Metadata)
		metas[i] = string(m)
		corrects[i], resolves[i] = optIDText(t.Corrects), optIDText(t.Resolves)
		if t.ExpiresAt != nil {
			expires[i] = t.ExpiresAt.Format(time.RFC3339Nano)
		}
		effs[i], creates[i], pendings[i], hashes[i] = t.EffectiveAt, t.CreatedAt, t.Pending, t.Hash
		for j, p := range t.Postings {
			pAcct = append(pAcct, p.Account)
			pShard = append(pShard, int64(p.Shard))
			pSeq = append(pSeq, p.Seq)
			pTx = append(pTx, ids[i])
			pIdx = append(pIdx, int64(j))
			pAsset = append(pAsset, string(p.Asset))
			pPhase = append(pPhase, string(p.Phase))
			pAmt = append(pAmt, p.Amount.String())
			pBal = append(pBal, p.BalanceAfter.String())
			pPend = append(pPend, p.PendingAfter.String())
			pHash = append(pHash, p.ChainHash)
			pCreated = append(pCreated, t.CreatedAt)
		}
	}
	var hID, hBal, hPend []string
	var hSeq []int64
	var hHead [][]byte
	var sID, sBal []string
	var sShard []int64
	var sSeq []int64
	var sHead [][]byte
	for _, s := range states {
		if !s.dirty {
			continue
		}
		if s.sharded {
			sID, sShard, sBal, sSeq, sHead = append(sID, s.id), append(sShard, int64(s.shard)), append(sBal, s.balance.String()), append(sSeq, s.seq), append(sHead, s.head)
		} else {
			hID, hBal, hPend, hSeq, hHead = append(hID, s.id), append(hBal, s.balance.String()), append(hPend, s.pending.String()), append(hSeq, s.seq), append(hHead, s.head)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO transactions (id, kind, actor, effective_at, created_at, metadata, corrects, resolves, pending, expires_at, hash)
		SELECT id::UUID, kind, actor, eff, created, meta::JSONB, NULLIF(corr, '')::UUID, NULLIF(res, '')::UUID, pend, NULLIF(exp, '')::TIMESTAMPTZ, hash
		FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TIMESTAMPTZ[], $5::TIMESTAMPTZ[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BOOL[], $10::TEXT[], $11::BYTEA[])
		AS v(id, kind, actor, eff, created, meta, corr, res, pend, exp, hash)`,
		ids, kinds, actors, effs, creates, metas, corrects, resolves, pendings, expires, hashes)
	b.Queue(`
		INSERT INTO postings (account_id, shard, seq, tx_id, idx, asset, phase, amount, balance_after, pending_after, chain_hash, created_at)
		SELECT acct, shard, seq, tx::UUID, idx, asset, phase, amt::NUMERIC, bal::NUMERIC, pend::NUMERIC, hash, created
		FROM unnest($1::TEXT[], $2::INT8[], $3::INT8[], $4::TEXT[], $5::INT8[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::BYTEA[], $12::TIMESTAMPTZ[])
		AS v(acct, shard, seq, tx, idx, asset, phase, amt, bal, pend, hash, created)`,
		pAcct, pShard, pSeq, pTx, pIdx, pAsset, pPhase, pAmt, pBal, pPend, pHash, pCreated)
	if len(hID) > 0 {
		b.Queue(`
			UPDATE accounts SET balance = v.bal::NUMERIC, pending_debits = v.pend::NUMERIC, seq = v.seq, head_hash = v.head
			FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::INT8[], $5::BYTEA[]) AS v(id, bal, pend, seq, head)
			WHERE accounts.id = v.id`, hID, hBal, hPend, hSeq, hHead)
	}
	if len(sID) > 0 {
		b.Queue(`
			UPDATE issuer_shards SET balance = v.bal::NUMERIC, seq = v.seq, head_hash = v.head
			FROM unnest($1::TEXT[], $2::INT8[], $3::TEXT[], $4::INT8[], $5::BYTEA[]) AS v(id, shard, bal, seq, head)
			WHERE issuer_shards.account_id = v.id AND issuer_shards.shard = v.shard`, sID, sShard, sBal, sSeq, sHead)
	}
	var expID, resID []string
	var expAt []time.Time
	for _, t := range txs {
		if t.Pending && t.ExpiresAt != nil {
			expID, expAt = append(expID, t.ID.String()), append(expAt, *t.ExpiresAt)
		}
		if t.Resolves != nil {
			resID = append(resID, t.Resolves.String())
		}
	}
	if len(expID) > 0 {
		b.Queue(`INSERT INTO pending_expiries (tx_id, expires_at) SELECT id::UUID, at FROM unnest($1::TEXT[], $2::TIMESTAMPTZ[]) AS v(id, at)`, expID, expAt)
	}
	if len(resID) > 0 {
		b.Queue(`DELETE FROM pending_expiries WHERE tx_id = ANY($1::UUID[])`, resID)
	}
	// The feed's outbox: one event per journal transaction, in the same
	// round trip and the same database transaction (feed.go).
	queueEvents(q, b, transactionEvents(txs))
	if err := more(b); err != nil {
		return err
	}
	return q.SendBatch(ctx, b).Close()
}

func optIDText(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
