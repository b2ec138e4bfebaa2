package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	// Iss is the token's issuer when that is not this service itself (an
	// external identity provider); "" for the service's own tokens.
	Iss string
}

// ID is the whole principal: role and subject, then the organisation, the
// city and a foreign issuer when the actor carries them, e.g.
// "operator:ops-1@org:metro-jinan". It is the actor recorded in the
// journal and the trail, the idempotency scope and the rate-limit bucket,
// so two users of different organisations (or identity providers) that
// happen to share a subject are never one principal. Subjects, org and
// city codes are identifiers (no ':' or '@'); the issuer is escaped.
// An actor with none of org, city and issuer keeps the form "role:sub"
// that every actor had before, so its stored keys still replay.
func (a Actor) ID() string {
	id := a.legacyID()
	if a.Org != "" {
		id += "@org:" + a.Org
	}
	if a.City != "" {
		id += "@city:" + a.City
	}
	if a.Iss != "" {
		id += "@iss:" + url.QueryEscape(a.Iss)
	}
	return id
}

// legacyID is the principal as it was recorded before ID covered the
// whole principal: role and subject only.
func (a Actor) legacyID() string { return a.Role + ":" + a.Sub }

// Recorded reports whether a recorded actor (a proposer, a decider) is
// this actor: its ID, or, for records written before ID covered the whole
// principal, its role and subject. The second form is ambiguous across
// organisations, so a check that two people differ (maker-checker) treats
// it as the same person: it refuses rather than lets one person act twice.
func (a Actor) Recorded(recorded string) bool {
	return recorded == a.ID() || recorded == a.legacyID()
}

// SystemActor records changes made by background jobs.
var SystemActor = Actor{Sub: "system", Role: "system"}

// querier is what read helpers need: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Post validates and writes one transaction, once per idempotency key.
// Concurrent calls are coalesced into shared database transactions (see
// coalescer.go); each keeps its own key, result and error.
func (l *Ledger) Post(ctx context.Context, actor Actor, key string, in TxInput) (*Transaction, bool, error) {
	if err := ValidateKey(key); err != nil {
		return nil, false, err
	}
	it := &postItem{Key: KeyOf(actor, key), hash: requestHash("transaction.post", in), in: in}
	if err := l.submit(ctx, it); err != nil {
		return nil, false, err
	}
	if it.err != nil {
		return nil, false, it.err
	}
	if it.replayed {
		l.stats.Replays.Add(1)
	}
	return it.tx, it.replayed, nil
}

// PostBatchAtomic writes all transactions or none, once per key.
func (l *Ledger) PostBatchAtomic(ctx context.Context, actor Actor, key string, items []TxInput) ([]*Transaction, bool, error) {
	if len(items) == 0 || len(items) > TransactionsPerBatchMax {
		return nil, false, Errf(CodeLimitExceeded, "a batch has 1 to %d items", TransactionsPerBatchMax).At("items")
	}
	return runOp(ctx, l, KeyOf(actor, key), "transaction.batch.atomic", items, func(tx pgx.Tx) ([]*Transaction, error) {
		txs := make([]*Transaction, len(items))
		for i, in := range items {
			t, err := NewTransaction(in, actor.ID(), l.now())
			if err == nil {
				err = refuseManaged(t)
			}
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
// each under its own key (batchItemKey: key and index, in a namespace no
// single write's key can enter) with its own result: a bad item does not
// stop the others, and replaying the batch replays each item.
func (l *Ledger) PostBatch(ctx context.Context, actor Actor, key string, items []TxInput) ([]BatchResult, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if len(items) == 0 || len(items) > TransactionsPerBatchMax {
		return nil, Errf(CodeLimitExceeded, "a batch has 1 to %d items", TransactionsPerBatchMax).At("items")
	}
	its := make([]*postItem, len(items))
	for i, in := range items {
		k := KeyOf(actor, batchItemKey(key, i))
		k.legacyScope, k.legacyKey = actor.legacyID(), batchItemLegacyKey(key, i)
		its[i] = &postItem{Key: k, hash: requestHash("transaction.post", in), in: in}
	}
	if err := l.postItems(ctx, its); err != nil {
		return nil, err
	}
	results := make([]BatchResult, len(items))
	for i, it := range its {
		results[i] = BatchResult{Index: i, Transaction: it.tx, Replayed: it.replayed}
		if it.err != nil {
			e, ok := AsError(it.err)
			if !ok {
				return nil, it.err
			}
			results[i].Err = e
		}
	}
	return results, nil
}

// postItem is one keyed transaction request and, after postItems, its outcome.
type postItem struct {
	Key      // scope and key (and where the key was stored before)
	hash     []byte
	in       TxInput
	tx       *Transaction
	replayed bool
	err      error
	storedID storedTx
}

// storedTx is what an idempotency key of a posted transaction stores: its
// id (a replay reads the transaction back) and its hash, so that the
// idempotency_result check finds a key repointed at another transaction.
// Keys stored before the hash was kept have only the id.
type storedTx struct {
	ID   uuid.UUID `json:"transaction_id"`
	Hash []byte    `json:"hash,omitempty"`
}

// postItems writes independent keyed transactions in one database
// transaction. Keys already stored are answered from the store (or are a
// conflict); duplicates of a key inside the call share the first one's
// outcome; the rest are validated and applied, each with its own error.
// The keys of those that applied are stored in the same transaction.
func (l *Ledger) postItems(ctx context.Context, items []*postItem) error {
	return l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		// The lookup pairs: every item's key, then (legacy=true) where a key
		// may have been stored before the current scheme (idempotency.go).
		scopes, keys, legacy := make([]string, 0, len(items)), make([]string, 0, len(items)), make([]bool, 0, len(items))
		var txs []*Transaction
		var fresh []*postItem
		first := map[[2]string]*postItem{}
		var followers [][2]*postItem // {follower, leader}
		for _, it := range items {
			it.tx, it.replayed, it.err, it.storedID = nil, false, nil, storedTx{}
			scopes, keys, legacy = append(scopes, it.Scope), append(keys, it.Key.Key), append(legacy, false)
			if l.probesLegacy(it.Key) {
				scopes, keys, legacy = append(scopes, it.legacyScope), append(keys, it.legacyKey), append(legacy, true)
			}
			id := [2]string{it.Scope, it.Key.Key}
			if lead, ok := first[id]; ok {
				followers = append(followers, [2]*postItem{it, lead})
				continue
			}
			first[id] = it
			t, err := NewTransaction(it.in, it.Scope, l.now())
			if err == nil {
				err = refuseManaged(t)
			}
			if err != nil {
				it.err = err
				continue
			}
			txs, fresh = append(txs, t), append(fresh, it)
		}
		hooks := applyHooks{
			// The key lookup rides in the lock pipeline: one round trip.
			pre: func(b *pgx.Batch) {
				b.Queue(`
					SELECT k.scope, k.key, k.request_hash, k.response, v.legacy FROM idempotency_keys k
					JOIN unnest($1::TEXT[], $2::TEXT[], $3::BOOL[]) AS v(scope, key, legacy) ON k.scope = v.scope AND k.key = v.key
					WHERE NOT v.legacy OR k.created_at < $4`, scopes, keys, legacy, l.legacyKeysBefore)
			},
			read: func(br pgx.BatchResults, errs []error) error {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				stored := map[storedAt]storedKey{}
				for rows.Next() {
					var at storedAt
					var resp string
					var h []byte
					if err := rows.Scan(&at.scope, &at.key, &h, &resp, &at.legacy); err != nil {
						rows.Close()
						return err
					}
					stored[at] = storedKey{hash: h, response: resp}
				}
				if err := rows.Err(); err != nil {
					return err
				}
				for j, it := range fresh {
					if ok, err := it.answerStored(stored); ok {
						errs[j], it.err = errStored, err
					}
				}
				// Items that failed validation may still have a stored key.
				for _, it := range items {
					if it.tx == nil && first[[2]string{it.Scope, it.Key.Key}] == it {
						if ok, err := it.answerStored(stored); ok {
							it.err = err
						}
					}
				}
				return nil
			},
			// The keys of what applied are stored with the journal writes.
			post: func(b *pgx.Batch, errs []error) error {
				var kScope, kKeys, kResp []string
				var kHash [][]byte
				for j, t := range txs {
					if errs[j] != nil {
						continue
					}
					// The key stores the transaction id; a replay reads the
					// transaction back from the journal.
					body, err := jsonString(storedTx{ID: t.ID, Hash: t.Hash})
					if err != nil {
						return err
					}
					it := fresh[j]
					kScope, kKeys, kResp, kHash = append(kScope, it.Scope), append(kKeys, it.Key.Key), append(kResp, body), append(kHash, it.hash)
				}
				if len(kKeys) == 0 {
					return nil
				}
				b.Queue(`
					INSERT INTO idempotency_keys (scope, key, request_hash, response)
					SELECT s, k, h, r FROM unnest($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[]) AS v(s, k, h, r)
					ON CONFLICT (scope, key) DO NOTHING`, kScope, kKeys, kHash, kResp).Exec(func(ct pgconn.CommandTag) error {
					if int(ct.RowsAffected()) != len(kKeys) {
						return errRetry // a concurrent duplicate committed first; the retry replays it
					}
					return nil
				})
				return nil
			},
		}
		errs, err := l.applyWith(ctx, tx, txs, false, hooks)
		if err != nil {
			return err
		}
		for j, t := range txs {
			it := fresh[j]
			switch {
			case errs[j] == errStored:
			case errs[j] != nil:
				if _, ok := AsError(errs[j]); !ok {
					return errs[j]
				}
				it.err = errs[j]
			default:
				it.tx = t
			}
		}
		for _, it := range items {
			if it.err == nil && it.storedID.ID != uuid.Nil {
				if it.tx, err = loadTransaction(ctx, tx, it.storedID.ID); err != nil {
					return err
				}
				it.replayed = true
			}
		}
		for _, f := range followers {
			it, lead := f[0], f[1]
			switch {
			case string(it.hash) != string(lead.hash):
				it.err = Errf(CodeIdempotencyConflict, "Idempotency-Key %q was already used with a different request", it.Key.Key)
			case lead.err != nil:
				it.err = lead.err
			default:
				it.tx, it.replayed = lead.tx, true
			}
		}
		return nil
	})
}

// refuseManaged keeps the generic operations off the use cases' assets.
func refuseManaged(t *Transaction) error {
	for _, p := range t.Postings {
		if p.Asset.Managed() {
			return Errf(CodeManagedAsset, "%s is moved only through its use case's routes (points, registry, two-high indices), not by a generic transaction", p.Asset).At("postings")
		}
	}
	return nil
}

// storedAt is where postItems found a stored key: the pair, and whether
// it was looked up as a key stored before the current scheme.
type storedAt struct {
	scope, key string
	legacy     bool
}

// answerStored answers an item from the store when its key is there (ok):
// its stored result (err nil, storedID set) or the conflict. A key found
// only where it was stored before the current scheme is answered as
// legacyLookup answers it.
func (it *postItem) answerStored(stored map[storedAt]storedKey) (ok bool, err error) {
	if s, ok := stored[storedAt{it.Scope, it.Key.Key, false}]; ok {
		return true, s.decode(it.hash, it.Key.Key, &it.storedID)
	}
	if it.legacyKey == "" {
		return false, nil
	}
	s, ok := stored[storedAt{it.legacyScope, it.legacyKey, true}]
	if !ok {
		return false, nil
	}
	if it.legacyScope != it.Scope {
		return true, errLegacyScope(it.Key.Key)
	}
	return true, s.decode(it.hash, it.Key.Key, &it.storedID)
}

// errStored marks an item answered from the idempotency store.
var errStored = Errf(CodeConflict, "answered from the idempotency store")

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
	return runOp(ctx, l, KeyOf(actor, key), op, id, func(tx pgx.Tx) (*Transaction, error) {
		p, err := loadTransaction(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if err := refuseManaged(p); err != nil {
			return nil, err
		}
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
	return runOp(ctx, l, KeyOf(actor, key), "transaction.reverse", input{id, metadata}, func(tx pgx.Tx) (*Transaction, error) {
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
		if err := refuseManaged(orig); err != nil {
			return nil, err
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
			SELECT tx_id FROM pending_expiries WHERE expires_at <= $1
			ORDER BY expires_at LIMIT $2`, l.now(), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		var txs, pendings []*Transaction
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
			txs, pendings = append(txs, t), append(pendings, p)
		}
		errs, err := l.applyTransactions(ctx, tx, txs, false)
		if err != nil {
			return err
		}
		var evs []pendingEvent
		for i, e := range errs {
			if e == nil {
				voided++
				evs = append(evs, expiryEvent(txs[i], pendings[i]))
			}
		}
		if len(evs) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		queueEvents(tx, b, evs)
		return tx.SendBatch(ctx, b).Close()
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
	// Strict: a posted transfer's key stores its id and hash and nothing
	// else, which is the form the idempotency_result check recognises; a
	// result edited into another form fails its replay instead of being
	// followed.
	dec := json.NewDecoder(strings.NewReader(s.response))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
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

// BatchResult is one item's outcome.
type BatchResult struct {
	Index       int          `json:"index"`
	Transaction *Transaction `json:"transaction,omitempty"`
	Err         *Error       `json:"-"`
	Replayed    bool         `json:"replayed"`
}
