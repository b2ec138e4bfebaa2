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

// runOp runs fn once per key: inside one database transaction it looks the
// key up, runs fn when the key is new, and stores fn's result with the key
// in the same transaction. A concurrent duplicate blocks on the key's
// unique index until the first commits, then retries and finds the stored
// result. Errors are not stored: a failed request changed nothing and may
// be sent again.
func runOp[T any](ctx context.Context, l *Ledger, key Key, op string, input any, fn func(pgx.Tx) (T, error)) (res T, replayed bool, err error) {
	if err := ValidateKey(key.Key); err != nil {
		return res, false, err
	}
	hash := requestHash(op, input)
	err = l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		var zero T
		res, replayed = zero, false
		found, err := idemLookup(ctx, tx, key, hash, &res)
		if err != nil || found {
			replayed = found
			return err
		}
		r, err := fn(tx)
		if err != nil {
			return err
		}
		res = r
		return idemStore(ctx, tx, key, hash, r)
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
	if err := json.Unmarshal([]byte(resp), out); err != nil {
		return false, err
	}
	return true, nil
}

func idemStore(ctx context.Context, tx pgx.Tx, key Key, hash []byte, result any) error {
	body, err := json.Marshal(result)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, response) VALUES ($1, $2, $3, $4) ON CONFLICT (scope, key) DO NOTHING`,
		key.Scope, key.Key, hash, string(body))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errRetry // a concurrent duplicate committed first
	}
	return nil
}
