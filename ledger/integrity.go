package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Two stores the journal's own checks do not see, checked by VerifyAll:
//
//   - account statuses: a status is a decision (Writer.SetAccountStatus
//     records it in the account's trail), so every account's status must
//     be the one its last status event says, and a non-active account
//     must have one. An UPDATE of accounts.status behind the engine's back
//     is reported as account_status.
//   - the idempotency store's results of posted transactions: a replay
//     answers from them, so each must reference a transaction the journal
//     has, posted by the key's own principal, and be that transaction (its
//     hash, where the key stored one; the whole stored copy, where the key
//     stored the transaction itself). An edited result, or the deletion of
//     the transaction it references, is reported as idempotency_result. The
//     deletion of a key row itself leaves nothing to compare with: the
//     journal does not record the keys its transactions were posted under.

// EventAccountStatusAdopted records a status found without a decision when
// status decisions began to be recorded (adoptLegacyStatuses).
const EventAccountStatusAdopted = "account.status.adopted"

// statusMigrationSubject is the engine trail subject whose first event
// marks the adoption as done: after it no status is ever adopted again,
// so a later UPDATE of accounts.status stays visible across restarts.
const statusMigrationSubject = "migration:account-status"

var migrationActor = Actor{Sub: "migration", Role: "system"}

// adoptLegacyStatuses gives every non-active account that has no status
// decision (frozen or closed before decisions were recorded) one adoption
// event with the status as found, then marks the adoption as done. It runs
// at New, once per database; concurrent starts adopt each account once
// (the account's row lock, then a second look at its trail).
func (l *Ledger) adoptLegacyStatuses(ctx context.Context) error {
	var done bool
	if err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM trail_heads WHERE use_case = $1 AND subject = $2 AND seq > 0)`,
		TrailUseCase, statusMigrationSubject).Scan(&done); err != nil || done {
		return err
	}
	adopted := 0
	for {
		found, n := 0, 0
		err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
			var err error
			found, n, err = l.adoptSome(ctx, tx)
			return err
		})
		if err != nil {
			return fmt.Errorf("adopt account statuses: %w", err)
		}
		if adopted += n; found == 0 {
			break
		}
	}
	return l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO trail_heads (use_case, subject, seq, head) VALUES ($1, $2, 0, ''::BYTEA)
			ON CONFLICT (use_case, subject) DO NOTHING`, TrailUseCase, statusMigrationSubject); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM trail_heads WHERE use_case = $1 AND subject = $2 FOR UPDATE`,
			TrailUseCase, statusMigrationSubject).Scan(&seq); err != nil || seq > 0 {
			return err
		}
		return newWriter(ctx, l, tx).Trail(TrailUseCase, statusMigrationSubject, "migration.done", migrationActor,
			"account statuses set before status decisions were recorded are adopted as found; none is adopted after this event",
			map[string]string{"adopted": fmt.Sprint(adopted)}, nil)
	})
}

// adoptSome adopts up to 500 statuses; found is how many candidates it
// saw (0: none left), n how many it adopted.
func (l *Ledger) adoptSome(ctx context.Context, tx pgx.Tx) (found, n int, err error) {
	rows, err := tx.Query(ctx, `
		SELECT a.id FROM accounts a
		WHERE a.status <> 'active' AND NOT EXISTS (SELECT 1 FROM trail_heads h WHERE h.use_case = $1 AND h.subject = 'account:' || a.id)
		ORDER BY a.id LIMIT 500`, TrailUseCase)
	if err != nil {
		return 0, 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	// Lock the candidates, then look again: a concurrent start may have
	// adopted them, or the province decided on them, meanwhile.
	if _, err := tx.Exec(ctx, `SELECT id FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids); err != nil {
		return 0, 0, err
	}
	status := map[string]string{}
	rows, err = tx.Query(ctx, `
		SELECT a.id, a.status FROM accounts a
		WHERE a.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM trail_heads h WHERE h.use_case = $2 AND h.subject = 'account:' || a.id)`, ids, TrailUseCase)
	if err != nil {
		return 0, 0, err
	}
	var id, st string
	if _, err := pgx.ForEachRow(rows, []any{&id, &st}, func() error { status[id] = st; return nil }); err != nil {
		return 0, 0, err
	}
	w := newWriter(ctx, l, tx)
	for _, id := range slices.Sorted(maps.Keys(status)) {
		if status[id] == "active" {
			continue
		}
		if err := w.Trail(TrailUseCase, AccountSubject(id), EventAccountStatusAdopted, migrationActor,
			"status set before status decisions were recorded; adopted as found", map[string]string{"status": status[id]}, nil); err != nil {
			return 0, 0, err
		}
		n++
	}
	return len(ids), n, nil
}

// verifyAccountStatuses compares every account that is not active, and
// every account with a status decision, with its last status decision.
func verifyAccountStatuses(ctx context.Context, tx pgx.Tx, rep *VerifyReport) error {
	decided := map[string]string{} // account → status of its last status event
	rows, err := tx.Query(ctx, `
		SELECT subject, body FROM trail_events
		WHERE use_case = $1 AND subject LIKE 'account:%' AND event IN ($2, $3) ORDER BY subject, seq`,
		TrailUseCase, EventAccountStatus, EventAccountStatusAdopted)
	if err != nil {
		return err
	}
	var subject string
	var body []byte
	if _, err := pgx.ForEachRow(rows, []any{&subject, &body}, func() error {
		var b struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(body, &b) // an unreadable body is an empty status, reported below
		decided[strings.TrimPrefix(subject, "account:")] = b.Status
		return nil
	}); err != nil {
		return err
	}
	status := map[string]string{}
	var id, st string
	rows, err = tx.Query(ctx, `SELECT id, status FROM accounts WHERE status <> 'active'`)
	if err != nil {
		return err
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &st}, func() error { status[id] = st; return nil }); err != nil {
		return err
	}
	var others []string
	for a := range decided {
		if _, ok := status[a]; !ok {
			others = append(others, a)
		}
	}
	for chunk := range slices.Chunk(others, 1000) {
		rows, err := tx.Query(ctx, `SELECT id, status FROM accounts WHERE id = ANY($1)`, chunk)
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&id, &st}, func() error { status[id] = st; return nil }); err != nil {
			return err
		}
	}
	problem := func(a, detail string) {
		rep.add(Problem{Kind: "account_status", Table: "accounts", Row: a, Account: a, Detail: detail})
	}
	for _, a := range slices.Sorted(keysOf(status, decided)) {
		cur, exists := status[a]
		last, hasDecision := decided[a]
		switch {
		case !exists:
			problem(a, fmt.Sprintf("the account's trail decides status %q but the account does not exist", last))
		case !hasDecision:
			problem(a, fmt.Sprintf("status %q without a recorded decision: it was set behind the engine's back", cur))
		case cur != last:
			problem(a, fmt.Sprintf("status %q, but the last recorded decision says %q: the status was changed behind the engine's back", cur, last))
		}
	}
	return nil
}

// keysOf iterates the union of two maps' keys.
func keysOf(a, b map[string]string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
		for k := range b {
			if _, dup := a[k]; !dup && !yield(k) {
				return
			}
		}
	}
}

// idemRef is one stored result that references a journal transaction.
type idemRef struct {
	row    string
	scope  string
	txID   uuid.UUID
	hash   []byte // the hash the key (or its stored copy) has, if any
	copied []byte // for a stored copy of the transaction: its recomputed hash
}

// idemPageRows bounds how many keys the check holds at once.
const idemPageRows = 1000

// verifyIdempotencyResults pages through the keys whose result references
// a posted transaction and compares each with the journal.
func verifyIdempotencyResults(ctx context.Context, tx pgx.Tx, rep *VerifyReport) error {
	after := [2]string{"", ""}
	for {
		rows, err := tx.Query(ctx, `
			SELECT scope, key, response FROM idempotency_keys
			WHERE (scope, key) > ($1, $2)
			ORDER BY scope, key LIMIT $3`, after[0], after[1], idemPageRows)
		if err != nil {
			return err
		}
		var refs []idemRef
		var scope, key, resp string
		n := 0
		if _, err := pgx.ForEachRow(rows, []any{&scope, &key, &resp}, func() error {
			n, after = n+1, [2]string{scope, key}
			// Filtered here, not by LIKE in the query: two LIKEs per row made
			// a page of 1,000 keys 15 times slower to read (35 ms against
			// 2 ms at 700,000 keys), and this check pages through them all.
			if strings.Contains(resp, `"transaction_id"`) || strings.Contains(resp, `"postings"`) {
				refs = append(refs, storedRefs(scope, scope+"/"+key, resp)...)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := checkIdemRefs(ctx, tx, refs, rep); err != nil {
			return err
		}
		if n < idemPageRows {
			return nil
		}
	}
}

// storedRefs reads the transactions a stored result references: the id
// (and hash) a posted transfer's key stores — an object of those fields
// alone, the only form its replay accepts — or the transaction(s) an
// engine operation (reversal, resolution, atomic batch) stored whole.
// Other results (a use case's own) reference nothing here.
func storedRefs(scope, row, resp string) []idemRef {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(resp), &obj) == nil {
		_, hasHash := obj["hash"]
		if _, ok := obj["transaction_id"]; ok && (len(obj) == 1 || (len(obj) == 2 && hasHash)) {
			var s storedTx
			_ = json.Unmarshal([]byte(resp), &s) // an unreadable id is uuid.Nil, which the journal does not have
			return []idemRef{{row: row, scope: scope, txID: s.ID, hash: s.Hash}}
		}
		if r, ok := wholeRef(scope, row, resp); ok {
			return []idemRef{r}
		}
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal([]byte(resp), &list) != nil {
		return nil
	}
	var out []idemRef
	for _, item := range list {
		r, ok := wholeRef(scope, row, string(item))
		if !ok {
			return nil
		}
		out = append(out, r)
	}
	return out
}

// wholeRef reads a stored copy of a transaction: an object with an id and
// postings (other results with an id have no postings).
func wholeRef(scope, row, item string) (idemRef, bool) {
	var shape map[string]json.RawMessage
	if json.Unmarshal([]byte(item), &shape) != nil || shape["id"] == nil || shape["postings"] == nil {
		return idemRef{}, false
	}
	var t Transaction
	if json.Unmarshal([]byte(item), &t) != nil {
		// Not even readable as a transaction: its replay fails too. Name it
		// by an id that the journal cannot have.
		return idemRef{row: row, scope: scope}, true
	}
	return idemRef{row: row, scope: scope, txID: t.ID, hash: t.Hash, copied: t.computeHash()}, true
}

// checkIdemRefs compares one page of references with the journal.
func checkIdemRefs(ctx context.Context, tx pgx.Tx, refs []idemRef, rep *VerifyReport) error {
	if len(refs) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(refs))
	for i, r := range refs {
		ids[i] = r.txID
	}
	type jtx struct {
		actor string
		hash  []byte
	}
	journal := map[uuid.UUID]jtx{}
	rows, err := tx.Query(ctx, `SELECT id, actor, hash FROM transactions WHERE id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	var id uuid.UUID
	var t jtx
	if _, err := pgx.ForEachRow(rows, []any{&id, &t.actor, &t.hash}, func() error { journal[id] = jtx{t.actor, t.hash}; return nil }); err != nil {
		return err
	}
	for _, r := range refs {
		j, ok := journal[r.txID]
		detail := ""
		switch {
		case !ok:
			detail = fmt.Sprintf("the stored result references transaction %s, which the journal does not have", r.txID)
		case j.actor != r.scope:
			detail = fmt.Sprintf("the stored result references transaction %s, posted by %s, not by the key's principal", r.txID, j.actor)
		case r.hash != nil && !bytes.Equal(r.hash, j.hash):
			detail = fmt.Sprintf("the stored hash of transaction %s differs from the journal's: the result was edited", r.txID)
		case r.copied != nil && !bytes.Equal(r.copied, j.hash):
			detail = fmt.Sprintf("the stored copy of transaction %s differs from the journal's: the result was edited", r.txID)
		default:
			continue
		}
		rep.add(Problem{Kind: "idempotency_result", Table: "idempotency_keys", Row: r.row, TxID: r.txID.String(), Detail: detail})
	}
	return nil
}
