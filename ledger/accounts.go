package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Page sizes for every list.
const (
	PageLimitDefault = 50
	PageLimitMax     = 500
)

// AccountView is an account with its balances.
type AccountView struct {
	ID        string            `json:"id"`
	Asset     Asset             `json:"asset"`
	Owner     string            `json:"owner"`
	Type      string            `json:"type"`
	Issuer    bool              `json:"issuer"`
	Sharded   bool              `json:"sharded"`
	Status    string            `json:"status"`
	Balance   decimal.Decimal   `json:"balance"`
	Pending   decimal.Decimal   `json:"pending"`
	Available decimal.Decimal   `json:"available"`
	Seq       int64             `json:"seq"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt time.Time         `json:"created_at"`
}

// OpenAccounts creates the accounts that do not exist yet, in the caller's
// transaction. An issuer account gets its balance shards.
func openAccounts(ctx context.Context, q querier, ids []string, metadata map[string]string) error {
	if len(ids) == 0 {
		return nil
	}
	meta, _ := json.Marshal(metadataOrEmpty(metadata))
	var aID, aAsset, aOwner, aType []string
	var aIssuer, aSharded []bool
	var sID []string
	var sShard []int64
	for _, id := range ids {
		spec, err := ClassifyAccount(id)
		if err != nil {
			return err
		}
		aID, aAsset, aOwner, aType, aIssuer = append(aID, id), append(aAsset, string(spec.Asset)), append(aOwner, spec.Owner), append(aType, spec.Type), append(aIssuer, spec.Issuer)
		aSharded = append(aSharded, spec.Sharded())
		if spec.Sharded() {
			for s := 0; s < IssuerShards; s++ {
				sID, sShard = append(sID, id), append(sShard, int64(s))
			}
		}
	}
	if _, err := q.Exec(ctx, `
		INSERT INTO accounts (id, asset, owner, type, issuer, sharded, metadata, head_hash)
		SELECT id, asset, owner, type, issuer, sharded, $6::JSONB, ''::BYTEA
		FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BOOL[], $7::BOOL[]) AS v(id, asset, owner, type, issuer, sharded)
		ON CONFLICT (id) DO NOTHING`, aID, aAsset, aOwner, aType, aIssuer, string(meta), aSharded); err != nil {
		return err
	}
	if len(sID) > 0 {
		if _, err := q.Exec(ctx, `
			INSERT INTO issuer_shards (account_id, shard, head_hash)
			SELECT id, shard, ''::BYTEA FROM unnest($1::TEXT[], $2::INT8[]) AS v(id, shard)
			ON CONFLICT (account_id, shard) DO NOTHING`, sID, sShard); err != nil {
			return err
		}
	}
	return nil
}

func metadataOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// OpenAccount opens one account, once per idempotency key. Opening an
// account that exists with the same metadata returns it (created=false);
// with other metadata it is account_exists. replayed is true when the key
// was used before: the stored result is returned.
func (l *Ledger) OpenAccount(ctx context.Context, actor Actor, key, id string, metadata map[string]string) (acct AccountView, created, replayed bool, err error) {
	if _, err := ClassifyAccount(id); err != nil {
		return AccountView{}, false, false, err
	}
	if err := validMetadata(metadata); err != nil {
		return AccountView{}, false, false, err
	}
	type input struct {
		ID       string
		Metadata map[string]string
	}
	type result struct {
		Account AccountView
		Created bool
	}
	r, replayed, err := runOp(ctx, l, KeyOf(actor, key), "account.open", input{id, metadata}, func(tx pgx.Tx) (result, error) {
		existing, err := getAccount(ctx, tx, id)
		if err == nil {
			if !sameMetadata(existing.Metadata, metadata) {
				return result{}, Errf(CodeAccountExists, "account %s exists with other metadata", id)
			}
			return result{Account: existing}, nil
		}
		if ErrorCode(err) != CodeNotFound {
			return result{}, err
		}
		if err := openAccounts(ctx, tx, []string{id}, metadata); err != nil {
			return result{}, err
		}
		a, err := getAccount(ctx, tx, id)
		return result{Account: a, Created: true}, err
	})
	return r.Account, r.Created, replayed, err
}

func sameMetadata(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// EnsureAccounts opens every account in ids that does not exist yet.
func (l *Ledger) EnsureAccounts(ctx context.Context, ids ...string) error {
	return l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error { return openAccounts(ctx, tx, ids, nil) })
}

// GetAccount returns an account with its current balances. An issuer's
// balance is the sum of its shards.
func (l *Ledger) GetAccount(ctx context.Context, id string) (AccountView, error) {
	return ReadValue(ctx, l, func(r *Reader) (AccountView, error) { return r.Account(id) })
}

func getAccount(ctx context.Context, q querier, id string) (AccountView, error) {
	var a AccountView
	err := q.QueryRow(ctx, `
		SELECT a.id, a.asset, a.owner, a.type, a.issuer, a.sharded, a.status, a.metadata, a.created_at,
		       CASE WHEN a.sharded THEN (SELECT COALESCE(sum(s.balance), 0) FROM issuer_shards s WHERE s.account_id = a.id) ELSE a.balance END,
		       a.pending_debits,
		       CASE WHEN a.sharded THEN (SELECT COALESCE(sum(s.seq), 0) FROM issuer_shards s WHERE s.account_id = a.id) ELSE a.seq END
		FROM accounts a WHERE a.id = $1`, id).Scan(&a.ID, &a.Asset, &a.Owner, &a.Type, &a.Issuer, &a.Sharded, &a.Status, &a.Metadata, &a.CreatedAt, &a.Balance, &a.Pending, &a.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, Errf(CodeNotFound, "account %s not found", id)
	}
	if err != nil {
		return a, err
	}
	a.Available = a.Balance.Sub(a.Pending)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// BalanceAt returns a holder account's balance right after its posting
// number seq (its state at that point in its history).
func (l *Ledger) BalanceAt(ctx context.Context, id string, seq int64) (AccountView, error) {
	return ReadValue(ctx, l, func(r *Reader) (AccountView, error) { return balanceAt(r.Journal, id, seq) })
}

func balanceAt(j Journal, id string, seq int64) (AccountView, error) {
	a, err := j.Account(id)
	if err != nil {
		return a, err
	}
	if a.Sharded {
		return a, Errf(CodeInvalidRequest, "this account's history is sharded; as_of_seq applies to holder accounts")
	}
	if seq < 0 || seq > a.Seq {
		return a, Errf(CodeInvalidRequest, "as_of_seq must be between 0 and %d", a.Seq).At("as_of_seq")
	}
	a.Seq = seq
	if seq == 0 {
		a.Balance, a.Pending, a.Available = decimal.Zero, decimal.Zero, decimal.Zero
		return a, nil
	}
	err = j.tx.QueryRow(j.ctx, `SELECT balance_after, pending_after FROM postings WHERE account_id = $1 AND shard = 0 AND seq = $2`, id, seq).Scan(&a.Balance, &a.Pending)
	if err != nil {
		return a, err
	}
	a.Available = a.Balance.Sub(a.Pending)
	return a, nil
}

// BalanceAsOf returns a holder account's balance as recorded at time at:
// after its last posting created at or before then.
func (l *Ledger) BalanceAsOf(ctx context.Context, id string, at time.Time) (AccountView, error) {
	return ReadValue(ctx, l, func(r *Reader) (AccountView, error) { return balanceAsOf(r.Journal, id, at) })
}

func balanceAsOf(j Journal, id string, at time.Time) (AccountView, error) {
	a, err := j.Account(id)
	if err != nil {
		return a, err
	}
	if a.Sharded {
		return a, Errf(CodeInvalidRequest, "this account's history is sharded; as_of applies to holder accounts")
	}
	err = j.tx.QueryRow(j.ctx, `
		SELECT seq, balance_after, pending_after FROM postings
		WHERE account_id = $1 AND shard = 0 AND created_at <= $2 ORDER BY seq DESC LIMIT 1`, id, at).Scan(&a.Seq, &a.Balance, &a.Pending)
	if errors.Is(err, pgx.ErrNoRows) {
		a.Seq, a.Balance, a.Pending = 0, decimal.Zero, decimal.Zero
		err = nil
	}
	a.Available = a.Balance.Sub(a.Pending)
	return a, err
}

// AccountStatusReasonBytesMax bounds the reason recorded with a status change.
const AccountStatusReasonBytesMax = 512

// SetAccountStatus freezes, unfreezes or closes a holder account, citing
// reason (optional here; the API requires one). It takes the account's row
// lock, so no transfer is half-way through when the status changes, and
// records the decision in the account's trail in the same transaction.
func (l *Ledger) SetAccountStatus(ctx context.Context, actor Actor, key, id, status, reason string) (AccountView, bool, error) {
	if spec, err := ClassifyAccount(id); err == nil && spec.Asset.Managed() {
		return AccountView{}, false, Errf(CodeManagedAsset, "%s accounts are frozen through their use case (e.g. POST /v1/holders/{id}/freeze), which records the decision", spec.Asset)
	}
	if len(reason) > AccountStatusReasonBytesMax || !CleanText(reason) {
		return AccountView{}, false, Errf(CodeInvalidRequest, "reason must be text without control characters, at most %d bytes", AccountStatusReasonBytesMax).At("reason")
	}
	// The reason is part of the request: the same key with another reason
	// is a conflict. Without one the input hashes as it did before reasons
	// were recorded.
	type input struct {
		ID, Status string
		Reason     string `json:",omitempty"`
	}
	return runOp(ctx, l, KeyOf(actor, key), "account.status", input{id, status, reason}, func(tx pgx.Tx) (AccountView, error) {
		w := newWriter(ctx, l, tx)
		if err := w.SetAccountStatus(actor, id, status, reason); err != nil {
			return AccountView{}, err
		}
		if err := w.flushEvents(); err != nil {
			return AccountView{}, err
		}
		return getAccount(ctx, tx, id)
	})
}

// setStatus changes an account's status under its row lock and returns the
// status it had.
func setStatus(ctx context.Context, q querier, id, status string) (string, error) {
	if status != "active" && status != "frozen" && status != "closed" {
		return "", Errf(CodeInvalidRequest, "status must be active, frozen or closed").At("status")
	}
	var issuer bool
	var cur string
	err := q.QueryRow(ctx, `SELECT sharded, status FROM accounts WHERE id = $1 FOR UPDATE`, id).Scan(&issuer, &cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", Errf(CodeNotFound, "account %s not found", id)
	}
	if err != nil {
		return "", err
	}
	if issuer {
		return "", Errf(CodeInvalidRequest, "issuer and sink accounts cannot change status")
	}
	if cur == "closed" {
		return "", Errf(CodeAccountClosed, "account %s is closed for good", id)
	}
	_, err = q.Exec(ctx, `UPDATE accounts SET status = $2 WHERE id = $1`, id, status)
	return cur, err
}

// PostingView is one line of an account's history.
type PostingView struct {
	TxID         uuid.UUID       `json:"transaction_id"`
	Kind         string          `json:"kind"`
	Shard        int             `json:"shard"`
	Seq          int64           `json:"seq"`
	Phase        Phase           `json:"phase"`
	Amount       decimal.Decimal `json:"amount"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
	PendingAfter decimal.Decimal `json:"pending_after"`
	CreatedAt    time.Time       `json:"created_at"`
}

// Page is one page of a list, with the cursor of the next page ("" at the end).
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// ClampLimit applies the page-size defaults and bounds.
func ClampLimit(limit int) int {
	if limit <= 0 {
		return PageLimitDefault
	}
	return min(limit, PageLimitMax)
}

// ListPostings pages an account's history, newest first. The cursor is
// opaque to clients: it encodes the (seq, shard) of the last item.
func (l *Ledger) ListPostings(ctx context.Context, id string, limit int, cursor string) (Page[PostingView], error) {
	return ReadValue(ctx, l, func(r *Reader) (Page[PostingView], error) { return listPostings(r.Journal, id, limit, cursor) })
}

func listPostings(j Journal, id string, limit int, cursor string) (Page[PostingView], error) {
	limit = ClampLimit(limit)
	seq, shard := int64(1<<62), int64(1<<30)
	if cursor != "" {
		if err := DecodeCursor(cursor, &seq, &shard); err != nil {
			return Page[PostingView]{}, err
		}
	}
	if _, err := j.Account(id); err != nil {
		return Page[PostingView]{}, err
	}
	rows, err := j.tx.Query(j.ctx, `
		SELECT p.tx_id, t.kind, p.shard, p.seq, p.phase, p.amount, p.balance_after, p.pending_after, p.created_at
		FROM postings p JOIN transactions t ON t.id = p.tx_id
		WHERE p.account_id = $1 AND (p.seq < $2 OR (p.seq = $2 AND p.shard < $3))
		ORDER BY p.seq DESC, p.shard DESC LIMIT $4`, id, seq, shard, limit+1)
	if err != nil {
		return Page[PostingView]{}, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PostingView, error) {
		var v PostingView
		err := r.Scan(&v.TxID, &v.Kind, &v.Shard, &v.Seq, &v.Phase, &v.Amount, &v.BalanceAfter, &v.PendingAfter, &v.CreatedAt)
		v.CreatedAt = v.CreatedAt.UTC()
		return v, err
	})
	if err != nil {
		return Page[PostingView]{}, err
	}
	return PageOf(items, limit, func(last PostingView) string { return EncodeCursor(last.Seq, last.Shard) }), nil
}

// GetTransaction returns a transaction with its postings.
func (l *Ledger) GetTransaction(ctx context.Context, id uuid.UUID) (*Transaction, error) {
	return ReadValue(ctx, l, func(r *Reader) (*Transaction, error) { return r.Transaction(id) })
}
