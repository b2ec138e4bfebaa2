package quota

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Event is one state change in the trail: who, when, why, and what.
type Event struct {
	SubjectID   uuid.UUID         `json:"subject_id"`
	SubjectKind string            `json:"subject_kind"`
	Seq         int64             `json:"seq"`
	Action      string            `json:"action"`
	Actor       string            `json:"actor"`
	ActorOrg    string            `json:"actor_org,omitempty"`
	ActorCity   string            `json:"actor_city,omitempty"`
	Reason      string            `json:"reason"`
	Detail      map[string]string `json:"detail"`
	TxID        *uuid.UUID        `json:"transaction_id,omitempty"`
	At          time.Time         `json:"at"`
}

// Subject kinds of the trail.
const (
	subjectSource      = "source"
	subjectApplication = "application"
	subjectStockpiling = "stockpiling"
	subjectTransfer    = "transfer"
	subjectCorrection  = "correction"
	subjectConfig      = "config"
)

// record appends an event to a subject's trail. The caller holds the
// subject's lock (its row FOR UPDATE, or it has just created it), so the
// head row is uncontended; it is locked anyway as a second line of defence.
func record(w *ledger.Writer, actor ledger.Actor, kind string, subject uuid.UUID, action, reason string, detail map[string]string, txID *uuid.UUID) error {
	ctx, tx := w.Ctx(), w.Tx()
	var seq int64
	var prev []byte
	err := tx.QueryRow(ctx, `SELECT seq, head FROM quota_event_heads WHERE subject_id = $1 FOR UPDATE`, subject).Scan(&seq, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		seq, prev, err = 0, []byte{}, nil
	}
	if err != nil {
		return err
	}
	if detail == nil {
		detail = map[string]string{}
	}
	ev := Event{SubjectID: subject, SubjectKind: kind, Seq: seq + 1, Action: action, Actor: actor.ID(),
		ActorOrg: actor.Org, ActorCity: actor.City, Reason: reason, Detail: detail, TxID: txID, At: w.Now()}
	h := eventHash(prev, &ev)
	if _, err := tx.Exec(ctx, `
		INSERT INTO quota_events (subject_id, seq, subject_kind, action, actor, actor_org, actor_city, reason, detail, tx_id, at, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		ev.SubjectID, ev.Seq, ev.SubjectKind, ev.Action, ev.Actor, ev.ActorOrg, ev.ActorCity, ev.Reason, ev.Detail, ev.TxID, ev.At, prev, h); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO quota_event_heads (subject_id, seq, head) VALUES ($1, $2, $3)
		ON CONFLICT (subject_id) DO UPDATE SET seq = excluded.seq, head = excluded.head`, subject, ev.Seq, h)
	return err
}

// eventHash links an event to its predecessor in the subject's trail.
func eventHash(prev []byte, e *Event) []byte {
	var b []byte
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str("carbonledger.quota.event.v1")
	str(string(prev))
	str(e.SubjectID.String())
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	str(e.SubjectKind)
	str(e.Action)
	str(e.Actor)
	str(e.ActorOrg)
	str(e.ActorCity)
	str(e.Reason)
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.BigEndian.AppendUint64(b, uint64(len(keys)))
	for _, k := range keys {
		str(k)
		str(e.Detail[k])
	}
	if e.TxID != nil {
		str(e.TxID.String())
	} else {
		str("")
	}
	str(e.At.UTC().Format("2006-01-02T15:04:05.000000Z"))
	s := sha256.Sum256(b)
	return s[:]
}

// trail reads a subject's events in order (the first TrailEventsMax).
func trail(ctx context.Context, q pgx.Tx, subject uuid.UUID) ([]Event, error) {
	rows, err := q.Query(ctx, `
		SELECT subject_id, subject_kind, seq, action, actor, actor_org, actor_city, reason, detail, tx_id, at
		FROM quota_events WHERE subject_id = $1 ORDER BY seq LIMIT $2`, subject, TrailEventsMax)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.SubjectID, &e.SubjectKind, &e.Seq, &e.Action, &e.Actor, &e.ActorOrg, &e.ActorCity, &e.Reason, &e.Detail, &e.TxID, &e.At)
		e.At = e.At.UTC()
		return e, err
	})
}

// TrailProblem is an event whose chain does not verify.
type TrailProblem struct {
	SubjectID uuid.UUID `json:"subject_id"`
	Seq       int64     `json:"seq"`
	Detail    string    `json:"detail"`
}

// VerifyTrail recomputes every event's hash chain and compares the last
// hash with the subject's head: a changed, removed or inserted event, or a
// rewritten head, is reported.
func VerifyTrail(ctx context.Context, l *ledger.Ledger) ([]TrailProblem, error) {
	tx, err := l.Pool().BeginTx(ctx, readSnapshot)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	heads := map[uuid.UUID]struct {
		seq  int64
		head []byte
	}{}
	rows, err := tx.Query(ctx, `SELECT subject_id, seq, head FROM quota_event_heads`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id uuid.UUID
		var h struct {
			seq  int64
			head []byte
		}
		if err := rows.Scan(&id, &h.seq, &h.head); err != nil {
			rows.Close()
			return nil, err
		}
		heads[id] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	problems := []TrailProblem{}
	rows, err = tx.Query(ctx, `
		SELECT subject_id, subject_kind, seq, action, actor, actor_org, actor_city, reason, detail, tx_id, at, prev_hash, hash
		FROM quota_events ORDER BY subject_id, seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cur uuid.UUID
	var prev []byte
	var want int64
	seen := map[uuid.UUID]bool{}
	finish := func() {
		if cur == uuid.Nil {
			return
		}
		h := heads[cur]
		if h.seq != want || !bytes.Equal(h.head, prev) {
			problems = append(problems, TrailProblem{SubjectID: cur, Seq: want, Detail: "the trail's last event does not match the subject's head: events were removed or the head was rewritten"})
		}
	}
	for rows.Next() {
		var e Event
		var storedPrev, stored []byte
		if err := rows.Scan(&e.SubjectID, &e.SubjectKind, &e.Seq, &e.Action, &e.Actor, &e.ActorOrg, &e.ActorCity, &e.Reason, &e.Detail, &e.TxID, &e.At, &storedPrev, &stored); err != nil {
			return nil, err
		}
		if e.SubjectID != cur {
			finish()
			cur, prev, want = e.SubjectID, []byte{}, 0
			seen[cur] = true
		}
		want++
		if e.Seq != want {
			problems = append(problems, TrailProblem{SubjectID: e.SubjectID, Seq: e.Seq, Detail: "sequence gap: an event was removed or inserted"})
			want = e.Seq
		}
		if e.Detail == nil {
			e.Detail = map[string]string{}
		}
		if !bytes.Equal(storedPrev, prev) || !bytes.Equal(eventHash(prev, &e), stored) {
			problems = append(problems, TrailProblem{SubjectID: e.SubjectID, Seq: e.Seq, Detail: "the event's hash does not match its content and predecessor: it was changed"})
		}
		prev = stored
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	finish()
	for id := range heads {
		if !seen[id] {
			problems = append(problems, TrailProblem{SubjectID: id, Detail: "a subject's head has no events: they were removed"})
		}
	}
	return problems, nil
}

// readSnapshot reads one consistent snapshot without blocking writers.
var readSnapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
