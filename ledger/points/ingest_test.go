package points_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

func TestIngestRejections(t *testing.T) {
	b := setup(t)
	if _, _, err := points.RegisterOperator(ctx, b.l, province, key(), points.OperatorInput{ID: "bus-qd", Name: "Qingdao bus", Kinds: []string{"bus"}}); err != nil {
		t.Fatal(err)
	}
	if err := points.EnsureCitizens(ctx, b.l, []string{"C9"}); err != nil { // registered, entrusts nobody
		t.Fatal(err)
	}
	at := day1.Add(-time.Hour)
	yesterday := day1.Add(-20 * time.Hour) // another day: the 3,000 g daily cap is not in play
	dupID := rec("C1", "metro", "3", "km", yesterday)
	sameTrip := rec("C1", "metro", "3", "km", yesterday)
	reused := rec("C1", "metro", "4", "km", yesterday.Add(time.Hour))
	reused.RecordID = dupID.RecordID
	res := b.report(t, "metro-jinan",
		rec("C1", "metro", "12", "km", at),                       // 0 credited
		rec("C404", "metro", "1", "km", at),                      // 1 unknown citizen
		rec("C9", "metro", "1", "km", at),                        // 2 not entrusted
		rec("C1", "walking", "1000", "steps", at),                // 3 kind not allowed for metro-jinan
		rec("C1", "metro", "1", "km", day1.Add(10*time.Minute)),  // 4 future
		rec("C1", "metro", "1", "km", day1.Add(-8*24*time.Hour)), // 5 older than the reporting window
		rec("C1", "metro", "201", "km", at),                      // 6 quantity out of range
		rec("C1", "metro", "1.2345", "km", at),                   // 7 too many decimals
		rec("C1", "metro", "1", "miles", at),                     // 8 no methodology
		rec("C1", "metro", "0.001", "km", at),                    // 9 below one gram
		points.BehaviourRecord{RecordID: "has space", Citizen: "C1", Kind: "metro", Quantity: "1", Unit: "km", OccurredAt: at}, // 10
		points.BehaviourRecord{RecordID: "x1", Citizen: "C1", Kind: "metro", Quantity: "1", Unit: "km"},                        // 11 no time
		rec("bad id!", "metro", "1", "km", at), // 12 citizen not an identifier
		dupID,                                  // 13 credited
		sameTrip,                               // 14 same trip as 13
		reused,                                 // 15 same record id as 13
		rec("C1", "Metro", "1", "km", at),      // 16 kind not lowercase
	)
	want := []struct{ status, reason string }{
		{points.StatusCredited, ""},
		{points.StatusRejected, string(points.CodeUnknownCitizen)},
		{points.StatusRejected, string(points.CodeNotEntrusted)},
		{points.StatusRejected, string(points.CodeKindNotAllowed)},
		{points.StatusRejected, string(points.CodeTimeOutOfWindow)},
		{points.StatusRejected, string(points.CodeTimeOutOfWindow)},
		{points.StatusRejected, string(points.CodeQuantityRange)},
		{points.StatusRejected, string(points.CodeQuantityRange)},
		{points.StatusRejected, string(points.CodeNoMethodology)},
		{points.StatusRejected, string(points.CodeBelowOneGram)},
		{points.StatusRejected, string(ledger.CodeInvalidRequest)},
		{points.StatusRejected, string(ledger.CodeInvalidRequest)},
		{points.StatusRejected, string(ledger.CodeInvalidRequest)},
		{points.StatusCredited, ""},
		{points.StatusDuplicate, "duplicate"},
		{points.StatusDuplicate, "duplicate"},
		{points.StatusRejected, string(ledger.CodeInvalidRequest)},
	}
	for i, w := range want {
		wantStatus(t, res.Results[i], w.status, w.reason)
		eq(t, "index", res.Results[i].Index, i)
	}
	eq(t, "credited", res.Credited, 2)
	eq(t, "duplicates", res.Duplicates, 2)
	eq(t, "rejected", res.Rejected, 13)
	eq(t, "grams", res.GramsCredited, int64(2532+633))

	// A rejected record claims no behaviour key: the entrusted operator's
	// report of the trip the non-entrusted one was refused for is credited.
	if _, _, err := points.Entrust(ctx, b.l, citizen("C9"), key(), points.EntrustInput{Operator: "metro-jinan"}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.one(t, "metro-jinan", rec("C9", "metro", "1", "km", at)), points.StatusCredited, "")

	// Whole-batch refusals.
	_, _, err := points.Ingest(ctx, b.l, operator("metro-jinan"), key(), points.IngestInput{})
	wantCode(t, err, ledger.CodeLimitExceeded)
	big := make([]points.BehaviourRecord, points.RecordsPerBatchMax+1)
	_, _, err = points.Ingest(ctx, b.l, operator("metro-jinan"), key(), points.IngestInput{Records: big})
	wantCode(t, err, ledger.CodeLimitExceeded)
	_, _, err = points.Ingest(ctx, b.l, citizen("C1"), key(), points.IngestInput{Records: []points.BehaviourRecord{rec("C1", "metro", "1", "km", at)}})
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = points.Ingest(ctx, b.l, operator("unregistered"), key(), points.IngestInput{Records: []points.BehaviourRecord{rec("C1", "metro", "1", "km", at)}})
	wantCode(t, err, ledger.CodeForbidden)
	if _, _, err := points.RegisterOperator(ctx, b.l, province, key(), points.OperatorInput{ID: "bus-qd", Name: "Qingdao bus", Kinds: []string{"bus"}, Status: "suspended"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = points.Ingest(ctx, b.l, operator("bus-qd"), key(), points.IngestInput{Records: []points.BehaviourRecord{rec("C1", "bus", "1", "km", at)}})
	wantCode(t, err, points.CodeOperatorInactive)
	b.verify(t)
}

// A frozen citizen account rejects its records; the rest of the batch is
// credited.
func TestFrozenAccountRejectsItsRecords(t *testing.T) {
	b := setup(t)
	setStatus(t, b, ledger.CitizenPendingAccount("C2"), "frozen")
	res := b.report(t, "metro-jinan",
		rec("C1", "metro", "1", "km", day1.Add(-time.Hour)),
		rec("C2", "metro", "1", "km", day1.Add(-time.Hour)),
		rec("C3", "metro", "1", "km", day1.Add(-time.Hour)))
	wantStatus(t, res.Results[0], points.StatusCredited, "")
	wantStatus(t, res.Results[1], points.StatusRejected, string(ledger.CodeAccountFrozen))
	wantStatus(t, res.Results[2], points.StatusCredited, "")
	eq(t, "C2 pending", b.pending(t, "C2"), int64(0))
	setStatus(t, b, ledger.CitizenPendingAccount("C2"), "active")
	// The rejected record claimed nothing: reported again, it is credited.
	wantStatus(t, b.one(t, "metro-jinan", rec("C2", "metro", "1", "km", day1.Add(-time.Hour))), points.StatusCredited, "")
	b.verify(t)
}

func TestWithdrawnEntrustment(t *testing.T) {
	b := setup(t)
	at := day1.Add(-time.Hour)
	wantStatus(t, b.one(t, "bikeshare-qd", rec("C2", "cycling", "3", "km", at)), points.StatusCredited, "")
	if _, _, err := points.Withdraw(ctx, b.l, citizen("C2"), key(), points.EntrustInput{Operator: "bikeshare-qd"}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.one(t, "bikeshare-qd", rec("C2", "cycling", "4", "km", at)), points.StatusRejected, string(points.CodeNotEntrusted))
	_, _, err := points.Withdraw(ctx, b.l, citizen("C2"), key(), points.EntrustInput{Operator: "bikeshare-qd"})
	wantCode(t, err, ledger.CodeNotFound)
	es, err := points.ListEntrustments(ctx, b.l, citizen("C2"), "C2")
	if err != nil {
		t.Fatal(err)
	}
	active := map[string]bool{}
	for _, e := range es {
		active[e.Operator] = e.Active
	}
	if active["bikeshare-qd"] || !active["metro-jinan"] {
		t.Fatalf("entrustments %+v", es)
	}
	if _, _, err := points.Entrust(ctx, b.l, citizen("C2"), key(), points.EntrustInput{Operator: "bikeshare-qd"}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.one(t, "bikeshare-qd", rec("C2", "cycling", "4", "km", at)), points.StatusCredited, "")
	_, _, err = points.Entrust(ctx, b.l, citizen("C2"), key(), points.EntrustInput{Operator: "nobody"})
	wantCode(t, err, ledger.CodeNotFound)
	_, err = points.ListEntrustments(ctx, b.l, citizen("C1"), "C2")
	wantCode(t, err, ledger.CodeNotFound)
	b.verify(t)
}

// Replaying a batch is harmless: with the same key it returns the first
// result; with a new key every record is a duplicate; the same key with a
// different batch is an idempotency conflict.
func TestReplayBatch(t *testing.T) {
	b := setup(t)
	recs := []points.BehaviourRecord{
		rec("C1", "metro", "12", "km", day1.Add(-3*time.Hour)),
		rec("C2", "walking", "15000", "steps", day1.Add(-2*time.Hour)),
		rec("C3", "metro", "1", "rides", day1.Add(-time.Hour)),
	}
	k := key()
	first, replayed, err := points.Ingest(ctx, b.l, operator("metro-jinan"), k, points.IngestInput{Records: recs})
	if err != nil || replayed {
		t.Fatal(err, replayed)
	}
	eq(t, "credited", first.Credited, 2) // walking is not metro-jinan's kind
	again, replayed, err := points.Ingest(ctx, b.l, operator("metro-jinan"), k, points.IngestInput{Records: recs})
	if err != nil || !replayed {
		t.Fatal(err, replayed)
	}
	j1, _ := json.Marshal(first)
	j2, _ := json.Marshal(again)
	if string(j1) != string(j2) {
		t.Fatalf("replay differs:\n%s\n%s", j1, j2)
	}
	fresh := b.report(t, "metro-jinan", recs...)
	eq(t, "duplicates under a new key", fresh.Duplicates, 2)
	eq(t, "nothing credited under a new key", fresh.Credited, 0)
	_, _, err = points.Ingest(ctx, b.l, operator("metro-jinan"), k, points.IngestInput{Records: recs[:1]})
	wantCode(t, err, ledger.CodeIdempotencyConflict)
	eq(t, "pending C1", b.pending(t, "C1"), int64(2532))
	eq(t, "pending C3", b.pending(t, "C3"), int64(52))
	b.verify(t)
}

// A new methodology version takes effect at its valid_from; every credit
// records the version it used; versions are never edited.
func TestMethodologyVersions(t *testing.T) {
	b := setup(t)
	in := points.MethodologyInput{Code: "metro-km", Kind: "metro", Unit: "km", FactorGrams: "250", QuantityScale: 3, QuantityMax: "200",
		ClaimWindowDays: 7, ValidityDays: 730, ValidFrom: day1.Add(time.Hour), Source: "Shandong notice 2026-3 (test)"}
	_, _, err := points.CreateMethodology(ctx, b.l, citizen("C1"), key(), in)
	wantCode(t, err, ledger.CodeForbidden)
	m, _, err := points.CreateMethodology(ctx, b.l, province, key(), in)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "id", m.ID, "metro-km.v2")
	_, _, err = points.CreateMethodology(ctx, b.l, province, key(), in)
	wantCode(t, err, ledger.CodeConflict) // same kind, unit and valid_from
	past := in
	past.ValidFrom = day1.Add(-time.Hour)
	_, _, err = points.CreateMethodology(ctx, b.l, province, key(), past)
	wantCode(t, err, ledger.CodeInvalidRequest)

	r := b.one(t, "metro-jinan", rec("C1", "metro", "2", "km", day1.Add(-time.Minute)))
	eq(t, "before valid_from", r.Methodology, "metro-km.v1")
	eq(t, "v1 grams", r.Grams, int64(422))
	b.clock.Advance(2 * time.Hour)
	r = b.one(t, "metro-jinan", rec("C1", "metro", "2", "km", day1.Add(90*time.Minute)))
	eq(t, "after valid_from", r.Methodology, "metro-km.v2")
	eq(t, "v2 grams", r.Grams, int64(500))
	// A late report of a trip made before v2 still uses v1.
	r = b.one(t, "metro-jinan", rec("C1", "metro", "2", "km", day1.Add(30*time.Minute)))
	eq(t, "late report", r.Methodology, "metro-km.v1")

	active, err := points.ListMethodologies(ctx, b.l, false)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range active {
		ids[m.ID] = true
	}
	if !ids["metro-km.v2"] || ids["metro-km.v1"] || !ids["walking-steps.v1"] || len(active) != 6 {
		t.Fatalf("active: %v", ids)
	}
	all, _ := points.ListMethodologies(ctx, b.l, true)
	eq(t, "all versions", len(all), 7)
	v1, err := points.GetMethodology(ctx, b.l, "metro-km.v1")
	if err != nil || !v1.FactorGrams.Equal(v1.FactorGrams) || v1.FactorGrams.String() != "211" {
		t.Fatalf("v1 unchanged: %+v %v", v1, err)
	}

	rules, _, err := points.CreateProgrammeRules(ctx, b.l, province, key(), points.RulesInput{DailyCapGrams: "5000", ReportingWindowDays: 7, ValidFrom: b.clock.Now(), Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "rules version", rules.Version, 2)
	b.verify(t)
}

func TestSummaryAndActivity(t *testing.T) {
	b := setup(t)
	// The clock moves a minute between steps, so the history has an order.
	b.one(t, "metro-jinan", rec("C1", "metro", "12", "km", day1.Add(-3*time.Hour))) // 2,532
	b.clock.Advance(time.Minute)
	b.one(t, "tanhui-app", rec("C1", "walking", "10000", "steps", day1.Add(-2*time.Hour))) // 200
	b.clock.Advance(time.Minute)
	b.claim(t, "C1")
	b.clock.Advance(time.Minute)
	b.one(t, "metro-jinan", rec("C1", "bus", "1", "km", day1.Add(-time.Hour))) // 204 pending
	b.clock.Advance(time.Minute)
	if _, _, err := points.Redeem(ctx, b.l, citizen("C1"), key(), points.RedeemInput{Reward: "bus-ticket"}); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Minute)
	if _, _, err := points.Donate(ctx, b.l, citizen("C1"), key(), points.DonateInput{Pool: "trees-2026", Points: "100"}); err != nil {
		t.Fatal(err)
	}

	s, err := points.GetSummary(ctx, b.l, citizen("C1"), "C1")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "pending", s.PendingPoints, int64(204))
	eq(t, "claimable", s.ClaimablePoints, int64(204))
	eq(t, "available", s.AvailablePoints, int64(2732-1500-100))
	eq(t, "lifetime grams", s.LifetimeGrams, int64(2936))
	eq(t, "expiring soon", s.ExpiringSoonPoints, int64(0))
	if s.NextExpiry == nil || len(s.Lots) != 1 {
		t.Fatalf("summary lots: %+v", s)
	}
	if _, err := points.GetSummary(ctx, b.l, citizen("C2"), "C1"); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("another citizen reads C1: %v", err)
	}
	if _, err := points.GetSummary(ctx, b.l, operator("metro-jinan"), "C1"); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("an operator reads C1: %v", err)
	}
	if _, err := points.GetSummary(ctx, b.l, auditor, "C1"); err != nil {
		t.Fatal(err)
	}

	// Page through with 2 items a page; commit a new credit (of yesterday,
	// so the daily cap stays out of play) after the first page. Each stream
	// is paged by its account's sequence, so the new line is neither lost
	// nor repeated: it comes on the next page.
	var types []string
	cursor := ""
	for i := 0; ; i++ {
		page, err := points.ListActivity(ctx, b.l, citizen("C1"), "C1", 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			types = append(types, it.Type)
			if it.Type == points.ActivityEarned && (len(it.Behaviours) != 1 || it.Behaviours[0].Kind == "" || it.Behaviours[0].Methodology == "") {
				t.Fatalf("earned without its behaviour: %+v", it)
			}
		}
		if i == 0 {
			b.clock.Advance(time.Minute)
			b.one(t, "metro-jinan", rec("C1", "bus", "2", "km", day1.Add(-20*time.Hour)))
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	want := []string{"donated", "redeemed", "earned", "earned", "claimed", "earned", "earned"}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("activity %v, want %v", types, want)
	}
	page, err := points.ListActivity(ctx, b.l, citizen("C1"), "C1", 50, "")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "all lines", len(page.Items), 7)
	top := page.Items[0]
	eq(t, "newest", top.Type, points.ActivityEarned)
	eq(t, "newest behaviour", top.Behaviours[0].Quantity, "2")
	eq(t, "newest pending change", top.PendingChange, int64(408))
	_, err = points.ListActivity(ctx, b.l, citizen("C1"), "C1", 2, "garbage")
	wantCode(t, err, ledger.CodeInvalidRequest)
	_, err = points.ListActivity(ctx, b.l, citizen("C2"), "C1", 2, "")
	wantCode(t, err, ledger.CodeNotFound)
}

func TestSeedIsIdempotent(t *testing.T) {
	b := setup(t)
	count := func() string {
		var s string
		if err := b.l.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM points_methodologies) || '/' || (SELECT count(*) FROM points_operators) || '/' ||
			(SELECT count(*) FROM points_citizens) || '/' || (SELECT count(*) FROM points_entrustments) || '/' || (SELECT count(*) FROM points_rewards) || '/' ||
			(SELECT count(*) FROM points_donation_pools) || '/' || (SELECT count(*) FROM points_programme_rules) || '/' || (SELECT count(*) FROM accounts)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := count()
	if err := points.Seed(ctx, b.l); err != nil {
		t.Fatal(err)
	}
	eq(t, "rows after a second seed", count(), before)
	eq(t, "seeded", before[:len("6/3/3/9/2/1/1")], "6/3/3/9/2/1/1")
}

func TestRolesForConfiguration(t *testing.T) {
	b := setup(t)
	merchant := ledger.Actor{Sub: "m1", Role: ledger.RoleEnterprise, Org: "jinan-coffee"}
	r, _, err := points.CreateReward(ctx, b.l, merchant, key(), points.RewardInput{ID: "coffee", Title: "Coffee", PricePoints: "800", Stock: "5"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "merchant", r.Merchant, "jinan-coffee")
	for name, err := range map[string]error{
		"citizen publishes a reward": second(points.CreateReward(ctx, b.l, citizen("C1"), key(), points.RewardInput{ID: "x", Title: "x", PricePoints: "1", Stock: "1"})),
		"operator registers":         second(points.RegisterOperator(ctx, b.l, operator("metro-jinan"), key(), points.OperatorInput{ID: "x", Name: "x", Kinds: []string{"metro"}})),
		"citizen approves a pool":    second(points.CreateDonationPool(ctx, b.l, citizen("C1"), key(), points.PoolInput{ID: "x", Name: "x"})),
		"auditor publishes rules":    second(points.CreateProgrammeRules(ctx, b.l, auditor, key(), points.RulesInput{})),
		"operator claims":            second(points.Claim(ctx, b.l, operator("metro-jinan"), key())),
		"province redeems":           second(points.Redeem(ctx, b.l, province, key(), points.RedeemInput{Reward: "coffee"})),
		"citizen registers another":  second(points.RegisterCitizen(ctx, b.l, citizen("C1"), key(), "C2")),
	} {
		if ledger.ErrorCode(err) != ledger.CodeForbidden {
			t.Errorf("%s: %v, want forbidden", name, err)
		}
	}
	_, _, err = points.CreateReward(ctx, b.l, province, key(), points.RewardInput{ID: "coffee", Title: "Coffee", PricePoints: "800", Stock: "5"})
	wantCode(t, err, ledger.CodeConflict)
	_, _, err = points.CreateReward(ctx, b.l, province, key(), points.RewardInput{ID: "free", Title: "Free", PricePoints: "0", Stock: "5"})
	wantCode(t, err, ledger.CodeInvalidAmount)
	p, _, err := points.CreateDonationPool(ctx, b.l, province, key(), points.PoolInput{ID: "marathon-2026", Name: "Jinan marathon"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "pool account", p.Account, "pool:marathon-2026:CP")
	c, _, err := points.RegisterCitizen(ctx, b.l, citizen("C77"), key(), "")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "self registration", c.ID, "C77")
}

func second[T any](_ T, _ bool, err error) error { return err }

// setStatus freezes or unfreezes an account the way a use case does (CP
// accounts are not frozen through the generic route).
func setStatus(t *testing.T, b *bundle, id, status string) {
	t.Helper()
	if err := b.l.Update(ctx, func(w *ledger.Writer) error {
		return w.SetAccountStatus(ledger.Actor{Sub: "p1", Role: ledger.RoleProvince}, id, status, "test")
	}); err != nil {
		t.Fatal(err)
	}
}
