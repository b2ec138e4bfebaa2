package ledger

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Stats are monotonically increasing counters, read by /metrics. What a
// database transaction wrote (transactions, postings, events by type) is
// counted only once its COMMIT succeeded, so an attempt that was rolled
// back and retried, or a write that failed, counts nothing, and an
// idempotent replay (which writes nothing) counts nothing either. A write
// whose COMMIT outcome is unknown is not counted (CommitUnknown counts
// those).
type Stats struct {
	Transactions atomic.Int64
	Postings     atomic.Int64
	Retries      atomic.Int64 // all retries; RetriesByReason splits them
	Replays      atomic.Int64
	// CommitUnknown counts database transactions whose COMMIT outcome is
	// unknown (an I/O error during COMMIT, CockroachDB's 40003) and
	// coalesced writes whose request ended before the write was
	// confirmed: each was answered commit_outcome_unknown.
	CommitUnknown atomic.Int64

	retries [len(RetryReasons)]atomic.Int64
	events  sync.Map // event type → *atomic.Int64

	// CoalescedBatches is the size of each database transaction the
	// coalescer wrote (requests per commit).
	CoalescedBatches Histogram
}

// RetryReasons are the reasons a whole transaction is run again:
// serialization_failure (40001), deadlock (40P01), unique_race (a
// concurrent writer resolved the same pending transaction or claimed the
// same idempotency key first: 23505 on those constraints) and write_race
// (the engine's own check saw a concurrent writer, errRetry).
var RetryReasons = [...]string{"serialization_failure", "deadlock", "unique_race", "write_race"}

func retryReasonIndex(err error) int {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001":
			return 0
		case "40P01":
			return 1
		case "23505":
			return 2
		}
	}
	return 3
}

func (s *Stats) countRetry(err error) {
	s.Retries.Add(1)
	s.retries[retryReasonIndex(err)].Add(1)
}

// RetriesByReason is the number of retries per reason of RetryReasons.
func (s *Stats) RetriesByReason() map[string]int64 {
	out := make(map[string]int64, len(RetryReasons))
	for i, r := range RetryReasons {
		out[r] = s.retries[i].Load()
	}
	return out
}

// EventsCommitted is the number of committed feed events per type since
// the process started (types never emitted are absent).
func (s *Stats) EventsCommitted() map[string]int64 {
	out := map[string]int64{}
	s.events.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// EventCommitted is the number of committed feed events of one type.
func (s *Stats) EventCommitted(typ string) int64 {
	if v, ok := s.events.Load(typ); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (s *Stats) addEvent(typ string, n int64) {
	v, ok := s.events.Load(typ)
	if !ok {
		v, _ = s.events.LoadOrStore(typ, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(n)
}

// Histogram counts observations in fixed cumulative buckets, without
// locks. Bounds are upper bounds; the last bucket is everything above.
type Histogram struct {
	once   sync.Once
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1, not cumulative
	sum    atomic.Uint64   // sum of observations (integers here)
	count  atomic.Uint64
}

// CoalescedBatchBounds are the buckets of Stats.CoalescedBatches.
var CoalescedBatchBounds = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}

func (h *Histogram) init() {
	h.once.Do(func() {
		h.bounds = CoalescedBatchBounds
		h.counts = make([]atomic.Uint64, len(h.bounds)+1)
	})
}

// Observe records one integer observation.
func (h *Histogram) Observe(v int) {
	h.init()
	i := sort.SearchFloat64s(h.bounds, float64(v))
	h.counts[i].Add(1)
	h.sum.Add(uint64(v))
	h.count.Add(1)
}

// Snapshot is the histogram's cumulative counts by upper bound, its count
// and sum, in the shape Prometheus' const histograms take.
func (h *Histogram) Snapshot() (buckets map[float64]uint64, count uint64, sum float64) {
	h.init()
	buckets = make(map[float64]uint64, len(h.bounds))
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		buckets[b] = cum
	}
	// count is read after the buckets: a concurrent Observe may make it
	// larger than the last bucket, never smaller (+Inf stays ≥ each).
	return buckets, max(h.count.Load(), cum), float64(h.sum.Load())
}

// tallyTx is the transaction one attempt of inTx gives its function: what
// the attempt writes is tallied here and added to Stats only after its
// COMMIT succeeded.
type tallyTx struct {
	pgx.Tx
	tally
}

type tally struct {
	transactions, postings int64
	events                 map[string]int64
}

// tallyOf is the tally of q when q is an attempt's transaction.
func tallyOf(q any) *tally {
	if t, ok := q.(*tallyTx); ok {
		return &t.tally
	}
	return nil
}

func (t *tally) addEvents(evs []pendingEvent) {
	if t == nil || len(evs) == 0 {
		return
	}
	if t.events == nil {
		t.events = map[string]int64{}
	}
	for _, e := range evs {
		t.events[e.typ]++
	}
}

func (s *Stats) commit(t *tally) {
	if t.transactions != 0 {
		s.Transactions.Add(t.transactions)
	}
	if t.postings != 0 {
		s.Postings.Add(t.postings)
	}
	for typ, n := range t.events {
		s.addEvent(typ, n)
	}
}

// CoalescerQueueDepth is the number of single transfers waiting for a
// coalescer executor (0 when the coalescer is off).
func (l *Ledger) CoalescerQueueDepth() int {
	if l.coalescer == nil {
		return 0
	}
	return len(l.coalescer.queue)
}

// OverdueHolds is how long the oldest pending transaction past its
// timeout has been waiting for void-expired-pending (0 when none). One
// index range read (pending_expiries_due).
func (l *Ledger) OverdueHolds(ctx context.Context) (time.Duration, error) {
	now := l.now()
	return l.overdueSince(ctx, now, `SELECT min(expires_at) FROM pending_expiries WHERE expires_at <= $1`, now)
}

// OverdueRelay is the age of the oldest committed feed event without a
// position, waiting for relay-events (0 when none): the partial index
// feed_chunks_unstamped.
func (l *Ledger) OverdueRelay(ctx context.Context) (time.Duration, error) {
	return l.overdueSince(ctx, l.now(), `SELECT min(created_at) FROM feed_chunks WHERE first_position IS NULL`)
}

// OverdueIdempotencyKeys is how long past its retention the oldest
// idempotency key is, waiting for prune-idempotency-keys (0 when none):
// idempotency_keys_created_idx.
func (l *Ledger) OverdueIdempotencyKeys(ctx context.Context) (time.Duration, error) {
	cut := l.now().Add(-l.IdempotencyRetention())
	return l.overdueSince(ctx, cut, `SELECT min(created_at) FROM idempotency_keys WHERE created_at < $1`, cut)
}

// OverdueDeliveries is how long the oldest due webhook delivery has been
// waiting for deliver-webhooks (0 when none): feed_webhook_deliveries_due.
func (l *Ledger) OverdueDeliveries(ctx context.Context) (time.Duration, error) {
	now := l.now()
	return l.overdueSince(ctx, now, `SELECT min(next_attempt_at) FROM feed_webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1`, now)
}

// OverdueSince runs query, which selects one nullable timestamp (the
// oldest due item's due time), and answers how long before ref that is (0
// for NULL or a time after ref). Use cases measure their jobs' lag with it.
func (l *Ledger) OverdueSince(ctx context.Context, ref time.Time, query string, args ...any) (time.Duration, error) {
	return l.overdueSince(ctx, ref, query, args...)
}

func (l *Ledger) overdueSince(ctx context.Context, ref time.Time, query string, args ...any) (time.Duration, error) {
	var at *time.Time
	if err := l.pool.QueryRow(ctx, query, args...).Scan(&at); err != nil {
		return 0, translate(err)
	}
	if at == nil || !at.Before(ref) {
		return 0, nil
	}
	return ref.Sub(*at), nil
}
