package points_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// One real-world behaviour earns once, whoever reports it and however they
// round it (DOMAIN.md §5 step 2, issue 10 part 1).

// trip is a record with an interval [from, to).
func trip(citizen, kind, qty, unit string, from, to time.Time) points.BehaviourRecord {
	r := rec(citizen, kind, qty, unit, from)
	r.EndedAt = &to
	return r
}

// at is a time of day1 (China Standard Time).
func at(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 0, cst) }

// withOperator registers an operator for kinds and has the citizens
// entrust it.
func withOperator(t testing.TB, b *bundle, id string, kinds []string, citizens ...string) {
	t.Helper()
	if _, _, err := points.RegisterOperator(ctx, b.l, province, key(), points.OperatorInput{ID: id, Name: id, Kinds: kinds}); err != nil {
		t.Fatal(err)
	}
	if err := points.EnsureCitizens(ctx, b.l, citizens, id); err != nil {
		t.Fatal(err)
	}
}

// wantDuplicateOf asserts that r is a duplicate of the record of first.
func wantDuplicateOf(t testing.TB, r points.RecordResult, first points.RecordResult, op string) {
	t.Helper()
	wantStatus(t, r, points.StatusDuplicate, "duplicate")
	d := r.DuplicateOf
	if d == nil || d.BehaviourID == nil || first.BehaviourID == nil || *d.BehaviourID != *first.BehaviourID || d.Operator != op || d.RecordID != first.RecordID {
		t.Fatalf("duplicate_of %+v, want behaviour %v of %s, record %s", d, first.BehaviourID, op, first.RecordID)
	}
	eq(t, "duplicate grams", r.Grams, int64(0))
}

// The same 5 km metro trip, reported by two operators two seconds apart
// across a minute boundary, and measured 5.0 km by one and 5.1 km by
// another, is one event: the later reports are duplicates naming the
// first, and nothing moves for them.
func TestIdentityCrossMinuteAndRemeasured(t *testing.T) {
	b := setup(t)
	withOperator(t, b, "maas-jinan", []string{"bus", "metro"}, "C1")
	withOperator(t, b, "metro-app", []string{"metro"}, "C1")
	first := b.one(t, "metro-jinan", trip("C1", "metro", "5", "km", at(6, 59, 59), at(7, 20, 0)))
	wantStatus(t, first, points.StatusCredited, "")
	eq(t, "grams", first.Grams, int64(1055))

	cross := b.one(t, "maas-jinan", trip("C1", "metro", "5.0", "km", at(7, 0, 1), at(7, 20, 2)))
	wantDuplicateOf(t, cross, first, "metro-jinan")
	if cross.BehaviourID == nil {
		t.Fatal("a duplicate is recorded and has a behaviour id")
	}
	remeasured := b.one(t, "metro-app", trip("C1", "metro", "5.1", "km", at(7, 0, 0), at(7, 19, 58)))
	wantDuplicateOf(t, remeasured, first, "metro-jinan")
	eq(t, "pending", b.pending(t, "C1"), int64(1055))
	eq(t, "maas pool", b.balance(t, poolAccount("maas-jinan", "metro-km.v1", day1)), int64(0))

	// Sent again under a new key, a duplicate stays one: its record id is
	// taken, and it names its own row.
	again := b.report(t, "maas-jinan", points.BehaviourRecord{RecordID: cross.RecordID, Citizen: "C1", Kind: "metro", Quantity: "5.0", Unit: "km",
		OccurredAt: at(7, 0, 1), EndedAt: new(at(7, 20, 2))}).Results[0]
	wantStatus(t, again, points.StatusDuplicate, "duplicate")
	if again.DuplicateOf == nil || *again.DuplicateOf.BehaviourID != *cross.BehaviourID {
		t.Fatalf("repeated record id: duplicate_of %+v, want the row of %s", again.DuplicateOf, cross.RecordID)
	}

	// The citizen sees the duplicates under the credit they did not repeat.
	page, err := points.ListActivity(ctx, b.l, citizen("C1"), "C1", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "activity lines", len(page.Items), 1)
	bs := page.Items[0].Behaviours
	eq(t, "behaviours listed", len(bs), 3)
	eq(t, "credited first", bs[0].Status, points.StatusCredited)
	if bs[0].EndedAt == nil || !bs[0].EndedAt.Equal(at(7, 20, 0)) {
		t.Fatalf("the credit's interval end: %v", bs[0].EndedAt)
	}
	for _, d := range bs[1:] {
		if d.Status != points.StatusDuplicate || d.DuplicateOf == nil || d.DuplicateOf.Operator != "metro-jinan" || d.DuplicateOf.RecordID != first.RecordID {
			t.Fatalf("duplicate view %+v", d)
		}
	}
	b.verify(t)
}

// A record without an interval keeps today's exact key: two instants a
// minute boundary apart are two behaviours (operators move to intervals
// to be matched across the boundary).
func TestIdentityInstantsKeepTheExactKey(t *testing.T) {
	b := setup(t)
	withOperator(t, b, "maas-jinan", []string{"metro"}, "C1")
	wantStatus(t, b.one(t, "metro-jinan", rec("C1", "metro", "5", "km", at(6, 59, 59))), points.StatusCredited, "")
	wantStatus(t, b.one(t, "maas-jinan", rec("C1", "metro", "5", "km", at(7, 0, 1))), points.StatusCredited, "")
	wantStatus(t, b.one(t, "maas-jinan", rec("C1", "metro", "5.000", "km", at(7, 0, 30))), points.StatusDuplicate, "duplicate")
	eq(t, "pending", b.pending(t, "C1"), int64(2110))
	b.verify(t)
}

// Overlapping trips of different modes in one exclusivity group are one
// event (one body, one vehicle); the same in one batch.
func TestIdentityExclusivityGroup(t *testing.T) {
	b := setup(t)
	withOperator(t, b, "maas-jinan", []string{"bus", "metro"}, "C1", "C2")
	metro := b.one(t, "metro-jinan", trip("C1", "metro", "10", "km", at(7, 0, 0), at(7, 30, 0)))
	wantStatus(t, metro, points.StatusCredited, "")
	bus := b.one(t, "maas-jinan", trip("C1", "bus", "8", "km", at(7, 5, 0), at(7, 25, 0)))
	wantDuplicateOf(t, bus, metro, "metro-jinan")
	bike := b.one(t, "bikeshare-qd", trip("C1", "cycling", "3", "km", at(7, 10, 0), at(7, 20, 0)))
	wantDuplicateOf(t, bike, metro, "metro-jinan")
	// Walking is in no group: steps counted on the metro still count.
	wantStatus(t, b.one(t, "tanhui-app", trip("C1", "walking", "5000", "steps", at(0, 0, 0), at(8, 0, 0))), points.StatusCredited, "")
	eq(t, "C1 pending", b.pending(t, "C1"), int64(2110+100))

	// In one batch: the later record of the batch is the duplicate, and it
	// names the earlier one.
	res := b.report(t, "maas-jinan",
		trip("C2", "metro", "10", "km", at(7, 0, 0), at(7, 30, 0)),
		trip("C2", "bus", "8", "km", at(7, 1, 0), at(7, 29, 0)))
	wantStatus(t, res.Results[0], points.StatusCredited, "")
	wantDuplicateOf(t, res.Results[1], res.Results[0], "maas-jinan")
	eq(t, "C2 pending", b.pending(t, "C2"), int64(2110))
	b.verify(t)
}

// Back-to-back trips both earn: one ends as the next starts, and an
// overlap within the tolerance (the operators' clocks differ by 30 s) is
// clock skew, not one event.
func TestIdentityBackToBack(t *testing.T) {
	b := setup(t)
	withOperator(t, b, "maas-jinan", []string{"bus"}, "C1")
	wantStatus(t, b.one(t, "metro-jinan", trip("C1", "metro", "5", "km", at(7, 0, 0), at(7, 30, 0))), points.StatusCredited, "")
	wantStatus(t, b.one(t, "bikeshare-qd", trip("C1", "cycling", "3", "km", at(7, 30, 0), at(7, 45, 0))), points.StatusCredited, "")
	wantStatus(t, b.one(t, "maas-jinan", trip("C1", "bus", "4", "km", at(7, 44, 30), at(8, 0, 0))), points.StatusCredited, "")
	eq(t, "pending", b.pending(t, "C1"), int64(1055+180+816))
	// 61 s of overlap is more than the 60 s tolerance.
	wantStatus(t, b.one(t, "maas-jinan", trip("C1", "bus", "1", "km", at(7, 58, 59), at(8, 5, 0))), points.StatusDuplicate, "duplicate")
	b.verify(t)
}

// Steps are a phone's total of the day: of several apps reporting one
// citizen's day, the largest report counts once; a later larger report
// credits only the difference, never the sum.
func TestIdentityStepsCountTheLargestReport(t *testing.T) {
	b := setup(t)
	withOperator(t, b, "steps-app", []string{"walking"}, "C1", "C2")
	day := func(until time.Time) (time.Time, time.Time) { return at(0, 0, 0), until }
	from, to := day(at(8, 0, 0))
	first := b.one(t, "tanhui-app", trip("C1", "walking", "8000", "steps", from, to))
	wantStatus(t, first, points.StatusCredited, "")
	eq(t, "first", first.Grams, int64(160))

	from, to = day(at(8, 30, 0))
	wantDuplicateOf(t, b.one(t, "steps-app", trip("C1", "walking", "6000", "steps", from, to)), first, "tanhui-app")

	larger := b.one(t, "steps-app", trip("C1", "walking", "12000", "steps", from.Add(time.Minute), to))
	wantStatus(t, larger, points.StatusCredited, "")
	eq(t, "the difference", larger.Grams, int64(80))
	if larger.DuplicateOf == nil || *larger.DuplicateOf.BehaviourID != *first.BehaviourID {
		t.Fatalf("a top-up names the report it tops up: %+v", larger.DuplicateOf)
	}
	eq(t, "pending", b.pending(t, "C1"), int64(240))
	wantDuplicateOf(t, b.one(t, "tanhui-app", trip("C1", "walking", "11999", "steps", from.Add(2*time.Minute), to)), larger, "steps-app")

	// 20,000 steps are worth 400 g: 160 more than counted, capped at the
	// 296 g a day of walking.
	most := b.one(t, "tanhui-app", trip("C1", "walking", "20000", "steps", from.Add(3*time.Minute), to))
	wantStatus(t, most, points.StatusCredited, points.CapDailyKind)
	eq(t, "capped difference", most.Grams, int64(56))
	eq(t, "computed difference", most.ComputedGrams, int64(160))
	eq(t, "pending", b.pending(t, "C1"), int64(296))

	// In one batch (an app sending its running total twice) the same holds;
	// another day is another total.
	res := b.report(t, "steps-app",
		trip("C2", "walking", "3000", "steps", at(0, 0, 0), at(7, 0, 0)),
		trip("C2", "walking", "5000", "steps", at(0, 0, 0), at(8, 0, 0)),
		trip("C2", "walking", "4000", "steps", at(0, 0, 0), at(8, 30, 0)),
		trip("C2", "walking", "4000", "steps", at(0, 0, 0).Add(-24*time.Hour), at(8, 0, 0).Add(-24*time.Hour)))
	for i, want := range []int64{60, 40, 0, 80} {
		eq(t, fmt.Sprintf("record %d", i), res.Results[i].Grams, want)
	}
	wantDuplicateOf(t, res.Results[2], res.Results[1], "steps-app")
	eq(t, "C2 pending", b.pending(t, "C2"), int64(180))

	// A day's total covers one day.
	r := b.one(t, "tanhui-app", trip("C3", "walking", "1000", "steps", at(0, 0, 0).Add(-time.Hour), at(8, 0, 0)))
	wantStatus(t, r, points.StatusRejected, string(ledger.CodeInvalidRequest))
	b.verify(t)
}

// A trip crossing midnight is one event with a trip of the next day it
// overlaps: the batch locks both days, so this holds under concurrency too.
func TestIdentityAcrossMidnight(t *testing.T) {
	b := setup(t)
	withOperator(t, b, "maas-jinan", []string{"bus"}, "C1")
	night := b.one(t, "metro-jinan", trip("C1", "metro", "10", "km", at(23, 50, 0).Add(-24*time.Hour), at(0, 20, 0)))
	wantStatus(t, night, points.StatusCredited, "")
	wantDuplicateOf(t, b.one(t, "maas-jinan", trip("C1", "bus", "2", "km", at(0, 5, 0), at(0, 15, 0))), night, "metro-jinan")
	b.verify(t)
}

// Records with bad intervals are rejected, one by one.
func TestIdentityIntervalValidation(t *testing.T) {
	b := setup(t)
	both := trip("C1", "metro", "1", "km", at(7, 0, 0), at(7, 10, 0))
	both.DurationSeconds = 600
	dur := rec("C1", "metro", "1", "km", at(6, 0, 0))
	dur.DurationSeconds = 600
	neg := rec("C1", "metro", "1", "km", at(6, 0, 0))
	neg.DurationSeconds = -5
	res := b.report(t, "metro-jinan",
		both,
		trip("C1", "metro", "1", "km", at(7, 0, 0), at(7, 0, 0)),                    // empty
		trip("C1", "metro", "1", "km", at(7, 0, 0), at(6, 0, 0)),                    // backwards
		trip("C1", "metro", "1", "km", at(1, 0, 0).Add(-25*time.Hour), at(1, 0, 0)), // longer than a day
		trip("C1", "metro", "1", "km", at(8, 0, 0), at(9, 30, 0)),                   // ends in the future
		neg,
		dur, // 10 minutes from 06:00: fine
	)
	for i, code := range []ledger.Code{ledger.CodeInvalidRequest, ledger.CodeInvalidRequest, ledger.CodeInvalidRequest, ledger.CodeInvalidRequest,
		points.CodeTimeOutOfWindow, ledger.CodeInvalidRequest} {
		wantStatus(t, res.Results[i], points.StatusRejected, string(code))
	}
	wantStatus(t, res.Results[6], points.StatusCredited, "")
	// duration_seconds is an interval like ended_at.
	wantStatus(t, b.one(t, "bikeshare-qd", trip("C1", "cycling", "2", "km", at(6, 5, 0), at(6, 8, 0))), points.StatusDuplicate, "duplicate")
	b.verify(t)
}

// The identity rules are versioned programme rules: a version that leaves
// them out keeps its predecessor's; one that sets none switches interval
// matching off from its valid_from, and the records before it are judged
// by the rules of their own time.
func TestIdentityRulesAreVersioned(t *testing.T) {
	b := setup(t)
	rules, err := points.ListProgrammeRules(ctx, b.l)
	if err != nil {
		t.Fatal(err)
	}
	v1 := rules[0]
	eq(t, "seeded tolerance", v1.OverlapToleranceSeconds, 60)
	eq(t, "seeded group", fmt.Sprint(v1.ExclusivityGroups), "[{travel [bus cycling metro]}]")
	eq(t, "seeded day totals", fmt.Sprint(v1.DailyTotalKinds), "[walking]")

	v2, _, err := points.CreateProgrammeRules(ctx, b.l, province, key(), points.RulesInput{DailyCapGrams: "5000", ReportingWindowDays: 7,
		ValidFrom: day1.Add(time.Hour), Source: "test: a new cap only"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "v2 keeps the tolerance", v2.OverlapToleranceSeconds, 60)
	eq(t, "v2 keeps the groups", fmt.Sprint(v2.ExclusivityGroups), fmt.Sprint(v1.ExclusivityGroups))
	none, zero := []points.ExclusivityGroup{}, 0
	v3, _, err := points.CreateProgrammeRules(ctx, b.l, province, key(), points.RulesInput{DailyCapGrams: "5000", ReportingWindowDays: 7,
		ValidFrom: day1.Add(2 * time.Hour), Source: "test: no groups", ExclusivityGroups: &none, OverlapToleranceSeconds: &zero})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "v3 has no group", len(v3.ExclusivityGroups), 0)
	eq(t, "v3 keeps the day totals", fmt.Sprint(v3.DailyTotalKinds), "[walking]")
	bad := []points.ExclusivityGroup{{Name: "a", Kinds: []string{"metro"}}, {Name: "b", Kinds: []string{"metro"}}}
	_, _, err = points.CreateProgrammeRules(ctx, b.l, province, key(), points.RulesInput{DailyCapGrams: "5000", ReportingWindowDays: 7,
		ValidFrom: day1.Add(3 * time.Hour), Source: "test", ExclusivityGroups: &bad})
	wantCode(t, err, ledger.CodeInvalidRequest)

	b.clock.Advance(3 * time.Hour)
	wantStatus(t, b.one(t, "metro-jinan", trip("C1", "metro", "2", "km", at(11, 20, 0), at(11, 50, 0))), points.StatusCredited, "")
	wantStatus(t, b.one(t, "bikeshare-qd", trip("C1", "cycling", "3", "km", at(11, 25, 0), at(11, 40, 0))), points.StatusCredited, "")
	// Before v3 (11:00) the group was in force.
	wantStatus(t, b.one(t, "metro-jinan", trip("C1", "metro", "2", "km", at(7, 0, 0), at(7, 30, 0))), points.StatusCredited, "")
	wantStatus(t, b.one(t, "bikeshare-qd", trip("C1", "cycling", "3", "km", at(7, 5, 0), at(7, 20, 0))), points.StatusDuplicate, "duplicate")
	b.verify(t)
}

// Two operators racing with overlapping trips of one citizen credit one:
// the interval check runs under the citizen-day locks. Half the citizens
// race a trip crossing midnight against one of the next day, which only
// the lock of the second day serialises.
func TestConcurrentOverlappingTripsTwoOperators(t *testing.T) {
	b := setup(t)
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("T%02d", i)
	}
	withOperator(t, b, "maas-jinan", []string{"bus", "metro"}, ids...)
	if err := points.EnsureCitizens(ctx, b.l, ids, "metro-jinan"); err != nil {
		t.Fatal(err)
	}
	results := make([]points.RecordResult, 2*n)
	run(2*n, func(i int) {
		c := ids[i/2]
		var r points.BehaviourRecord
		switch {
		case i%2 == 0 && i/2%2 == 0:
			r = trip(c, "metro", "12", "km", at(6, 59, 59), at(7, 40, 0))
		case i/2%2 == 0:
			r = trip(c, "bus", "12.3", "km", at(7, 0, 1), at(7, 39, 50))
		case i%2 == 0:
			r = trip(c, "metro", "12", "km", at(23, 50, 0).Add(-24*time.Hour), at(0, 30, 0))
		default:
			r = trip(c, "bus", "3", "km", at(0, 5, 0), at(0, 15, 0))
		}
		results[i] = b.one(t, []string{"metro-jinan", "maas-jinan"}[i%2], r)
	})
	for i := range n {
		a, c := results[2*i], results[2*i+1]
		got := map[string]int{a.Status: 1}
		got[c.Status]++
		if got[points.StatusCredited] != 1 || got[points.StatusDuplicate] != 1 {
			t.Fatalf("citizen %s: %s (%s) and %s (%s), want one credited and one duplicate", ids[i], a.Status, a.Message, c.Status, c.Message)
		}
		eq(t, "pending "+ids[i], b.pending(t, ids[i]), a.Grams+c.Grams)
	}
	b.verify(t)
}

// A duplicate names the counted record credited instead: pointing it
// elsewhere in SQL is reported by verify.
func TestDuplicateReferenceIsChecked(t *testing.T) {
	b := setup(t)
	withOperator(t, b, "maas-jinan", []string{"bus"}, "C1")
	first := b.one(t, "metro-jinan", trip("C1", "metro", "5", "km", at(7, 0, 0), at(7, 20, 0)))
	dup := b.one(t, "maas-jinan", trip("C1", "bus", "5", "km", at(7, 0, 5), at(7, 20, 5)))
	wantDuplicateOf(t, dup, first, "metro-jinan")
	b.verify(t)
	for _, edit := range []string{`duplicate_of = gen_random_uuid()`, `duplicate_of = id`} {
		if _, err := b.Pool.Exec(ctx, `UPDATE points_behaviours SET `+edit+` WHERE id = $1`, *dup.BehaviourID); err != nil {
			t.Fatal(err)
		}
		rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{points.UseCase})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range rep.Problems {
			found = found || (p.UseCase == "points" && p.Table == "points_behaviours" && p.Row == dup.BehaviourID.String())
		}
		if rep.OK || !found {
			t.Fatalf("%s: verify %+v", edit, rep.Problems)
		}
	}
	if _, err := b.Pool.Exec(ctx, `UPDATE points_behaviours SET duplicate_of = $2 WHERE id = $1`, *dup.BehaviourID, *first.BehaviourID); err != nil {
		t.Fatal(err)
	}
	b.verify(t)
}

// The day's counters and the citizen's pending sum are checked set-based
// (one pass over each table): an edit of either is still reported, on the
// citizen-day or the citizen edited, and on nothing else.
func TestDailyTotalsAndPendingAreChecked(t *testing.T) {
	b := setup(t)
	b.one(t, "metro-jinan", trip("C1", "metro", "5", "km", at(7, 0, 0), at(7, 20, 0)))
	b.one(t, "metro-jinan", trip("C1", "metro", "3", "km", at(9, 0, 0), at(9, 20, 0)))
	b.verify(t)
	problemsOn := func(table string) []string {
		t.Helper()
		rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{points.UseCase})
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, p := range rep.Problems {
			if p.UseCase == "points" && p.Table == table {
				rows = append(rows, p.Kind+" "+p.Row)
			}
		}
		return rows
	}
	var day string
	if err := b.Pool.QueryRow(ctx, `SELECT day::TEXT FROM points_daily_usage WHERE citizen_id = 'C1'`).Scan(&day); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []string{`grams = grams + 1`, `records = records - 1`} {
		if _, err := b.Pool.Exec(ctx, `UPDATE points_daily_usage SET `+edit+` WHERE citizen_id = 'C1'`); err != nil {
			t.Fatal(err)
		}
		eq(t, edit, fmt.Sprint(problemsOn("points_daily_usage")), "[daily_totals C1 "+day+"]")
		if _, err := b.Pool.Exec(ctx, `UPDATE points_daily_usage u SET grams = (SELECT sum(grams) FROM points_behaviours b WHERE b.citizen_id = u.citizen_id AND b.day = u.day AND b.status = 'credited'), records = (SELECT count(*) FROM points_behaviours b WHERE b.citizen_id = u.citizen_id AND b.day = u.day AND b.status <> 'duplicate') WHERE citizen_id = 'C1'`); err != nil {
			t.Fatal(err)
		}
	}
	b.verify(t)
	// A pending credit whose grams change no longer adds up to the
	// citizen's pending account.
	if _, err := b.Pool.Exec(ctx, `UPDATE points_behaviours SET grams = grams - 1 WHERE id = (SELECT id FROM points_behaviours WHERE citizen_id = 'C1' AND claim_state = 'pending' LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	if got := problemsOn("points_behaviours"); !slices.Contains(got, "balances C1") {
		t.Fatalf("an edited pending credit: problems on points_behaviours %v, want balances C1", got)
	}
}
