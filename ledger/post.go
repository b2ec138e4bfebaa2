package ledger

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"
)

// Transaction kinds the engine itself creates.
const (
	KindReversal    = "reversal"
	KindPendingPost = "pending.post"
	KindPendingVoid = "pending.void"
)

// Actor is who asks for a change; it is recorded on every transaction.
type Actor struct {
	Sub  string
	Role string
	Org  string
	City string
}

// ID is the actor as recorded in the journal and as idempotency scope.
func (a Actor) ID() string { return a.Role + ":" + a.Sub }

// SystemActor records changes made by background jobs.
var SystemActor = Actor{Sub: "system", Role: "system"}

// querier is what read helpers need: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Post validates and writes one transaction, once per idempotency key.
func (l *Ledger) Post(ctx context.Context, actor Actor, key string, in TxInput) (*Transaction, bool, error) {
	return runOp(ctx, l, Key{actor.ID(), key}, "transaction.post", in, func(tx pgx.Tx) (*Transaction, error) {
		t, err := NewTransaction(in, actor.ID(), l.now())
		if err != nil {
			return nil, err
		}
		if _, err := l.applyTransactions(ctx, tx, []*Transaction{t}, true); err != nil {
			return nil, err
		}
		return t, nil
	})
}

// BatchResult is one item's outcome.
type BatchResult struct {
	Index       int          `json:"index"`
	Transaction *Transaction `json:"transaction,omitempty"`
	Err         *Error       `json:"-"`
	Replayed    bool         `json:"replayed"`
}

// PostBatchAtomic writes all transactions or none, once per key.
func (l *Ledger) PostBatchAtomic(ctx context.Context, actor Actor, key string, items []TxInput) ([]*Transaction, bool, error) {
	if len(items) == 0 || len(items) > TransactionsPerBatchMax {
		return nil, false, Errf(CodeLimitExceeded, "a batch has 1 to %d items", TransactionsPerBatchMax).At("items")
	}
	return runOp(ctx, l, Key{actor.ID(), key}, "transaction.batch.atomic", items, func(tx pgx.Tx) ([]*Transaction, error) {
		txs := make([]*Transaction, len(items))
		for i, in := range items {
			t, err := NewTransaction(in, actor.ID(), l.now())
			if err != nil {
				return nil, itemErr(i, err)
			}
			txs[i] = t
		}
		errs, err := l.applyTransactions(ctx, tx, txs, true)
		if err != nil {
			for i, e := range errs {
				if e != nil {
					return nil, itemErr(i, e)
				}
			}
			return nil, err
		}
		return txs, nil
	})
}

func itemErr(i int, err error) error {
	e, ok := AsError(err)
	if !ok {
		return err
	}
	field := "items[" + strconv.Itoa(i) + "]"
	if e.Field != "" {
		field += "." + e.Field
	}
	return e.At(field)
}

// PostBatch writes independent transactions in one database transaction,
// each under its own key (key + "/" + index) with its own result: a bad
// item does not stop the others, and replaying the batch replays each item.
func (l *Ledger) PostBatch(ctx context.Context, actor Actor, key string, items []TxInput) ([]BatchResult, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if len(items) == 0 || len(items) > TransactionsPerBatchMax {
		return nil, Errf(CodeLimitExceeded, "a batch has 1 to %d items", TransactionsPerBatchMax).At("items")
	}
	keys := make([]string, len(items))
	hashes := make([][]byte, len(items))
	for i, in := range items {
		keys[i] = key + "/" + strconv.Itoa(i)
		hashes[i] = requestHash("transaction.post", in)
	}
	scope := actor.ID()
	var results []BatchResult
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		results = make([]BatchResult, len(items))
		stored := map[string]storedKey{}
		rows, err := tx.Query(ctx, `SELECT key, request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = ANY($2)`, scope, keys)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k, resp string
			var h []byte
			if err := rows.Scan(&k, &h, &resp); err != nil {
				rows.Close()
				return err
			}
			stored[k] = storedKey{hash: h, response: resp}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var txs []*Transaction
		var idx []int
		for i, in := range items {
			results[i].Index = i
			if s, ok := stored[keys[i]]; ok {
				var t Transaction
				if err := s.decode(hashes[i], keys[i], &t); err != nil {
					results[i].Err, _ = AsError(err)
					if results[i].Err == nil {
						return err
					}
					continue
				}
				results[i].Transaction, results[i].Replayed = &t, true
				continue
			}
			t, err := NewTransaction(in, scope, l.now())
			if err != nil {
				results[i].Err, _ = AsError(err)
				continue
			}
			txs, idx = append(txs, t), append(idx, i)
		}
		errs, err := l.applyTransactions(ctx, tx, txs, false)
		if err != nil {
			return err
		}
		var kKeys, kResp []string
		var kHash [][]byte
		for j, t := range txs {
			i := idx[j]
			if errs[j] != nil {
				e, ok := AsError(errs[j])
				if !ok {
					return errs[j]
				}
				results[i].Err = e
				continue
			}
			results[i].Transaction = t
			body, err := jsonString(t)
			if err != nil {
				return err
			}
			kKeys, kResp, kHash = append(kKeys, keys[i]), append(kResp, body), append(kHash, hashes[i])
		}
		if len(kKeys) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO idempotency_keys (scope, key, request_hash, response)
			SELECT $1, k, h, r FROM unnest($2::TEXT[], $3::BYTEA[], $4::TEXT[]) AS v(k, h, r)
			ON CONFLICT (scope, key) DO NOTHING`, scope, kKeys, kHash, kResp)
		if err != nil {
			return err
		}
		if int(tag.RowsAffected()) != len(kKeys) {
			return errRetry
		}
		return nil
	})
	return results, err
}

// PostPending posts a pending transaction: its holds are released and the
// same amounts move for real, at most once.
func (l *Ledger) PostPending(ctx context.Context, actor Actor, key string, id uuid.UUID) (*Transaction, bool, error) {
	return l.resolve(ctx, actor, key, id, true)
}

// VoidPending voids a pending transaction: its holds are released.
func (l *Ledger) VoidPending(ctx context.Context, actor Actor, key string, id uuid.UUID) (*Transaction, bool, error) {
	return l.resolve(ctx, actor, key, id, false)
}

func (l *Ledger) resolve(ctx context.Context, actor Actor, key string, id uuid.UUID, post bool) (*Transaction, bool, error) {
	op := "transaction.void"
	if post {
		op = "transaction.post_pending"
	}
	return runOp(ctx, l, Key{actor.ID(), key}, op, id, func(tx pgx.Tx) (*Transaction, error) {
		return l.resolveInTx(ctx, tx, actor, id, post)
	})
}

// resolveInTx builds and applies the resolution of a pending transaction
// inside the caller's database transaction (trades use it to settle).
func (l *Ledger) resolveInTx(ctx context.Context, tx pgx.Tx, actor Actor, id uuid.UUID, post bool) (*Transaction, error) {
	p, err := loadTransaction(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	t, err := buildResolution(p, post, actor.ID(), l.now())
	if err != nil {
		return nil, err
	}
	if _, err := l.applyTransactions(ctx, tx, []*Transaction{t}, true); err != nil {
		return nil, err
	}
	return t, nil
}

func buildResolution(p *Transaction, post bool, actor string, now time.Time) (*Transaction, error) {
	if !p.Pending {
		return nil, Errf(CodeNotPending, "transaction %s is not pending", p.ID)
	}
	if post && p.ExpiresAt != nil && !now.Before(*p.ExpiresAt) {
		return nil, Errf(CodePendingExpired, "pending transaction %s expired at %s", p.ID, p.ExpiresAt.Format(time.RFC3339))
	}
	kind := KindPendingVoid
	if post {
		kind = KindPendingPost
	}
	id := p.ID
	t := &Transaction{ID: newID(), Kind: kind, Actor: actor, EffectiveAt: now, CreatedAt: now,
		Metadata: map[string]string{}, Resolves: &id}
	for _, h := range p.Postings {
		t.Postings = append(t.Postings, Posting{Account: h.Account, Asset: h.Asset, Amount: h.Amount.Neg(), Phase: PhaseRelease})
	}
	if post {
		for _, h := range p.Postings {
			t.Postings = append(t.Postings, Posting{Account: h.Account, Asset: h.Asset, Amount: h.Amount, Phase: PhasePosted})
		}
	}
	return t, nil
}

// Reverse writes the mirror image of a posted transaction, referencing it,
// at most once. A holder that has already spent what it received cannot
// be reversed below zero: the reversal fails with insufficient_balance.
func (l *Ledger) Reverse(ctx context.Context, actor Actor, key string, id uuid.UUID, metadata map[string]string) (*Transaction, bool, error) {
	type input struct {
		ID       uuid.UUID
		Metadata map[string]string
	}
	return runOp(ctx, l, Key{actor.ID(), key}, "transaction.reverse", input{id, metadata}, func(tx pgx.Tx) (*Transaction, error) {
		if err := validMetadata(metadata); err != nil {
			return nil, err
		}
		orig, err := loadTransaction(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if orig.Pending {
			return nil, Errf(CodeConflict, "a pending transaction is voided, not reversed")
		}
		now := l.now()
		t := &Transaction{ID: newID(), Kind: KindReversal, Actor: actor.ID(), EffectiveAt: now, CreatedAt: now,
			Metadata: copyMetadata(metadata), Corrects: &orig.ID}
		for _, p := range orig.Postings {
			if p.Phase == PhasePosted {
				t.Postings = append(t.Postings, Posting{Account: p.Account, Asset: p.Asset, Amount: p.Amount.Neg(), Phase: PhasePosted})
			}
		}
		if len(t.Postings) == 0 {
			return nil, Errf(CodeConflict, "transaction %s moved no balance; nothing to reverse", id)
		}
		if _, err := l.applyTransactions(ctx, tx, []*Transaction{t}, true); err != nil {
			return nil, err
		}
		return t, nil
	})
}

// VoidExpired voids up to limit pending transactions whose timeout has
// passed. Safe with several replicas running it at once: a resolution is
// unique per pending transaction, and the loser of a race skips the item.
func (l *Ledger) VoidExpired(ctx context.Context, limit int) (int, error) {
	if limit <= 0 || limit > TransactionsPerBatchMax {
		limit = TransactionsPerBatchMax
	}
	var voided int
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		voided = 0
		rows, err := tx.Query(ctx, `
			SELECT t.id FROM transactions t
			WHERE t.pending AND t.expires_at IS NOT NULL AND t.expires_at <= $1
			  AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.resolves = t.id)
			ORDER BY t.expires_at LIMIT $2`, l.now(), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		var txs []*Transaction
		for _, id := range ids {
			p, err := loadTransaction(ctx, tx, id)
			if err != nil {
				return err
			}
			t, err := buildResolution(p, false, SystemActor.ID(), l.now())
			if err != nil {
				return err
			}
			t.Metadata["reason"] = "timeout"
			txs = append(txs, t)
		}
		errs, err := l.applyTransactions(ctx, tx, txs, false)
		if err != nil {
			return err
		}
		for _, e := range errs {
			if e == nil {
				voided++
			}
		}
		return nil
	})
	return voided, err
}

type storedKey struct {
	hash     []byte
	response string
}

func (s storedKey) decode(hash []byte, key string, out any) error {
	if string(s.hash) != string(hash) {
		return Errf(CodeIdempotencyConflict, "Idempotency-Key %q was already used with a different request", key)
	}
	return jsonUnmarshal(s.response, out)
}

// loadTransaction reads a transaction with its postings in index order.
func loadTransaction(ctx context.Context, q querier, id uuid.UUID) (*Transaction, error) {
	t := &Transaction{}
	var meta map[string]string
	err := q.QueryRow(ctx, `
		SELECT id, kind, actor, effective_at, created_at, metadata, corrects, resolves, pending, expires_at, hash
		FROM transactions WHERE id = $1`, id).Scan(&t.ID, &t.Kind, &t.Actor, &t.EffectiveAt, &t.CreatedAt, &meta,
		&t.Corrects, &t.Resolves, &t.Pending, &t.ExpiresAt, &t.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, Errf(CodeNotFound, "transaction %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	t.Metadata = meta
	if t.Metadata == nil {
		t.Metadata = map[string]string{}
	}
	t.EffectiveAt, t.CreatedAt = t.EffectiveAt.UTC(), t.CreatedAt.UTC()
	if t.ExpiresAt != nil {
		e := t.ExpiresAt.UTC()
		t.ExpiresAt = &e
	}
	rows, err := q.Query(ctx, `
		SELECT account_id, asset, amount, phase, shard, seq, balance_after, pending_after, chain_hash
		FROM postings WHERE tx_id = $1 ORDER BY idx`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p Posting
		if err := rows.Scan(&p.Account, &p.Asset, &p.Amount, &p.Phase, &p.Shard, &p.Seq, &p.BalanceAfter, &p.PendingAfter, &p.ChainHash); err != nil {
			return nil, err
		}
		t.Postings = append(t.Postings, p)
	}
	return t, rows.Err()
}

// Transfer builds a posted two-leg transaction for use-case code.
func transfer(from, to string, asset Asset, amount decimal.Decimal) []Posting {
	return []Posting{
		{Account: from, Asset: asset, Amount: amount.Neg(), Phase: PhasePosted},
		{Account: to, Asset: asset, Amount: amount, Phase: PhasePosted},
	}
}
