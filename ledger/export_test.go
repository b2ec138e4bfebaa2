package ledger

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// InTx exposes the retry helper to the external tests.
func (l *Ledger) InTx(ctx context.Context, iso pgx.TxIsoLevel, fn func(pgx.Tx) error) error {
	return l.inTx(ctx, iso, fn)
}

// FanOutOne is one webhook's fan-out, for a test that races a delete.
func (l *Ledger) FanOutOne(ctx context.Context, w Webhook, limit int) (int, error) {
	return l.fanOut(ctx, w, limit)
}
