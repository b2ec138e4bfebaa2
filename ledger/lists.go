package ledger

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// What the lists of every use case share: filter checks that make a bad
// filter value invalid_request at its parameter (never an empty page that
// looks like "nothing there"), and the engine reads a page needs in one
// round trip rather than one per item.

// FilterOneOf checks an optional enumerated filter: "" (no filter) or one
// of allowed.
func FilterOneOf(param, v string, allowed ...string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return Errf(CodeInvalidRequest, "%s must be one of %s", param, strings.Join(allowed, ", ")).At(param)
}

// FilterIdent checks an optional identifier filter (an organisation, a
// holder, a city code, a period).
func FilterIdent(param, v string) error {
	if v == "" || ValidIdent(v) {
		return nil
	}
	return Errf(CodeInvalidRequest, "%s must be an identifier (letters, digits, '_', '-', '.')", param).At(param)
}

// FilterRange checks an optional time range [since, until) of a list's
// since and until parameters: until after since.
func FilterRange(since, until *time.Time) error {
	if since != nil && until != nil && !until.After(*since) {
		return Errf(CodeInvalidRequest, "until must be after since").At("until")
	}
	return nil
}

// IDCursor reads the cursor of a list that pages by a time-ordered id
// (UUIDv7: newest first is id order); "" is the first page (nil).
func IDCursor(c string) (*uuid.UUID, error) {
	if c == "" {
		return nil, nil
	}
	var id uuid.UUID
	return &id, DecodeCursor(c, &id)
}

// Headers returns the headers (no postings) of those of the transactions
// ids that exist, by id: a page of records resolves the transactions it
// refers to in one query.
func (j Journal) Headers(ids []uuid.UUID) (map[uuid.UUID]Transaction, error) {
	out := map[uuid.UUID]Transaction{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := j.tx.Query(j.ctx, `
		SELECT id, kind, actor, effective_at, created_at, metadata, corrects, resolves, pending, expires_at, hash
		FROM transactions WHERE id = ANY($1::UUID[])`, ids)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, scanHeader)
	for _, t := range list {
		out[t.ID] = t
	}
	return out, err
}

func scanHeader(r pgx.CollectableRow) (Transaction, error) {
	var t Transaction
	var meta map[string]string
	err := r.Scan(&t.ID, &t.Kind, &t.Actor, &t.EffectiveAt, &t.CreatedAt, &meta, &t.Corrects, &t.Resolves, &t.Pending, &t.ExpiresAt, &t.Hash)
	t.Metadata = meta
	if t.Metadata == nil {
		t.Metadata = map[string]string{}
	}
	t.EffectiveAt, t.CreatedAt = t.EffectiveAt.UTC(), t.CreatedAt.UTC()
	if t.ExpiresAt != nil {
		e := t.ExpiresAt.UTC()
		t.ExpiresAt = &e
	}
	return t, err
}
