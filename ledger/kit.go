package ledger

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The kit: what every use case needs and the engine therefore owns once —
// roles and the actor check, identifiers, the cursor and the page.

// Roles carried in the token (docs/domain.md §2). SystemRole is the
// background jobs' own; no token carries it.
const (
	RoleCitizen    = "citizen"
	RoleOperator   = "operator"
	RoleVerifier   = "verifier"
	RoleEnterprise = "enterprise"
	RoleCity       = "city"
	RoleProvince   = "province"
	RoleAuditor    = "auditor"
	SystemRole     = "system"
)

// Roles lists every role a token may carry, in the order documentation
// shows them.
var Roles = []string{RoleCitizen, RoleOperator, RoleVerifier, RoleEnterprise, RoleCity, RoleProvince, RoleAuditor}

// actorSubBytesMax bounds the subject an actor carries into the journal.
const actorSubBytesMax = 128

// Require checks that the actor has one of the roles and carries the
// identity that role acts under: a subject always, an organisation for
// operators, verifiers and enterprises, a city code for cities. A token
// that names a role without its organisation or city acts for nobody, so
// it is refused here rather than matching an empty owner further down.
func (a Actor) Require(roles ...string) error {
	if !slices.Contains(roles, a.Role) {
		return Errf(CodeForbidden, "role %q may not do this; it needs %s", a.Role, strings.Join(roles, " or "))
	}
	if a.Sub == "" || len(a.Sub) > actorSubBytesMax {
		return Errf(CodeForbidden, "the actor has no subject")
	}
	switch a.Role {
	case RoleCity:
		if a.City == "" {
			return Errf(CodeForbidden, "a city actor must carry its city code")
		}
	case RoleOperator, RoleVerifier, RoleEnterprise:
		if !ValidIdent(a.Org) {
			return Errf(CodeForbidden, "a %s actor must carry its organisation id", a.Role)
		}
	}
	return nil
}

// Is reports whether the actor has one of the roles (no identity check:
// use it to choose a scope after Require has passed).
func (a Actor) Is(roles ...string) bool { return slices.Contains(roles, a.Role) }

// SeesAll reports whether the actor reads every row (province, auditor).
func (a Actor) SeesAll() bool { return a.Is(RoleProvince, RoleAuditor) }

// NewID returns a time-ordered identifier (UUIDv7): rows of append-only
// tables keyed by it go to the right edge of their B-tree, and "newest
// first" is id order, which the id cursor relies on.
func NewID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.New() // only if the system's random source fails
	}
	return id
}

// Cursors are opaque to clients and validated on the way back in: a
// version tag, then the last item's sort key as typed fields, base64url.
// A cursor that was not made by EncodeCursor with the same field types is
// invalid_request at "cursor", never a 500 or a silent first page.
const cursorVersion = "c1"

// cursorBytesMax bounds what DecodeCursor reads.
const cursorBytesMax = 256

// EncodeCursor makes a cursor of the sort key of a page's last item.
// Fields may be int64, int, uuid.UUID, time.Time or string.
func EncodeCursor(fields ...any) string {
	parts := make([]string, 0, len(fields)+1)
	parts = append(parts, cursorVersion)
	for _, f := range fields {
		switch v := f.(type) {
		case int64:
			parts = append(parts, "i"+strconv.FormatInt(v, 10))
		case int:
			parts = append(parts, "i"+strconv.FormatInt(int64(v), 10))
		case uuid.UUID:
			parts = append(parts, "u"+hex.EncodeToString(v[:]))
		case time.Time:
			parts = append(parts, "t"+strconv.FormatInt(v.UnixMicro(), 10))
		case string:
			parts = append(parts, "s"+base64.RawURLEncoding.EncodeToString([]byte(v)))
		default:
			panic("ledger: EncodeCursor: unsupported field type")
		}
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, ".")))
}

// DecodeCursor reads a cursor into dst, pointers to the field types given
// to EncodeCursor (*int64, *int, *uuid.UUID, *time.Time, *string).
func DecodeCursor(c string, dst ...any) error {
	bad := Errf(CodeInvalidRequest, "cursor is not one this server issued").At("cursor")
	if len(c) > cursorBytesMax {
		return bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return bad
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != len(dst)+1 || parts[0] != cursorVersion {
		return bad
	}
	for i, p := range parts[1:] {
		if p == "" {
			return bad
		}
		tag, body := p[0], p[1:]
		switch d := dst[i].(type) {
		case *int64, *int:
			if tag != 'i' {
				return bad
			}
			v, err := strconv.ParseInt(body, 10, 64)
			if err != nil {
				return bad
			}
			if ip, ok := d.(*int); ok {
				*ip = int(v)
			} else {
				*d.(*int64) = v
			}
		case *uuid.UUID:
			b, err := hex.DecodeString(body)
			if tag != 'u' || err != nil || len(b) != 16 {
				return bad
			}
			copy(d[:], b)
		case *time.Time:
			v, err := strconv.ParseInt(body, 10, 64)
			if tag != 't' || err != nil {
				return bad
			}
			*d = time.UnixMicro(v).UTC()
		case *string:
			b, err := base64.RawURLEncoding.DecodeString(body)
			if tag != 's' || err != nil {
				return bad
			}
			*d = string(b)
		default:
			panic("ledger: DecodeCursor: unsupported destination type")
		}
	}
	return nil
}

// NewestFirst reads one page of a list whose key is a time-ordered UUID,
// newest first, in one read transaction: read gets the id after which the
// page starts (nil on the first page) and how many rows to fetch (the
// page's limit plus one, which says whether a next page exists), and
// selects with `(after IS NULL OR id < after) ORDER BY id DESC LIMIT n`;
// id names an item's key, which the next page's cursor encodes.
func NewestFirst[T any](ctx context.Context, l *Ledger, cursor string, limit int, id func(T) uuid.UUID,
	read func(r *Reader, after *uuid.UUID, n int) ([]T, error)) (Page[T], error) {
	after, err := IDCursor(cursor)
	if err != nil {
		return Page[T]{}, err
	}
	limit = ClampLimit(limit)
	items, err := ReadValue(ctx, l, func(r *Reader) ([]T, error) { return read(r, after, limit+1) })
	if err != nil {
		return Page[T]{}, err
	}
	return PageOf(items, limit, func(last T) string { return EncodeCursor(id(last)) }), nil
}

// PageOf trims a list fetched with limit+1 rows (ClampLimit(limit)+1) into
// a page: the extra row only says that there is a next page, whose cursor
// is the sort key of the page's last item. Items are never nil, so an
// empty page is [] on the wire.
func PageOf[T any](items []T, limit int, cursor func(last T) string) Page[T] {
	items = NonNil(items)
	p := Page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.NextCursor = cursor(p.Items[limit-1])
	}
	return p
}

// NonNil is s, or an empty slice for nil, so that an empty list is [] in
// JSON rather than null (the document says every list is an array).
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
