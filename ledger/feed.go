package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The change feed (docs/events.md): a transactional outbox. Every write
// inserts its events in the same database transaction as its effect — the
// engine one event per journal transaction it writes (writeJournal), a use
// case its facts through Writer.Emit — so a write that commits has its
// events and one that rolls back has none. Each statement that writes
// events writes one chunk (feed_chunks) of them (feed_events, ordinals 0,
// 1, …). Positions come only after commit, from the relay (RelayEvents):
// one relay at a time, holding the 'relay' row of feed_cursors, gives the
// committed chunks it can see consecutive position ranges. A position is
// therefore visible only once every smaller one is, which a number taken
// inside concurrent writers cannot promise.

// Named limits of the feed.
const (
	EventsPageMax        = 500   // events one read returns
	EventsScanMax        = 10000 // positions one read looks at for a scoped reader
	EventsPerWriteMax    = 5000  // events one database transaction may emit
	EventTypeBytesMax    = 64
	EventSubjectBytesMax = 256
	EventBodyBytesMax    = 64 << 10
	// FeedRetentionDefault keeps stamped events a week before the
	// retention job may delete them.
	FeedRetentionDefault = 7 * 24 * time.Hour
	relayCursor          = "relay"
	prunedCursor         = "pruned"
)

// CodeCursorExpired answers a feed cursor older than the retention: the
// events after it were deleted, so the reader must start again from a
// snapshot (and the head the problem names).
const CodeCursorExpired Code = "cursor_expired"

// EventTransaction is the engine's own event: one per journal transaction
// written (posted, pending, a resolution, a reversal), subject
// "transaction:<id>", visible to the owners of its accounts.
const EventTransaction = "transaction.recorded"

// EventSchemaVersion is the version of every body this build emits; a
// change that is not an addition of optional fields bumps it.
const EventSchemaVersion = 1

// Visibility lists who may see an event besides the province and the
// auditors (who see everything): account owners in the chart's sense —
// "citizen:<id>", "operator:<org>", "holder:<org>", "enterprise:<org>",
// "org:<org>", "city:<code>". A reader sees an event when one of the
// owners it reads for (see Actor.feedOwners, which mirrors CanRead) is
// listed.
type Visibility []string

// SeenByCitizen, SeenByOrg and SeenByCity name one owner each.
func SeenByCitizen(id string) string { return "citizen:" + id }
func SeenByOrg(id string) string     { return "org:" + id }
func SeenByCity(code string) string  { return "city:" + code }

// VisibilityOf is the owners of the accounts, with whoever else is
// listed: the visibility of a fact about those accounts.
func VisibilityOf(accounts []string, owners ...string) Visibility {
	v := Visibility(owners)
	for _, a := range accounts {
		if spec, err := ClassifyAccount(a); err == nil {
			v = append(v, spec.Owner)
		}
	}
	return v.normal()
}

// normal sorts and deduplicates, and drops empty names.
func (v Visibility) normal() Visibility {
	out := make(Visibility, 0, len(v))
	for _, o := range v {
		// A comma cannot occur in a chart identifier; a name with one is
		// dropped (it names no reader), never split into two.
		if o != "" && !strings.Contains(o, ",") {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// feedOwners are the owners an actor reads events for (OwnersOf, CanRead's
// rule as a set; never nil, so an actor without its identity reads
// nothing); all reports the province and auditors, who read everything.
func (a Actor) feedOwners() (owners []string, all bool) {
	if a.Role == RoleProvince || a.Role == RoleAuditor {
		return nil, true
	}
	return NonNil(OwnersOf(a)), false
}

// CanSeeEvent reports whether the actor may see an event of this
// visibility (the same rule the feed's query applies).
func CanSeeEvent(a Actor, v Visibility) bool {
	owners, all := a.feedOwners()
	if all {
		return true
	}
	for _, o := range owners {
		if slices.Contains(v, o) {
			return true
		}
	}
	return false
}

// Event is one entry of the feed.
type Event struct {
	ID            uuid.UUID       `json:"id"`
	Position      int64           `json:"position"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Subject       string          `json:"subject"`
	Visibility    Visibility      `json:"visibility"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Data          json.RawMessage `json:"data"`
}

// pendingEvent is an event emitted in a database transaction not yet
// written.
type pendingEvent struct {
	id      uuid.UUID
	typ     string
	subject string
	vis     Visibility
	at      time.Time
	body    string
}

// Emit records a fact of a use case in this database transaction: the
// event is written with the transaction and only if it commits. typ is the
// event type ("points.credited"; documented in docs/events.md and
// /openapi.json), subject the thing it is about ("citizen:C1",
// "trade:<id>"), body any JSON-encodable value. Events are buffered and
// written in one statement when the use case's function returns.
func (w *Writer) Emit(typ, subject string, vis Visibility, body any) error {
	if typ == "" || len(typ) > EventTypeBytesMax || subject == "" || len(subject) > EventSubjectBytesMax {
		return Errf(CodeInternal, "event type and subject must be 1 to %d and %d bytes", EventTypeBytesMax, EventSubjectBytesMax)
	}
	if len(w.events) >= EventsPerWriteMax {
		return Errf(CodeLimitExceeded, "at most %d events per write", EventsPerWriteMax)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if len(b) > EventBodyBytesMax {
		return Errf(CodeInternal, "event %s body exceeds %d bytes", typ, EventBodyBytesMax)
	}
	if string(b) == "null" {
		b = []byte("{}")
	}
	w.events = append(w.events, pendingEvent{id: NewID(), typ: typ, subject: subject, vis: vis.normal(), at: w.now, body: string(b)})
	return nil
}

// flushEvents writes the events emitted so far, in one statement.
func (w *Writer) flushEvents() error {
	if len(w.events) == 0 {
		return nil
	}
	return w.tx.SendBatch(w.ctx, w.eventBatch()).Close()
}

// eventBatch queues the events emitted so far (none: an empty batch) for
// the caller to send with its own statements.
func (w *Writer) eventBatch() *pgx.Batch {
	b := &pgx.Batch{}
	queueEvents(w.tx, b, w.events)
	w.events = nil
	return b
}

// queueEvents queues the insert of events into the outbox: one chunk,
// the events at ordinals 0, 1, … of it, on the database transaction q;
// they are counted by type in q's tally, which counts only if q commits
// (stats.go). Every writer of events comes through here.
func queueEvents(q any, b *pgx.Batch, evs []pendingEvent) {
	n := len(evs)
	if n == 0 {
		return
	}
	tallyOf(q).addEvents(evs)
	ids, types, subjects, vis, bodies := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	ords := make([]int64, n)
	for i, e := range evs {
		ids[i], types[i], subjects[i], ats[i], bodies[i], ords[i] = e.id.String(), e.typ, e.subject, e.at, e.body, int64(i)
		// Arrays of arrays do not unnest portably: each visibility travels
		// as one comma-separated text (owner names have no commas: see
		// normal) and is split in SQL.
		vis[i] = strings.Join(e.vis, ",")
	}
	chunk := NewID()
	b.Queue(`INSERT INTO feed_chunks (id, events, created_at) VALUES ($1, $2, $3)`, chunk, n, evs[0].at)
	b.Queue(`
		INSERT INTO feed_events (chunk_id, ordinal, id, type, schema_version, subject, visibility, occurred_at, body)
		SELECT $1::UUID, ord, id::UUID, typ, $2::INT8, subj, string_to_array(vis, ','), at, body
		FROM unnest($3::INT8[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TIMESTAMPTZ[], $9::TEXT[]) AS v(ord, id, typ, subj, vis, at, body)`,
		chunk, EventSchemaVersion, ords, ids, types, subjects, vis, ats, bodies)
}

// TransactionEventData is the body of a transaction.recorded event.
type TransactionEventData struct {
	ID          uuid.UUID          `json:"id"`
	Kind        string             `json:"kind"`
	Actor       string             `json:"actor"`
	EffectiveAt time.Time          `json:"effective_at"`
	Pending     bool               `json:"pending"`
	ExpiresAt   *time.Time         `json:"expires_at,omitempty"`
	Resolves    *uuid.UUID         `json:"resolves,omitempty"`
	Corrects    *uuid.UUID         `json:"corrects,omitempty"`
	Metadata    map[string]string  `json:"metadata,omitempty"`
	Postings    []PostingEventData `json:"postings"`
}

// PostingEventData is one leg of a transaction.recorded event.
type PostingEventData struct {
	Account string `json:"account"`
	Asset   Asset  `json:"asset"`
	Phase   Phase  `json:"phase"`
	Amount  string `json:"amount"`
}

// transactionEvents are the engine's events for the journal transactions
// it is about to write. Their bodies are not stored: a transaction.recorded
// row holds an empty body and readers render it from the journal
// transaction its subject names (renderTransactionBodies). The journal is
// append-only and outlives the feed's retention, so the rendering is the
// body the event would have stored, and a write pays neither for encoding
// it nor for writing the transaction a second time (about 330 of the 550
// bytes of an event row, issue 11).
func transactionEvents(txs []*Transaction) []pendingEvent {
	out := make([]pendingEvent, 0, len(txs))
	for _, t := range txs {
		accts := make([]string, len(t.Postings))
		for i, p := range t.Postings {
			accts[i] = p.Account
		}
		out = append(out, pendingEvent{id: NewID(), typ: EventTransaction, subject: transactionSubjectPrefix + t.ID.String(),
			vis: VisibilityOf(accts), at: t.CreatedAt, body: ""})
	}
	return out
}

const transactionSubjectPrefix = "transaction:"

// transactionEventBody is the body of t's transaction.recorded event.
func transactionEventBody(t *Transaction) ([]byte, error) {
	d := TransactionEventData{ID: t.ID, Kind: t.Kind, Actor: t.Actor, EffectiveAt: t.EffectiveAt, Pending: t.Pending,
		ExpiresAt: t.ExpiresAt, Resolves: t.Resolves, Corrects: t.Corrects, Metadata: t.Metadata,
		Postings: make([]PostingEventData, len(t.Postings))}
	for i, p := range t.Postings {
		d.Postings[i] = PostingEventData{Account: p.Account, Asset: p.Asset, Phase: p.Phase, Amount: FormatAmount(p.Asset, p.Amount)}
	}
	return json.Marshal(d)
}

// renderTransactionBodies fills in the bodies of the transaction.recorded
// events among evs that were stored without one (transactionEvents), from
// the journal, in two queries on tx. Events stored with their body (before
// issue 11) keep it.
func renderTransactionBodies(ctx context.Context, tx pgx.Tx, evs []Event) error {
	var ids []uuid.UUID
	for _, e := range evs {
		if e.Type == EventTransaction && len(e.Data) == 0 {
			id, err := uuid.Parse(strings.TrimPrefix(e.Subject, transactionSubjectPrefix))
			if err != nil {
				return Errf(CodeInternal, "event %s: subject %q names no transaction", e.ID, e.Subject)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	txs, err := loadTransactions(Journal{ctx: ctx, tx: tx}, ids)
	if err != nil {
		return err
	}
	bodies := make(map[uuid.UUID][]byte, len(txs))
	for _, t := range txs {
		if bodies[t.ID], err = transactionEventBody(t); err != nil {
			return err
		}
	}
	k := 0
	for i := range evs {
		if evs[i].Type == EventTransaction && len(evs[i].Data) == 0 {
			b, ok := bodies[ids[k]]
			if !ok {
				// The journal is append-only: a missing transaction is a
				// broken database, which verification reports too.
				return Errf(CodeInternal, "event %s names transaction %s, which the journal does not hold", evs[i].ID, ids[k])
			}
			evs[i].Data = b
			k++
		}
	}
	return nil
}

// EventPendingExpired says a pending transaction timed out and the
// engine voided it (its void is a transaction.recorded too): a trade offer
// that expired, a hold nobody resolved. Its data names the pending
// transaction, its kind and metadata, so a use case's subscriber knows
// what expired without reading the journal.
const EventPendingExpired = "transaction.pending_expired"

// PendingExpiredEventData is the body of transaction.pending_expired.
type PendingExpiredEventData struct {
	PendingID uuid.UUID         `json:"pending_id"`
	VoidID    uuid.UUID         `json:"void_id"`
	Kind      string            `json:"kind"` // the pending transaction's kind ("registry.trade.offer")
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// expiryEvent is the event of the timed-out pending transaction that void
// resolves.
func expiryEvent(void, pending *Transaction) pendingEvent {
	accts := make([]string, len(void.Postings))
	for i, p := range void.Postings {
		accts[i] = p.Account
	}
	body, _ := json.Marshal(PendingExpiredEventData{PendingID: pending.ID, VoidID: void.ID, Kind: pending.Kind, Metadata: pending.Metadata})
	return pendingEvent{id: NewID(), typ: EventPendingExpired, subject: "transaction:" + pending.ID.String(),
		vis: VisibilityOf(accts), at: void.CreatedAt, body: string(body)}
}

// feedSignal wakes long-polling readers of this process when the relay
// has stamped new positions. Readers of other replicas poll.
type feedSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next stamp.
func (s *feedSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *feedSignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// FeedChanged returns a channel closed when this process's relay next
// stamps events.
func (l *Ledger) FeedChanged() <-chan struct{} { return l.feed.wait() }

// relayChunksMax bounds the chunks one relay run stamps; JobBatchMax
// bounds their events (a run stops after the chunk that reaches it).
const relayChunksMax = 1000

// RelayEvents stamps committed, unstamped chunks of events with the next
// consecutive positions, up to about limit events, and returns how many
// events it stamped. Only one relay runs at a time: the others find the
// 'relay' row locked and return 0 at once (SKIP LOCKED), so every replica
// may run the job.
func (l *Ledger) RelayEvents(ctx context.Context, limit int) (int, error) {
	limit = max(limit, 1)
	var n int
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		n = 0
		var head int64
		err := tx.QueryRow(ctx, `SELECT position FROM feed_cursors WHERE name = $1 FOR UPDATE SKIP LOCKED`, relayCursor).Scan(&head)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another relay holds the lease
		}
		if err != nil {
			return err
		}
		// At READ COMMITTED this sees exactly the committed chunks; one
		// whose transaction is still open is stamped by a later run, with
		// later positions.
		rows, err := tx.Query(ctx, `SELECT id, events FROM feed_chunks WHERE first_position IS NULL ORDER BY id LIMIT $1`, relayChunksMax)
		if err != nil {
			return err
		}
		type chunk struct {
			id     uuid.UUID
			events int64
		}
		chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chunk, error) {
			var c chunk
			return c, r.Scan(&c.id, &c.events)
		})
		if err != nil || len(chunks) == 0 {
			return err
		}
		var ids []uuid.UUID
		var firsts, lasts []int64
		next := head + 1
		for _, c := range chunks {
			ids, firsts, lasts = append(ids, c.id), append(firsts, next), append(lasts, next+c.events-1)
			next += c.events
			if next-head-1 >= int64(limit) {
				break
			}
		}
		b := &pgx.Batch{}
		b.Queue(`
			UPDATE feed_chunks SET first_position = v.first, last_position = v.last, stamped_at = $4
			FROM unnest($1::UUID[], $2::INT8[], $3::INT8[]) AS v(id, first, last)
			WHERE feed_chunks.id = v.id AND feed_chunks.first_position IS NULL`, ids, firsts, lasts, l.now())
		b.Queue(`UPDATE feed_cursors SET position = $2, updated_at = $3 WHERE name = $1`, relayCursor, next-1, l.now())
		br := tx.SendBatch(ctx, b)
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if tag.RowsAffected() != int64(len(ids)) {
			br.Close()
			// Only the lease holder stamps, so this cannot happen; refuse
			// to leave a gap if it does.
			return Errf(CodeInternal, "relay stamped %d of %d chunks", tag.RowsAffected(), len(ids))
		}
		if err := br.Close(); err != nil {
			return err
		}
		n = int(next - head - 1)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		l.feed.notify()
	}
	return n, nil
}

// FeedStatus is the feed's head, its retention mark and the relay's lag.
type FeedStatus struct {
	Head              int64            `json:"head"`
	Pruned            int64            `json:"pruned"`
	Unstamped         int64            `json:"unstamped"`           // committed events waiting for the relay
	OldestUnstampedAt *time.Time       `json:"oldest_unstamped_at"` // when the oldest of them occurred
	Consumers         map[string]int64 `json:"consumers"`           // a publisher's position
}

// FeedStatus reads the feed's head, retention mark, the relay's backlog
// and each publisher's position (lag = head - position).
func (l *Ledger) FeedStatus(ctx context.Context) (FeedStatus, error) {
	st := FeedStatus{Consumers: map[string]int64{}}
	err := l.Read(ctx, func(r *Reader) error {
		rows, err := r.tx.Query(ctx, `SELECT name, position FROM feed_cursors`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			var pos int64
			if err := rows.Scan(&name, &pos); err != nil {
				rows.Close()
				return err
			}
			switch name {
			case relayCursor:
				st.Head = pos
			case prunedCursor:
				st.Pruned = pos
			default:
				st.Consumers[name] = pos
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return r.tx.QueryRow(ctx, `SELECT coalesce(sum(events), 0)::INT8, min(created_at) FROM feed_chunks WHERE first_position IS NULL`).Scan(&st.Unstamped, &st.OldestUnstampedAt)
	})
	return st, err
}

// EventQuery selects events of the feed.
type EventQuery struct {
	After int64    // the position read last; 0 is the start
	Types []string // only these types; nil is every type
	Limit int      // at most this many (ClampLimit-like: default 100, max EventsPageMax)
}

// EventPage is one read of the feed. Next is the cursor to read on from:
// the last event's position, or for a scoped reader whose window held
// fewer visible events the end of the window it looked at, so an empty
// page still moves the cursor on. Head is the feed's head.
type EventPage struct {
	Items []Event `json:"items"`
	Next  int64   `json:"next"`
	Head  int64   `json:"head"`
}

// Events reads the events after q.After that the actor may see, in
// position order. A cursor older than the retention is cursor_expired; one
// beyond the head is invalid_request.
func (l *Ledger) Events(ctx context.Context, actor Actor, q EventQuery) (EventPage, error) {
	page := EventPage{Items: []Event{}}
	if q.After < 0 {
		return page, Errf(CodeInvalidRequest, "after must be a position (0 or more)").At("after")
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, EventsPageMax)
	for _, t := range q.Types {
		if t == "" || len(t) > EventTypeBytesMax {
			return page, Errf(CodeInvalidRequest, "unknown event type %q", t).At("type")
		}
	}
	owners, all := actor.feedOwners()
	err := l.Read(ctx, func(r *Reader) error {
		var pruned int64
		if err := r.tx.QueryRow(ctx, `
			SELECT (SELECT position FROM feed_cursors WHERE name = $1), (SELECT position FROM feed_cursors WHERE name = $2)`,
			relayCursor, prunedCursor).Scan(&page.Head, &pruned); err != nil {
			return err
		}
		if q.After < pruned {
			return &Error{Code: CodeCursorExpired, Msg: "the events after this cursor were deleted by retention; read again from " + strconv.FormatInt(pruned, 10),
				Field: "after", Detail: map[string]string{"oldest_cursor": strconv.FormatInt(pruned, 10), "head": strconv.FormatInt(page.Head, 10)}}
		}
		if q.After > page.Head {
			return Errf(CodeInvalidRequest, "after %d is beyond the feed's head %d", q.After, page.Head).At("after")
		}
		// A bounded window, so a scoped reader far behind the head costs
		// one bounded scan per read, not a scan to the head.
		end := min(page.Head, q.After+EventsScanMax)
		rows, err := r.tx.Query(ctx, eventsSQL+`
			AND ($4 OR e.visibility && $5::TEXT[]) AND ($6 OR e.type = ANY($7::TEXT[]))
			ORDER BY c.first_position, e.ordinal LIMIT $8`,
			q.After, end, EventsPerChunkMax, all, owners, q.Types == nil, q.Types, q.Limit)
		if err != nil {
			return err
		}
		items, err := pgx.CollectRows(rows, scanEvent)
		if err != nil {
			return err
		}
		if err := renderTransactionBodies(ctx, r.tx, items); err != nil {
			return err
		}
		page.Items = items
		if len(items) == q.Limit {
			page.Next = items[len(items)-1].Position
		} else {
			page.Next = end
		}
		return nil
	})
	return page, err
}

// Consume hands the events after the named publisher's position (all of
// them, unscoped) to deliver, at most limit, and moves the position past
// them only if deliver succeeds — in one database transaction holding the
// publisher's row (SKIP LOCKED: one delivery at a time per publisher). A
// crash between deliver and the commit delivers the same events again:
// at least once, and each event carries its id for the receiver to drop
// the repeat (JetStream does, by Nats-Msg-Id).
func (l *Ledger) Consume(ctx context.Context, name string, limit int, deliver func([]Event) error) (int, error) {
	if strings.HasPrefix(name, webhookCursorPrefix) {
		return 0, Errf(CodeInvalidRequest, "%q is a webhook's cursor", name)
	}
	return l.consume(ctx, name, limit, true, func(_ pgx.Tx, evs []Event) error { return deliver(evs) })
}

// consume is Consume with the database transaction handed to deliver,
// for a publisher whose delivery is a write (the webhooks' fan-out). A
// publisher's first call creates its position at the prune mark (create);
// a webhook's position is made with the webhook and never here, so a
// fan-out that read the list before a DeleteWebhook cannot bring back the
// position the delete dropped (it would hold retention back for ever).
func (l *Ledger) consume(ctx context.Context, name string, limit int, create bool, deliver func(pgx.Tx, []Event) error) (int, error) {
	if name == relayCursor || name == prunedCursor || name == "" {
		return 0, Errf(CodeInvalidRequest, "%q is not a publisher's name", name)
	}
	limit = min(max(limit, 1), JobBatchMax)
	var n int
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		n = 0
		if create {
			if _, err := tx.Exec(ctx, `
				INSERT INTO feed_cursors (name, position, updated_at)
				SELECT $1::TEXT, position, $2::TIMESTAMPTZ FROM feed_cursors WHERE name = $3
				ON CONFLICT (name) DO NOTHING`, name, l.now(), prunedCursor); err != nil {
				return err
			}
		}
		var pos int64
		err := tx.QueryRow(ctx, `SELECT position FROM feed_cursors WHERE name = $1 FOR UPDATE SKIP LOCKED`, name).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var head int64
		if err := tx.QueryRow(ctx, `SELECT position FROM feed_cursors WHERE name = $1`, relayCursor).Scan(&head); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, eventsSQL+` ORDER BY c.first_position, e.ordinal LIMIT $4`, pos, min(head, pos+int64(limit)), EventsPerChunkMax, limit)
		if err != nil {
			return err
		}
		evs, err := pgx.CollectRows(rows, scanEvent)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := renderTransactionBodies(ctx, tx, evs); err != nil {
			return err
		}
		if err := deliver(tx, evs); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE feed_cursors SET position = $2, updated_at = $3 WHERE name = $1`, name, evs[len(evs)-1].Position, l.now())
		n = len(evs)
		return err
	})
	return n, err
}

// PruneEvents deletes up to limit stamped events older than the
// retention that every publisher has passed, and moves the 'pruned' mark
// to the last one deleted. Positions are deleted in order, so the feed
// never has a hole: it starts after the mark.
func (l *Ledger) PruneEvents(ctx context.Context, limit int) (int, error) {
	limit = min(max(limit, 1), JobBatchMax)
	retention := l.opts.FeedRetention
	if retention <= 0 {
		retention = FeedRetentionDefault
	}
	var n int
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		n = 0
		var pruned int64
		err := tx.QueryRow(ctx, `SELECT position FROM feed_cursors WHERE name = $1 FOR UPDATE SKIP LOCKED`, prunedCursor).Scan(&pruned)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var upTo int64
		if err := tx.QueryRow(ctx, `SELECT min(position) FROM feed_cursors WHERE name <> $1`, prunedCursor).Scan(&upTo); err != nil {
			return err
		}
		// Whole chunks only, in position order: the mark is where a kept
		// chunk starts, so the feed never has a hole.
		rows, err := tx.Query(ctx, `
			SELECT id, first_position, last_position, stamped_at < $3 FROM feed_chunks
			WHERE first_position > $1 AND last_position <= $2 ORDER BY first_position LIMIT $4`,
			pruned, upTo, l.now().Add(-retention), relayChunksMax)
		if err != nil {
			return err
		}
		var ids []uuid.UUID
		last := pruned
		var stop bool
		for rows.Next() {
			var id uuid.UUID
			var first, lastPos int64
			var old bool
			if err := rows.Scan(&id, &first, &lastPos, &old); err != nil {
				rows.Close()
				return err
			}
			// Only the leading run: stamped_at is not monotonic in position
			// across replicas' clocks, and the mark must not skip a kept
			// chunk.
			if stop || !old || first != last+1 || (len(ids) > 0 && lastPos-pruned > int64(limit)) {
				stop = true
				continue
			}
			ids, last = append(ids, id), lastPos
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM feed_events WHERE chunk_id = ANY($1)`, ids)
		b.Queue(`DELETE FROM feed_chunks WHERE id = ANY($1)`, ids)
		b.Queue(`UPDATE feed_cursors SET position = $2, updated_at = $3 WHERE name = $1`, prunedCursor, last, l.now())
		n = int(last - pruned)
		return tx.SendBatch(ctx, b).Close()
	})
	return n, err
}

// EventsPerChunkMax bounds the events of one chunk (one statement that
// writes events): a use case's flush (EventsPerWriteMax) or one engine
// call (TransactionsPerBatchMax events). Readers look this far back for
// the chunk holding a position.
const EventsPerChunkMax = EventsPerWriteMax

// eventsSQL selects the events at positions in ($1, $2]; $3 is
// EventsPerChunkMax, which bounds the index range of chunks to look at.
const eventsSQL = `
	SELECT e.id, c.first_position + e.ordinal, e.type, e.schema_version, e.subject, e.visibility, e.occurred_at, e.body
	FROM feed_chunks c JOIN feed_events e ON e.chunk_id = c.id
	WHERE c.first_position > $1::INT8 - $3::INT8 AND c.first_position <= $2::INT8 AND c.last_position > $1::INT8
		AND c.first_position + e.ordinal > $1 AND c.first_position + e.ordinal <= $2`

// scanEvent reads the columns id, position, type, schema_version,
// subject, visibility, occurred_at, body.
func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	var vis []string
	var body string
	err := row.Scan(&e.ID, &e.Position, &e.Type, &e.SchemaVersion, &e.Subject, &vis, &e.OccurredAt, &body)
	e.Visibility, e.OccurredAt = vis, e.OccurredAt.UTC()
	if body != "" {
		e.Data = json.RawMessage(body) // empty: a transaction.recorded rendered by renderTransactionBodies
	}
	return e, err
}
