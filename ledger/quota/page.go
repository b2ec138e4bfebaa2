package quota

import (
	"encoding/base64"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Lists page by id (UUIDv7, so newest first is id order). The cursor is the
// last id of the page, opaque to clients.

func decodeIDCursor(c string) (*uuid.UUID, error) {
	if c == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) != 16 {
		return nil, ledger.Errf(ledger.CodeInvalidRequest, "cursor is not one this server issued").At("cursor")
	}
	id, _ := uuid.FromBytes(raw)
	return &id, nil
}

func encodeIDCursor(id uuid.UUID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// pageOf trims a list fetched with limit+1 rows into a page.
func pageOf[T any](items []T, limit int, id func(T) uuid.UUID) ledger.Page[T] {
	if items == nil {
		items = []T{}
	}
	p := ledger.Page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.NextCursor = encodeIDCursor(id(p.Items[limit-1]))
	}
	return p
}
