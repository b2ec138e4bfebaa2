package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
)

// IdempotencyKeyBytesMax bounds the client's key.
const IdempotencyKeyBytesMax = 128

// Key identifies one intended write: the principal that sent it and the
// client's key. Two principals never share keys.
type Key struct {
	Scope string
	Key   string
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
	if err := ValidateKey(key.Key); err != nil {
		return res, false, err
	}
	hash := requestHash(op, input)
	err = l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		var zero T
		res, replayed = zero, false
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
		r, err := fn(tx)
		if err != nil {
			return err
		}
		res = r
		body, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2`, key.Scope, key.Key, string(body))
		return err
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
