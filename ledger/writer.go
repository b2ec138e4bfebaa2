package ledger

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Writer is a use case's handle on one database transaction: its own SQL
// through Tx, and postings through the engine, committed together. It is
// how the sub-packages (points, registry, quota) write, so the engine's
// locking, balance checks and hash chains apply to every posting.
type Writer struct {
	Journal // reads of the journal inside this transaction
	l       *Ledger
	now     time.Time
	events  []pendingEvent // emitted, written by flushEvents before commit
}

func newWriter(ctx context.Context, l *Ledger, tx pgx.Tx) *Writer {
	return &Writer{Journal: Journal{ctx: ctx, tx: tx}, l: l, now: l.now()}
}

// Now is the ledger clock, fixed for the whole database transaction.
func (w *Writer) Now() time.Time { return w.now }

// Apply validates nothing beyond the engine's checks: build transactions
// with NewTransaction or Build. All apply or the call fails.
func (w *Writer) Apply(txs ...*Transaction) error {
	errs, err := w.l.applyTransactions(w.ctx, w.tx, txs, true)
	if err != nil {
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
	}
	return err
}

// ApplyEach applies independent transactions, each with its own outcome.
func (w *Writer) ApplyEach(txs []*Transaction) ([]error, error) {
	return w.l.applyTransactions(w.ctx, w.tx, txs, false)
}

// Build validates a transaction with NewTransaction at the writer's clock.
func (w *Writer) Build(actor Actor, in TxInput) (*Transaction, error) {
	return newTransaction(in, actor.ID(), w.now, w.l.AssetScale)
}

// OpenAccounts opens the accounts that do not exist yet.
func (w *Writer) OpenAccounts(ids ...string) error { return openAccounts(w.ctx, w.tx, ids, nil) }

// Resolve posts (post=true) or voids a pending transaction, at most once.
func (w *Writer) Resolve(actor Actor, id uuid.UUID, post bool) (*Transaction, error) {
	return w.l.resolveInTx(w.ctx, w.tx, actor, id, post)
}

// Account status changes are decisions: each is an event of the engine's
// own trail, subject AccountSubject(id), in the transaction that makes it,
// and VerifyAll compares every account's status with the last one.
const (
	TrailUseCase       = "ledger"         // the engine's own use-case name in the trail
	EventAccountStatus = "account.status" // body: status, previous
)

// EventAccountStatusChanged is the feed's event of a status decision.
const EventAccountStatusChanged = "account.status_changed"

// AccountStatusEventData is the body of account.status_changed.
type AccountStatusEventData struct {
	Account  string `json:"account"`
	Status   string `json:"status"`
	Previous string `json:"previous"`
	Reason   string `json:"reason,omitempty"`
	Actor    string `json:"actor"`
}

// AccountSubject is the trail subject of an account's status decisions.
func AccountSubject(id string) string { return "account:" + id }

// SetAccountStatus freezes, unfreezes or closes a holder account in this
// database transaction, under the account's row lock, and records who
// decided it and why in the account's trail.
func (w *Writer) SetAccountStatus(actor Actor, id, status, reason string) error {
	prev, err := setStatus(w.ctx, w.tx, id, status)
	if err != nil {
		return err
	}
	if err := w.Emit(EventAccountStatusChanged, AccountSubject(id), VisibilityOf([]string{id}),
		AccountStatusEventData{Account: id, Status: status, Previous: prev, Reason: reason, Actor: actor.ID()}); err != nil {
		return err
	}
	return w.Trail(TrailUseCase, AccountSubject(id), EventAccountStatus, actor, reason, map[string]string{"status": status, "previous": prev}, nil)
}

// ApplyOverFreeze applies t although account is frozen. It is for a
// decision taken on a frozen account by the authority that froze it (the
// registry's administrative cancellation): the units leave without the
// freeze being lifted, so the owner never gets a moment to move them.
// Only debits of posted legs of that one account pass; its credits and
// holds, every other account, and a closed account are checked as usual.
func (w *Writer) ApplyOverFreeze(account string, t *Transaction) error {
	t.overFreeze = account
	return w.Apply(t)
}

// Run executes fn once per idempotency key, in one database transaction
// at READ COMMITTED with the engine's row locks, retried whole on
// serialization failures and deadlocks. The stored result is returned on
// replay; the same key with a different input is idempotency_conflict.
func Run[T any](ctx context.Context, l *Ledger, key Key, op string, input any, fn func(w *Writer) (T, error)) (T, bool, error) {
	return runOpBatch(ctx, l, key, op, input, func(tx pgx.Tx) (T, *pgx.Batch, error) {
		w := newWriter(ctx, l, tx)
		res, err := fn(w)
		if err != nil {
			return res, nil, err
		}
		// The events go with the stored result, in one round trip.
		return res, w.eventBatch(), nil
	})
}

// Update runs fn in one retried database transaction without an
// idempotency key: for background jobs whose effect is idempotent by
// construction (expiry, sweeps).
func (l *Ledger) Update(ctx context.Context, fn func(w *Writer) error) error {
	return l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		w := newWriter(ctx, l, tx)
		if err := fn(w); err != nil {
			return err
		}
		return w.flushEvents()
	})
}

// Now is the ledger clock.
func (l *Ledger) Now() time.Time { return l.now() }
