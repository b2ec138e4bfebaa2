package ledger

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// The front door for reads. A use case reads the journal (accounts,
// balances, holds, history, transactions) only through Journal, whose
// methods return engine types; its SQL names only its own tables
// (TestUseCaseSQLNamesNoEngineTable enforces it). Every read runs through
// Ledger.Read, so a timeout, a lost connection or an exhausted pool is the
// same domain error (unavailable) on every route, as it is for writes.

// Journal is the engine's read surface inside one database transaction:
// the read snapshot of Ledger.Read (Reader) or the write transaction of
// Run and Update (Writer), which embed it.
type Journal struct {
	ctx context.Context
	tx  pgx.Tx
}

// Tx is the database transaction, for the use case's own tables.
func (j Journal) Tx() pgx.Tx { return j.tx }

// Ctx is the request context.
func (j Journal) Ctx() context.Context { return j.ctx }

// Reader is a read-only, consistent snapshot of the whole database.
type Reader struct{ Journal }

// readSnapshot reads one consistent snapshot without blocking writers.
var readSnapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// Read runs fn on one read-only snapshot and translates whatever fails —
// the driver's errors and fn's own — at one point.
func (l *Ledger) Read(ctx context.Context, fn func(r *Reader) error) error {
	tx, err := l.pool.BeginTx(ctx, readSnapshot)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only; Commit below reports
	if err := fn(&Reader{Journal{ctx: ctx, tx: tx}}); err != nil {
		return translate(err)
	}
	return translate(tx.Commit(ctx))
}

// ReadValue is Read for a function that returns one value.
func ReadValue[T any](ctx context.Context, l *Ledger, fn func(r *Reader) (T, error)) (T, error) {
	var out T
	err := l.Read(ctx, func(r *Reader) error {
		var err error
		out, err = fn(r)
		return err
	})
	return out, err
}

// Account returns an account with its balances and holds. An issuer's
// balance is the sum of its shards.
func (j Journal) Account(id string) (AccountView, error) { return getAccount(j.ctx, j.tx, id) }

// Accounts returns the accounts of ids that exist, by id.
func (j Journal) Accounts(ids []string) (map[string]AccountView, error) {
	return queryAccounts(j.ctx, j.tx, `a.id = ANY($1::TEXT[])`, ids)
}

// InactiveOwners returns those of owners that have an account which is
// not active (frozen or closed): jobs skip their lots.
func (j Journal) InactiveOwners(owners []string) (map[string]bool, error) {
	rows, err := j.tx.Query(j.ctx, `SELECT DISTINCT owner FROM accounts WHERE owner = ANY($1::TEXT[]) AND status <> 'active'`, owners)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(list))
	for _, o := range list {
		out[o] = true
	}
	return out, err
}

func queryAccounts(ctx context.Context, q querier, where string, arg []string) (map[string]AccountView, error) {
	rows, err := q.Query(ctx, `
		SELECT a.id, a.asset, a.owner, a.type, a.issuer, a.sharded, a.status, a.metadata, a.created_at,
		       CASE WHEN a.sharded THEN (SELECT COALESCE(sum(s.balance), 0) FROM issuer_shards s WHERE s.account_id = a.id) ELSE a.balance END,
		       a.pending_debits,
		       CASE WHEN a.sharded THEN (SELECT COALESCE(sum(s.seq), 0) FROM issuer_shards s WHERE s.account_id = a.id) ELSE a.seq END
		FROM accounts a WHERE `+where, arg)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AccountView, error) {
		var a AccountView
		err := r.Scan(&a.ID, &a.Asset, &a.Owner, &a.Type, &a.Issuer, &a.Sharded, &a.Status, &a.Metadata, &a.CreatedAt, &a.Balance, &a.Pending, &a.Seq)
		a.Available = a.Balance.Sub(a.Pending)
		a.CreatedAt = a.CreatedAt.UTC()
		return a, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]AccountView, len(list))
	for _, a := range list {
		out[a.ID] = a
	}
	return out, nil
}

// AccountFilter selects accounts for Totals. Empty fields match all.
type AccountFilter struct {
	Asset    Asset  // "SDCER"
	Type     string // the chart's type: "source", "allocated", "reserve", …
	IDPrefix string // "holder:" — a prefix of the account id
}

// Totals are the summed balances of the accounts a filter selects.
type Totals struct {
	Accounts int64
	Balance  decimal.Decimal
	Pending  decimal.Decimal
}

// Totals sums the balances (issuers' over their shards) and holds of the
// accounts f selects.
func (j Journal) Totals(f AccountFilter) (Totals, error) {
	var t Totals
	err := j.tx.QueryRow(j.ctx, `
		SELECT count(*),
		       COALESCE(sum(CASE WHEN a.sharded THEN (SELECT COALESCE(sum(s.balance), 0) FROM issuer_shards s WHERE s.account_id = a.id) ELSE a.balance END), 0),
		       COALESCE(sum(a.pending_debits), 0)
		FROM accounts a
		WHERE ($1 = '' OR a.asset = $1) AND ($2 = '' OR a.type = $2) AND ($3 = '' OR a.id LIKE $4)`,
		string(f.Asset), f.Type, f.IDPrefix, likePrefix(f.IDPrefix)).Scan(&t.Accounts, &t.Balance, &t.Pending)
	return t, err
}

// likePrefix escapes a literal prefix for LIKE.
func likePrefix(p string) string {
	out := make([]byte, 0, len(p)+1)
	for i := 0; i < len(p); i++ {
		if p[i] == '%' || p[i] == '_' || p[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, p[i])
	}
	return string(append(out, '%'))
}

// Transaction returns a journal transaction with its postings.
func (j Journal) Transaction(id uuid.UUID) (*Transaction, error) {
	return loadTransaction(j.ctx, j.tx, id)
}

// Resolutions returns, for those of the pending transactions ids that
// were posted or voided, the transaction that resolved each. A hold not
// in the map still reserves its amount.
func (j Journal) Resolutions(ids []uuid.UUID) (map[uuid.UUID]uuid.UUID, error) {
	out := map[uuid.UUID]uuid.UUID{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := j.tx.Query(j.ctx, `SELECT resolves, id FROM transactions WHERE resolves = ANY($1::UUID[])`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pending, by uuid.UUID
		if err := rows.Scan(&pending, &by); err != nil {
			return nil, err
		}
		out[pending] = by
	}
	return out, rows.Err()
}

// HistoryLine is one posting of an account's history with its
// transaction's header.
type HistoryLine struct {
	PostingView
	TxMetadata  map[string]string
	TxCreatedAt time.Time
}

// History pages a holder account's posted lines, newest first: those with
// seq below beforeSeq, at most limit of them.
func (j Journal) History(account string, beforeSeq int64, limit int) ([]HistoryLine, error) {
	rows, err := j.tx.Query(j.ctx, `
		SELECT p.tx_id, t.kind, p.shard, p.seq, p.phase, p.amount, p.balance_after, p.pending_after, p.created_at, t.metadata, t.created_at
		FROM postings p JOIN transactions t ON t.id = p.tx_id
		WHERE p.account_id = $1 AND p.shard = 0 AND p.seq < $2 AND p.phase = 'posted'
		ORDER BY p.seq DESC LIMIT $3`, account, beforeSeq, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryLine, error) {
		var h HistoryLine
		err := r.Scan(&h.TxID, &h.Kind, &h.Shard, &h.Seq, &h.Phase, &h.Amount, &h.BalanceAfter, &h.PendingAfter, &h.CreatedAt, &h.TxMetadata, &h.TxCreatedAt)
		h.CreatedAt = h.CreatedAt.UTC()
		h.TxCreatedAt = h.TxCreatedAt.UTC()
		return h, err
	})
}

// AmountsOn sums, per transaction of txIDs that touched account in any
// phase, the posted amounts it put there (transactions that did not touch
// the account are absent; one that only held there maps to zero).
func (j Journal) AmountsOn(txIDs []uuid.UUID, account string) (map[uuid.UUID]decimal.Decimal, error) {
	out := map[uuid.UUID]decimal.Decimal{}
	if len(txIDs) == 0 {
		return out, nil
	}
	rows, err := j.tx.Query(j.ctx, `
		SELECT tx_id, COALESCE(sum(CASE WHEN phase = 'posted' THEN amount END), 0) FROM postings
		WHERE tx_id = ANY($1::UUID[]) AND account_id = $2
		GROUP BY tx_id`, txIDs, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var sum decimal.Decimal
		if err := rows.Scan(&id, &sum); err != nil {
			return nil, err
		}
		out[id] = sum
	}
	return out, rows.Err()
}
