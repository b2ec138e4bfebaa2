package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The trail: every decision of every use case — who, when, why, what — in
// one append-only table, numbered per subject under the subject's head row
// lock and hash-chained, so a changed, removed or inserted event, or a
// rewritten head, is found by VerifyTrails. One shape for all use cases,
// so one verify, one reader and (later) one feed cover them all.

// TrailEventsMax bounds how many events one read of a subject returns.
const TrailEventsMax = 500

// TrailEvent is one decision in a subject's trail.
type TrailEvent struct {
	UseCase   string          `json:"use_case"`
	Subject   string          `json:"subject"` // the use case's own name of the thing: "batch:…", "application:…"
	Seq       int64           `json:"seq"`
	Event     string          `json:"event"` // "batch.issued", "approve", …
	Actor     string          `json:"actor"`
	ActorOrg  string          `json:"actor_org,omitempty"`
	ActorCity string          `json:"actor_city,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	Body      json.RawMessage `json:"body"`
	TxID      *uuid.UUID      `json:"transaction_id,omitempty"`
	At        time.Time       `json:"at"`
}

// Trail appends an event to subject's trail in this transaction. body is
// any JSON-encodable value (nil is {}); it is stored and hashed in one
// canonical form, so what is read back verifies. The caller usually holds
// the subject's own row lock already; the head row is locked anyway.
func (w *Writer) Trail(useCase, subject, event string, actor Actor, reason string, body any, txID *uuid.UUID) error {
	canon, err := canonicalJSON(body)
	if err != nil {
		return err
	}
	ev := TrailEvent{UseCase: useCase, Subject: subject, Event: event, Actor: actor.ID(), ActorOrg: actor.Org,
		ActorCity: actor.City, Reason: reason, Body: canon, TxID: txID, At: w.now}
	var prev []byte
	err = w.tx.QueryRow(w.ctx, `SELECT seq, head FROM trail_heads WHERE use_case = $1 AND subject = $2 FOR UPDATE`, useCase, subject).Scan(&ev.Seq, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		ev.Seq, prev, err = 0, []byte{}, nil
	}
	if err != nil {
		return err
	}
	ev.Seq++
	h := trailHash(prev, &ev)
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO trail_events (use_case, subject, seq, event, actor, actor_org, actor_city, reason, body, tx_id, at, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::JSONB, $10, $11, $12, $13)`,
		ev.UseCase, ev.Subject, ev.Seq, ev.Event, ev.Actor, ev.ActorOrg, ev.ActorCity, ev.Reason, string(ev.Body), ev.TxID, ev.At, prev, h)
	b.Queue(`
		INSERT INTO trail_heads (use_case, subject, seq, head) VALUES ($1, $2, $3, $4)
		ON CONFLICT (use_case, subject) DO UPDATE SET seq = excluded.seq, head = excluded.head`, useCase, subject, ev.Seq, h)
	return w.tx.SendBatch(w.ctx, b).Close()
}

// Trail reads a subject's events in order (the first TrailEventsMax).
func (j Journal) Trail(useCase, subject string) ([]TrailEvent, error) {
	rows, err := j.tx.Query(j.ctx, `
		SELECT use_case, subject, seq, event, actor, actor_org, actor_city, reason, body, tx_id, at
		FROM trail_events WHERE use_case = $1 AND subject = $2 ORDER BY seq LIMIT $3`, useCase, subject, TrailEventsMax)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanTrailEvent)
}

func scanTrailEvent(r pgx.CollectableRow) (TrailEvent, error) {
	var e TrailEvent
	var body []byte
	err := r.Scan(&e.UseCase, &e.Subject, &e.Seq, &e.Event, &e.Actor, &e.ActorOrg, &e.ActorCity, &e.Reason, &body, &e.TxID, &e.At)
	if err != nil {
		return e, err
	}
	e.At = e.At.UTC()
	e.Body, err = canonicalJSON(json.RawMessage(body))
	return e, err
}

// canonicalJSON is the one form a body is hashed in: Go's encoding of the
// decoded value (object keys sorted, numbers verbatim). JSONB keeps the
// value but not the text, so hashing the text as sent would not verify.
func canonicalJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage(`{}`), nil
	}
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if x == nil {
		return json.RawMessage(`{}`), nil
	}
	out, err := json.Marshal(x)
	return json.RawMessage(out), err
}

// trailHash links an event to its predecessor in the subject's trail.
func trailHash(prev []byte, e *TrailEvent) []byte {
	var b []byte
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str("carbonledger.trail.v1")
	str(string(prev))
	str(e.UseCase)
	str(e.Subject)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	str(e.Event)
	str(e.Actor)
	str(e.ActorOrg)
	str(e.ActorCity)
	str(e.Reason)
	str(string(e.Body))
	if e.TxID != nil {
		str(e.TxID.String())
	} else {
		str("")
	}
	str(e.At.UTC().Format("2006-01-02T15:04:05.000000Z"))
	s := sha256.Sum256(b)
	return s[:]
}

// sealLegacyTrail chains the events that migration 0005 moved from the
// use cases' old trail tables (stored with an empty hash). It runs at
// start-up, subject by subject under the head lock, and is a no-op once
// every event is sealed; a sealed event is never re-sealed.
func (l *Ledger) sealLegacyTrail(ctx context.Context) error {
	for {
		var subjects [][2]string
		err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT DISTINCT use_case, subject FROM trail_events WHERE hash = ''::BYTEA LIMIT 100`)
			if err != nil {
				return err
			}
			subjects, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
				var s [2]string
				return s, r.Scan(&s[0], &s[1])
			})
			return err
		})
		if err != nil || len(subjects) == 0 {
			return err
		}
		for _, s := range subjects {
			if err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error { return sealSubject(ctx, tx, s[0], s[1]) }); err != nil {
				return fmt.Errorf("seal trail %s %s: %w", s[0], s[1], err)
			}
		}
	}
}

func sealSubject(ctx context.Context, tx pgx.Tx, useCase, subject string) error {
	// Lock the head first (creating it if the subject has none), so a
	// concurrent Trail append or sealer waits.
	if _, err := tx.Exec(ctx, `
		INSERT INTO trail_heads (use_case, subject, seq, head) VALUES ($1, $2, 0, ''::BYTEA)
		ON CONFLICT (use_case, subject) DO NOTHING`, useCase, subject); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM trail_heads WHERE use_case = $1 AND subject = $2 FOR UPDATE`, useCase, subject); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
		SELECT use_case, subject, seq, event, actor, actor_org, actor_city, reason, body, tx_id, at
		FROM trail_events WHERE use_case = $1 AND subject = $2 ORDER BY seq`, useCase, subject)
	if err != nil {
		return err
	}
	events, err := pgx.CollectRows(rows, scanTrailEvent)
	if err != nil {
		return err
	}
	// Sealed events come first (legacy rows are moved before any new
	// append to their subject is possible); chain on from the last one.
	var hashes [][]byte
	rows, err = tx.Query(ctx, `SELECT hash FROM trail_events WHERE use_case = $1 AND subject = $2 ORDER BY seq`, useCase, subject)
	if err != nil {
		return err
	}
	if hashes, err = pgx.CollectRows(rows, pgx.RowTo[[]byte]); err != nil {
		return err
	}
	prev := []byte{}
	b := &pgx.Batch{}
	for i := range events {
		e := &events[i]
		if len(hashes[i]) > 0 {
			prev = hashes[i]
			continue
		}
		h := trailHash(prev, e)
		b.Queue(`UPDATE trail_events SET prev_hash = $4, hash = $5 WHERE use_case = $1 AND subject = $2 AND seq = $3 AND hash = ''::BYTEA`,
			useCase, subject, e.Seq, prev, h)
		prev = h
	}
	var last int64
	if n := len(events); n > 0 {
		last = events[n-1].Seq
	}
	b.Queue(`UPDATE trail_heads SET seq = $3, head = $4 WHERE use_case = $1 AND subject = $2`, useCase, subject, last, prev)
	return tx.SendBatch(ctx, b).Close()
}

// verifyTrails recomputes every subject's chain and compares its end with
// the subject's head, reading chunkRows events per statement.
func verifyTrails(ctx context.Context, tx pgx.Tx, rep *VerifyReport, chunkRows int) error {
	type head struct {
		seq  int64
		head []byte
	}
	heads := map[[2]string]head{}
	rows, err := tx.Query(ctx, `SELECT use_case, subject, seq, head FROM trail_heads`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k [2]string
		var h head
		if err := rows.Scan(&k[0], &k[1], &h.seq, &h.head); err != nil {
			rows.Close()
			return err
		}
		heads[k] = h
	}
	if err := rows.Err(); err != nil {
		return err
	}
	problem := func(k [2]string, seq int64, detail string) {
		rep.add(Problem{Kind: "trail_chain", UseCase: k[0], Table: "trail_events", Row: fmt.Sprintf("%s#%d", k[1], seq), Detail: detail})
	}
	var cur [2]string
	var prev []byte
	var want int64
	started := false
	finish := func() {
		if !started {
			return
		}
		h, ok := heads[cur]
		if !ok || h.seq != want || !bytes.Equal(h.head, prev) {
			problem(cur, want, "the trail's last event does not match the subject's head: events were removed or the head was rewritten")
		}
		delete(heads, cur)
	}
	// In chunks of chunkRows events (a keyset on the primary
	// key), so no statement grows with the trail; the chain being replayed
	// carries over from one chunk to the next.
	after := struct {
		useCase, subject string
		seq              int64
	}{}
	for {
		rows, err := tx.Query(ctx, `
			SELECT use_case, subject, seq, event, actor, actor_org, actor_city, reason, body, tx_id, at, prev_hash, hash
			FROM trail_events WHERE (use_case, subject, seq) > ($1, $2, $3)
			ORDER BY use_case, subject, seq LIMIT $4`, after.useCase, after.subject, after.seq, chunkRows)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			var e TrailEvent
			var body, storedPrev, stored []byte
			if err := rows.Scan(&e.UseCase, &e.Subject, &e.Seq, &e.Event, &e.Actor, &e.ActorOrg, &e.ActorCity, &e.Reason, &body, &e.TxID, &e.At, &storedPrev, &stored); err != nil {
				rows.Close()
				return err
			}
			n++
			after.useCase, after.subject, after.seq = e.UseCase, e.Subject, e.Seq
			rep.TrailEvents++
			if k := [2]string{e.UseCase, e.Subject}; !started || k != cur {
				finish()
				cur, prev, want, started = k, []byte{}, 0, true
			}
			want++
			if e.Seq != want {
				problem(cur, e.Seq, "sequence gap: an event was removed or inserted")
				want = e.Seq
			}
			canon, err := canonicalJSON(json.RawMessage(body))
			if err != nil {
				rows.Close()
				return err
			}
			e.Body = canon
			if len(stored) == 0 {
				problem(cur, e.Seq, "the event is not sealed (empty hash)")
			} else if !bytes.Equal(storedPrev, prev) || !bytes.Equal(trailHash(prev, &e), stored) {
				problem(cur, e.Seq, "the event's hash does not match its content and predecessor: it was changed")
			}
			prev = stored
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n < chunkRows {
			break
		}
	}
	finish()
	for k, h := range heads {
		if h.seq > 0 {
			problem(k, 0, "a subject's head has no events: they were removed")
		}
	}
	return nil
}
