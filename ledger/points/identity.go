package points

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// One real-world behaviour earns once, whoever reports it and however they
// round it (DOMAIN.md §5 step 2). A record is the same event as one
// recorded before it (stored, or earlier in its batch) when
//
//   - the operator already used its record id (the same report again; not
//     recorded a second time);
//   - it has the same behaviour key (citizen, kind, unit, start minute,
//     quantity): the only rule for a record without an interval;
//   - it has an interval overlapping a counted interval of the citizen by
//     more than the programme's tolerance, and both kinds are in one
//     exclusivity group: one body, one vehicle;
//   - it is a day's total (steps) no larger than the largest report of
//     the citizen's day for its kind and unit. A larger one tops that
//     report up: it counts only the difference.
//
// A duplicate is recorded (status duplicate, 0 g) with the row it
// duplicates; the first report stays the one credited.

// span is a counted interval of a citizen: recorded, or accepted earlier
// in the batch (then src is its item).
type span struct {
	ref        RecordRef
	kind, unit string
	qty        decimal.Decimal
	start, end time.Time
	day        string
	src        *item
}

// storedIdentity is what lockUsage read under the locks.
type storedIdentity struct {
	keys  map[string]RecordRef // behaviour key -> the row holding it
	recs  map[string]RecordRef // the operator's record id -> its row
	spans map[string][]*span   // citizen -> counted intervals near the batch's
}

// readStored reads the keys, record ids and (when queued) intervals of
// lockUsage's batch.
func readStored(br pgx.BatchResults, op string, spans bool) (*storedIdentity, error) {
	st := &storedIdentity{keys: map[string]RecordRef{}, recs: map[string]RecordRef{}, spans: map[string][]*span{}}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var key []byte // bytes, not a string: behaviour keys are BYTEA
	var id uuid.UUID
	var ref RecordRef
	if _, err := pgx.ForEachRow(rows, []any{&key, &id, &ref.Operator, &ref.RecordID}, func() error {
		r := ref
		r.BehaviourID = new(id)
		st.keys[string(key)] = r
		return nil
	}); err != nil {
		return nil, err
	}
	if rows, err = br.Query(); err != nil {
		return nil, err
	}
	if _, err := pgx.ForEachRow(rows, []any{&ref.RecordID, &id}, func() error {
		st.recs[ref.RecordID] = RecordRef{BehaviourID: new(id), Operator: op, RecordID: ref.RecordID}
		return nil
	}); err != nil {
		return nil, err
	}
	if !spans {
		return st, nil
	}
	if rows, err = br.Query(); err != nil {
		return nil, err
	}
	var c string
	var sp span
	_, err = pgx.ForEachRow(rows, []any{&c, &id, &sp.ref.Operator, &sp.ref.RecordID, &sp.kind, &sp.unit, &sp.qty, &sp.start, &sp.end, &sp.day}, func() error {
		s := sp
		s.ref.BehaviourID, s.start, s.end = new(id), sp.start.UTC(), sp.end.UTC()
		st.spans[c] = append(st.spans[c], &s)
		return nil
	})
	return st, err
}

// resolveIdentity is stage 4b, under the usage locks: each record in
// order is judged against what was recorded and what the batch accepted
// before it. A record id used before is a duplicate not recorded again;
// any other duplicate stays an item (dup), recorded with what it
// duplicates.
func (run *ingestRun) resolveIdentity(st *storedIdentity) {
	batchKeys := map[string]*item{}
	for _, it := range run.items {
		it.id = ledger.NewID()
		if ref, ok := st.recs[it.rec.RecordID]; ok {
			run.duplicate(it.idx, "operator "+run.op+" already reported record_id "+it.rec.RecordID)
			run.res.Results[it.idx].DuplicateOf = &ref
			it.dead = true
			continue
		}
		if ref, ok := st.keys[string(it.key)]; ok {
			run.markDuplicate(it, ref, nil, fmt.Sprintf("this behaviour was already recorded as %s by %s", ref.RecordID, ref.Operator))
			continue
		}
		if src, ok := batchKeys[string(it.key)]; ok {
			run.markDuplicate(it, run.refOf(src), src, fmt.Sprintf("the same behaviour as record %d of this batch", src.idx))
			continue
		}
		if run.judgeInterval(it, st.spans[it.rec.Citizen]) {
			continue
		}
		batchKeys[string(it.key)] = it
		if !it.end.IsZero() {
			st.spans[it.rec.Citizen] = append(st.spans[it.rec.Citizen], &span{ref: run.refOf(it), kind: it.rec.Kind, unit: it.rec.Unit,
				qty: it.qty, start: it.at, end: it.end, day: it.day, src: it})
		}
	}
	run.items = live(run.items)
}

// judgeInterval applies the interval rules to an item with an interval:
// it marks an overlapping one of its group, or a day's total no larger
// than the day's largest, as a duplicate (true); it makes a larger total
// a top-up of the largest.
func (run *ingestRun) judgeInterval(it *item, spans []*span) bool {
	switch {
	case it.group != "":
		var first *span
		for _, s := range spans {
			if it.rules.GroupOf(s.kind) == it.group && Overlap(it.at, it.end, s.start, s.end) > it.rules.Tolerance() &&
				(first == nil || s.start.Before(first.start)) {
				first = s
			}
		}
		if first != nil {
			run.markDuplicate(it, first.ref, first.src, fmt.Sprintf("overlaps %s %s–%s reported by %s as %s: one person is on one vehicle at a time (exclusivity group %s)",
				first.kind, first.start.Format(time.RFC3339), first.end.Format(time.RFC3339), first.ref.Operator, first.ref.RecordID, it.group))
			return true
		}
	case it.total:
		var top *span
		for _, s := range spans {
			if s.kind == it.rec.Kind && s.unit == it.rec.Unit && s.day == it.day && (top == nil || s.qty.GreaterThan(top.qty)) {
				top = s
			}
		}
		if top == nil {
			return false
		}
		if !it.qty.GreaterThan(top.qty) || it.m.Grams(it.qty)-it.m.Grams(top.qty) < 1 {
			run.markDuplicate(it, top.ref, top.src, fmt.Sprintf("the day's %s were reported as %s by %s as %s: the largest report of the day counts once, and this one is not larger by 1 g or more",
				it.rec.Unit, top.qty.String(), top.ref.Operator, top.ref.RecordID))
			return true
		}
		ref := top.ref
		it.prev, it.dupOf, it.src = top.qty, &ref, top.src
	}
	return false
}

// markDuplicate makes it a duplicate of ref (src: the item of this batch
// behind ref, if any), recorded with the reference.
func (run *ingestRun) markDuplicate(it *item, ref RecordRef, src *item, msg string) {
	run.duplicate(it.idx, msg)
	it.dup, it.dupOf, it.src = true, &ref, src
}

// refOf is the reference to an item of this batch (its id is assigned).
func (run *ingestRun) refOf(it *item) RecordRef {
	return RecordRef{BehaviourID: &it.id, Operator: run.op, RecordID: it.rec.RecordID}
}

// recordEnd parses a record's interval end: zero for an instant.
func recordEnd(r *BehaviourRecord, at, now time.Time) (time.Time, ledger.Code, string) {
	var end time.Time
	switch {
	case r.EndedAt == nil && r.DurationSeconds == 0:
		return end, "", ""
	case r.EndedAt != nil && r.DurationSeconds != 0:
		return end, ledger.CodeInvalidRequest, "give ended_at or duration_seconds, not both"
	case r.EndedAt != nil:
		end = r.EndedAt.UTC().Truncate(time.Microsecond)
	case r.DurationSeconds < 0 || r.DurationSeconds > int64(IntervalMax/time.Second):
		return end, ledger.CodeInvalidRequest, fmt.Sprintf("duration_seconds must be 1 to %d", int64(IntervalMax/time.Second))
	default:
		end = at.Add(time.Duration(r.DurationSeconds) * time.Second)
	}
	switch {
	case !end.After(at):
		return end, ledger.CodeInvalidRequest, "ended_at must be after occurred_at"
	case end.Sub(at) > IntervalMax:
		return end, ledger.CodeInvalidRequest, "an interval is at most 24 hours long"
	case end.After(now.Add(FutureSkewMax)):
		return end, CodeTimeOutOfWindow, "ended_at is in the future"
	}
	return end, "", ""
}

// dayStart is the start (China Standard Time) of t's day.
func dayStart(t time.Time) time.Time {
	c := t.In(chinaTime)
	return time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, chinaTime).UTC()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
