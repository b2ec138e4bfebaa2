package ledger

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The engine's lists (issue 9): the journal's transactions and the
// accounts, for the province and auditors; everyone else sees the
// accounts CanRead lets it read (OwnersOf) and the transactions that
// touched them, with only those accounts' postings, as GetTransaction's
// route shows one.

// TransactionFilter narrows GET /v1/transactions.
type TransactionFilter struct {
	Kind         string
	Account      string // transactions that posted to (or held on) this account
	Actor        string // as recorded; the province and auditors only
	Since, Until *time.Time
	Limit        int
	Cursor       string
}

// ownAccountsMax bounds the accounts a non-oversight actor's list of
// transactions spans (a citizen has two; an operator one per pool and
// period).
const ownAccountsMax = 10_000

// ListTransactions pages journal transactions, newest first (ids are
// time-ordered). For an actor who does not see everything, each
// transaction keeps only the postings of accounts it may read, and its
// actor is not shown.
func (l *Ledger) ListTransactions(ctx context.Context, a Actor, f TransactionFilter) (Page[*Transaction], error) {
	if err := cmp.Or(FilterRange(f.Since, f.Until), filterKind(f.Kind)); err != nil {
		return Page[*Transaction]{}, err
	}
	if f.Account != "" {
		if _, err := ClassifyAccount(f.Account); err != nil {
			return Page[*Transaction]{}, Errf(CodeInvalidRequest, "account is not an account of the chart").At("account")
		}
	}
	if len(f.Actor) > 200 || !CleanText(f.Actor) {
		return Page[*Transaction]{}, Errf(CodeInvalidRequest, "actor must be role:sub").At("actor")
	}
	seesAll := a.Role == RoleProvince || a.Role == RoleAuditor
	if !seesAll && f.Actor != "" {
		return Page[*Transaction]{}, Errf(CodeForbidden, "only the province and auditors filter the journal by actor").At("actor")
	}
	if !seesAll && f.Account != "" && !CanRead(a, f.Account) {
		return Page[*Transaction]{Items: []*Transaction{}}, nil
	}
	return NewestFirst(ctx, l, f.Cursor, f.Limit, func(t *Transaction) uuid.UUID { return t.ID }, func(r *Reader, after *uuid.UUID, n int) ([]*Transaction, error) {
		var accounts []string
		switch {
		case f.Account != "":
			accounts = []string{f.Account}
		case !seesAll:
			owners := OwnersOf(a)
			if owners == nil {
				return nil, nil
			}
			rows, err := r.tx.Query(ctx, `SELECT id FROM accounts WHERE owner = ANY($1::TEXT[]) ORDER BY id LIMIT $2`, owners, ownAccountsMax)
			if err != nil {
				return nil, err
			}
			if accounts, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(accounts) == 0 {
				return nil, err
			}
		}
		var ids []uuid.UUID
		if accounts == nil {
			rows, err := r.tx.Query(ctx, `
				SELECT id FROM transactions
				WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR actor = $2) AND ($3::TIMESTAMPTZ IS NULL OR created_at >= $3)
				  AND ($4::TIMESTAMPTZ IS NULL OR created_at < $4) AND ($5::UUID IS NULL OR id < $5)
				ORDER BY id DESC LIMIT $6`, f.Kind, f.Actor, f.Since, f.Until, after, n)
			if err != nil {
				return nil, err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				return nil, err
			}
		} else {
			rows, err := r.tx.Query(ctx, `
				SELECT t.id FROM transactions t
				WHERE t.id IN (SELECT p.tx_id FROM postings p WHERE p.account_id = ANY($1::TEXT[]) AND ($7::UUID IS NULL OR p.tx_id < $7))
				  AND ($2 = '' OR t.kind = $2) AND ($3 = '' OR t.actor = $3) AND ($4::TIMESTAMPTZ IS NULL OR t.created_at >= $4)
				  AND ($5::TIMESTAMPTZ IS NULL OR t.created_at < $5)
				ORDER BY t.id DESC LIMIT $6`, accounts, f.Kind, f.Actor, f.Since, f.Until, n, after)
			if err != nil {
				return nil, err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				return nil, err
			}
		}
		items, err := loadTransactions(r.Journal, ids)
		if err != nil || seesAll {
			return items, err
		}
		// Others see their own postings of each transaction, and no actor.
		for _, t := range items {
			mine := t.Postings[:0]
			for _, p := range t.Postings {
				if CanRead(a, p.Account) {
					mine = append(mine, p)
				}
			}
			t.Postings, t.Actor = mine, ""
		}
		return items, nil
	})
}

func filterKind(kind string) error {
	if len(kind) > 64 || !CleanText(kind) {
		return Errf(CodeInvalidRequest, "kind must be a transaction kind of at most 64 bytes").At("kind")
	}
	return nil
}

// loadTransactions reads transactions with their postings, in the order
// of ids, in two queries.
func loadTransactions(j Journal, ids []uuid.UUID) ([]*Transaction, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	heads, err := j.Headers(ids)
	if err != nil {
		return nil, err
	}
	rows, err := j.tx.Query(j.ctx, `
		SELECT tx_id, account_id, asset, amount, phase, shard, seq, balance_after, pending_after, chain_hash
		FROM postings WHERE tx_id = ANY($1::UUID[]) ORDER BY tx_id, idx`, ids)
	if err != nil {
		return nil, err
	}
	postings := map[uuid.UUID][]Posting{}
	var id uuid.UUID
	var p Posting
	if _, err := pgx.ForEachRow(rows, []any{&id, &p.Account, &p.Asset, &p.Amount, &p.Phase, &p.Shard, &p.Seq, &p.BalanceAfter, &p.PendingAfter, &p.ChainHash}, func() error {
		postings[id] = append(postings[id], p)
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]*Transaction, 0, len(ids))
	for _, id := range ids {
		h, ok := heads[id]
		if !ok {
			continue
		}
		t := h
		t.Postings = postings[id]
		out = append(out, &t)
	}
	return out, nil
}

// AccountStatuses are the statuses of an account.
var AccountStatuses = []string{"active", "frozen", "closed"}

// OwnerTypes are the first segments of account owners in the chart.
var OwnerTypes = []string{"citizen", "programme", "pool", "methodology", "operator", "registry", "holder", "org", "province", "enterprise", "city", "project", "external"}

// AccountListFilter narrows GET /v1/accounts.
type AccountListFilter struct {
	OwnerType string // the owner's kind: citizen, operator, holder, org, city, …
	Owner     string // an owner exactly: "citizen:C1", "org:E1", "programme"
	Asset     string
	Status    string
	Type      string // the chart's type: available, pool, reserve, …
	Limit     int
	Cursor    string
}

// ListAccounts pages accounts by id with their balances: the province and
// auditors all, everyone else the accounts it may read (OwnersOf).
func (l *Ledger) ListAccounts(ctx context.Context, a Actor, f AccountListFilter) (Page[AccountView], error) {
	if err := cmp.Or(FilterOneOf("owner_type", f.OwnerType, OwnerTypes...), FilterOneOf("status", f.Status, AccountStatuses...)); err != nil {
		return Page[AccountView]{}, err
	}
	if f.Asset != "" {
		if _, ok := l.AssetScale(Asset(f.Asset)); !ok {
			return Page[AccountView]{}, Errf(CodeInvalidRequest, "asset %q is not an asset of the ledger", f.Asset).At("asset")
		}
	}
	if len(f.Owner) > 200 || !CleanText(f.Owner) {
		return Page[AccountView]{}, Errf(CodeInvalidRequest, "owner must be an account owner, e.g. org:E1").At("owner")
	}
	if err := FilterIdent("type", f.Type); err != nil {
		return Page[AccountView]{}, err
	}
	var owners []string
	if a.Role != RoleProvince && a.Role != RoleAuditor {
		if owners = OwnersOf(a); owners == nil {
			return Page[AccountView]{Items: []AccountView{}}, nil
		}
		if f.Owner != "" {
			if !slices.Contains(owners, f.Owner) {
				return Page[AccountView]{Items: []AccountView{}}, nil
			}
			owners = []string{f.Owner}
		}
	} else if f.Owner != "" {
		owners = []string{f.Owner}
	}
	after := ""
	if f.Cursor != "" {
		if err := DecodeCursor(f.Cursor, &after); err != nil {
			return Page[AccountView]{}, err
		}
	}
	limit := ClampLimit(f.Limit)
	items, err := ReadValue(ctx, l, func(r *Reader) ([]AccountView, error) {
		rows, err := r.tx.Query(ctx, `
			SELECT a.id, a.asset, a.owner, a.type, a.issuer, a.sharded, a.status, a.metadata, a.created_at,
			       CASE WHEN a.sharded THEN (SELECT COALESCE(sum(s.balance), 0) FROM issuer_shards s WHERE s.account_id = a.id) ELSE a.balance END,
			       a.pending_debits,
			       CASE WHEN a.sharded THEN (SELECT COALESCE(sum(s.seq), 0) FROM issuer_shards s WHERE s.account_id = a.id) ELSE a.seq END
			FROM accounts a
			WHERE ($1::TEXT[] IS NULL OR a.owner = ANY($1::TEXT[])) AND ($2 = '' OR a.owner = $2 OR a.owner LIKE $2 || ':%')
			  AND ($3 = '' OR a.asset = $3) AND ($4 = '' OR a.status = $4) AND ($5 = '' OR a.type = $5) AND a.id > $6
			ORDER BY a.id LIMIT $7`, owners, f.OwnerType, f.Asset, f.Status, f.Type, after, limit+1)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccountView, error) {
			var v AccountView
			err := row.Scan(&v.ID, &v.Asset, &v.Owner, &v.Type, &v.Issuer, &v.Sharded, &v.Status, &v.Metadata, &v.CreatedAt, &v.Balance, &v.Pending, &v.Seq)
			v.Available, v.CreatedAt = v.Balance.Sub(v.Pending), v.CreatedAt.UTC()
			return v, err
		})
	})
	if err != nil {
		return Page[AccountView]{}, err
	}
	return PageOf(items, limit, func(v AccountView) string { return EncodeCursor(v.ID) }), nil
}
