package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// IdempotencyKeyBytesMax bounds the client's key.
const IdempotencyKeyBytesMax = 128

// Key identifies one intended write: the principal that sent it and the
// client's key. Two principals never share keys. Build it with KeyOf.
type Key struct {
	Scope string
	Key   string
	// legacyScope and legacyKey are where the same write was stored before
	// scopes were the whole principal (Actor.ID) and batch items had a
	// namespace of their own; "" when nothing moved.
	legacyScope, legacyKey string
}

// KeyOf is the idempotency key of a write by actor with the client's key.
func KeyOf(a Actor, key string) Key {
	k := Key{Scope: a.ID(), Key: key}
	if legacy := a.legacyID(); legacy != k.Scope {
		k.legacyScope, k.legacyKey = legacy, key
	}
	return k
}

// batchItemKey is the key of item i of an independent batch sent with the
// client's key. The space cannot occur in a client's key (ValidateKey), so
// no single write's key is ever an item's: batch items have a namespace
// of their own. Before, item keys were key+"/"+i, which a single write
// could also send.
func batchItemKey(key string, i int) string { return key + " #" + strconv.Itoa(i) }

// batchItemLegacyKey is where item i was stored before (see batchItemKey).
func batchItemLegacyKey(key string, i int) string { return key + "/" + strconv.Itoa(i) }

// Keys stored before the scheme of version idempotencySchemeVersion (the
// whole principal as scope, batch items in their own namespace) are found
// where they were: a write whose key may have been stored the old way
// looks there too, among the rows created before the new scheme began
// (Ledger.legacyKeysBefore; zero when the database has none). Such a row
// in the same scope (a batch item's old key) is the same write and is
// answered as before; a row in the old role:sub scope of an actor that now
// has a wider one cannot be told apart from another organisation's write
// with the same subject, so it is a conflict, never a replay and never a
// second write. Processes of the old version still running after the
// migration keep writing the old way: upgrade them together.
const idempotencySchemeVersion = 2

func (l *Ledger) probesLegacy(k Key) bool { return k.legacyKey != "" && !l.legacyKeysBefore.IsZero() }

// errLegacyScope answers a key found only in an old, ambiguous scope.
func errLegacyScope(key string) error {
	return Errf(CodeIdempotencyConflict, "Idempotency-Key %q was used before keys were scoped by the whole principal (issuer, role, organisation or city, subject); "+
		"whose write that was cannot be told, so it is neither replayed nor repeated: send the request with a new key", key)
}

// legacyLookup answers a write from where its key was stored before the
// current scheme, when it is there.
func (l *Ledger) legacyLookup(ctx context.Context, tx pgx.Tx, key Key, hash []byte, out any) (found bool, err error) {
	var storedHash []byte
	var resp string
	err = tx.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3`,
		key.legacyScope, key.legacyKey, l.legacyKeysBefore).Scan(&storedHash, &resp)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if key.legacyScope != key.Scope {
		return false, errLegacyScope(key.Key)
	}
	if !bytes.Equal(storedHash, hash) || resp == "" {
		return false, Errf(CodeIdempotencyConflict, "Idempotency-Key %q was already used with a different request", key.Key)
	}
	if err := json.Unmarshal([]byte(resp), out); err != nil {
		return false, err
	}
	return true, nil
}

// loadLegacyKeysBefore is when the current idempotency scheme began, if
// the database holds keys stored before it; zero otherwise (a new
// database, or one not migrated yet), and then nothing is probed.
func loadLegacyKeysBefore(ctx context.Context, q querier) (time.Time, error) {
	var since time.Time
	err := q.QueryRow(ctx, `SELECT since FROM idempotency_scheme WHERE version = $1`, idempotencySchemeVersion).Scan(&since)
	var pgErr *pgconn.PgError
	if errors.Is(err, pgx.ErrNoRows) || errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	var old bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE created_at < $1)`, since).Scan(&old); err != nil || !old {
		return time.Time{}, err
	}
	return since, nil
}

// ValidateKey checks the client's key: 1 to 128 printable ASCII characters.
func ValidateKey(k string) error {
	if len(k) == 0 {
		return Errf(CodeIdempotencyKeyMissing, "an Idempotency-Key is required on every write")
	}
	if len(k) > IdempotencyKeyBytesMax {
		return Errf(CodeInvalidRequest, "Idempotency-Key exceeds %d characters", IdempotencyKeyBytesMax)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return Errf(CodeInvalidRequest, "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

// requestHash fingerprints an operation and its decoded input. The same
// key with a different fingerprint is a conflict.
func requestHash(op string, input any) []byte {
	body, err := json.Marshal(input)
	if err != nil {
		// Inputs are plain structs; failing to marshal is a programming error.
		panic("ledger: request hash: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// runOp runs fn once per key, in one database transaction: it first
// claims the key (a concurrent duplicate blocks on the key's unique index
// until the first commits or rolls back, then finds its stored result),
// runs fn, and stores fn's result with the key in the same transaction.
// Errors are not stored: a failed request changed nothing and may be sent
// again.
func runOp[T any](ctx context.Context, l *Ledger, key Key, op string, input any, fn func(pgx.Tx) (T, error)) (res T, replayed bool, err error) {
	return runOpBatch(ctx, l, key, op, input, func(tx pgx.Tx) (T, *pgx.Batch, error) {
		r, err := fn(tx)
		return r, nil, err
	})
}

// runOpBatch is runOp for an fn that leaves statements to send (a use
// case's feed events): they go in one round trip with the stored result.
func runOpBatch[T any](ctx context.Context, l *Ledger, key Key, op string, input any, fn func(pgx.Tx) (T, *pgx.Batch, error)) (res T, replayed bool, err error) {
	if err := ValidateKey(key.Key); err != nil {
		return res, false, err
	}
	hash := requestHash(op, input)
	err = l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		var zero T
		res, replayed = zero, false
		if l.probesLegacy(key) {
			found, err := l.legacyLookup(ctx, tx, key, hash, &res)
			if found || err != nil {
				replayed = found
				return err
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, response) VALUES ($1, $2, $3, '')
			ON CONFLICT (scope, key) DO NOTHING`, key.Scope, key.Key, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			found, err := idemLookup(ctx, tx, key, hash, &res)
			if err == nil && !found {
				return errRetry
			}
			replayed = found
			return err
		}
		r, b, err := fn(tx)
		if err != nil {
			return err
		}
		res = r
		body, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if b == nil {
			b = &pgx.Batch{}
		}
		b.Queue(`UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2`, key.Scope, key.Key, string(body))
		return tx.SendBatch(ctx, b).Close()
	})
	if replayed {
		l.stats.Replays.Add(1)
	}
	return res, replayed, err
}

func idemLookup(ctx context.Context, tx pgx.Tx, key Key, hash []byte, out any) (bool, error) {
	var storedHash []byte
	var resp string
	err := tx.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2`, key.Scope, key.Key).Scan(&storedHash, &resp)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !bytes.Equal(storedHash, hash) {
		return false, Errf(CodeIdempotencyConflict, "Idempotency-Key %q was already used with a different request", key.Key)
	}
	if resp == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(resp), out); err != nil {
		return false, err
	}
	return true, nil
}

// IdempotencyRetentionDefault keeps a key 90 days: far longer than any
// client retries a request (a mobile app offline for a week, a batch
// re-sent after a holiday or a quarter's end), and as long as `seed` may
// be run again on the same database and change nothing; short enough
// that the table does not grow for ever. Past it, the same key and body
// is a new request.
const IdempotencyRetentionDefault = 90 * 24 * time.Hour

// IdempotencyRetention is how long this ledger keeps idempotency keys.
func (l *Ledger) IdempotencyRetention() time.Duration {
	if l.opts.IdempotencyRetention <= 0 {
		return IdempotencyRetentionDefault
	}
	return l.opts.IdempotencyRetention
}

// PruneIdempotencyKeys deletes up to limit keys older than the retention,
// oldest first, and reports how many. Only keys whose write has finished
// are old enough to go: a key is written in its write's transaction.
func (l *Ledger) PruneIdempotencyKeys(ctx context.Context, limit int) (int, error) {
	limit = min(max(limit, 1), JobBatchMax)
	retention := l.IdempotencyRetention()
	var n int
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM idempotency_keys WHERE (scope, key) IN (
				SELECT scope, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)`,
			l.now().Add(-retention), limit)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}
