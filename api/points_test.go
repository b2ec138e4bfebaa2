package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger/points"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// End-to-end tests of the points routes (issue 3): the DOMAIN.md §7
// scenarios over HTTP, each followed by the invariants (GET /v1/audit/verify
// and points.Check).

type pointsEnv struct {
	h     *harness
	prov  string
	start time.Time
}

var pointsCST = time.FixedZone("CST", 8*60*60)

func newPointsEnv(t *testing.T) *pointsEnv {
	t.Helper()
	h := newHarness(t, true)
	if err := points.Seed(context.Background(), h.l); err != nil {
		t.Fatal(err)
	}
	return &pointsEnv{h: h, prov: h.token(ledger.RoleProvince, "officer-1", "", ""), start: h.clock()}
}

// day is 10:00 China time, n days before the day the test started.
func (e *pointsEnv) day(n int) time.Time {
	s := e.start.In(pointsCST)
	return time.Date(s.Year(), s.Month(), s.Day()-n, 10, 0, 0, 0, pointsCST)
}

func (e *pointsEnv) citizen(id string) string { return e.h.token(ledger.RoleCitizen, id, "", "") }
func (e *pointsEnv) operator(org string) string {
	return e.h.token(ledger.RoleOperator, "ops-"+org, org, "")
}

func pointsRecord(citizen, kind, qty, unit string, at time.Time) map[string]any {
	return map[string]any{"record_id": "r-" + uuid.NewString(), "citizen": citizen, "kind": kind, "quantity": qty, "unit": unit, "occurred_at": at}
}

// report posts records and returns the per-record results.
func (e *pointsEnv) report(t *testing.T, op string, recs ...map[string]any) []map[string]any {
	t.Helper()
	r := e.h.post("/v1/behaviours", e.operator(op), map[string]any{"records": recs}).want(t, http.StatusCreated)
	var out []map[string]any
	for _, x := range r.JSON["results"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func pointsWant(t *testing.T, res map[string]any, status, reason, grams string) {
	t.Helper()
	if res["status"] != status || (reason != "" && res["reason"] != reason) || (grams != "" && res["grams"] != grams) {
		t.Fatalf("result %v, want %s/%s/%s", res, status, reason, grams)
	}
}

func (e *pointsEnv) me(t *testing.T, citizen string) map[string]any {
	t.Helper()
	return e.h.get("/v1/me", e.citizen(citizen)).want(t, http.StatusOK).JSON
}

func (e *pointsEnv) runJob(t *testing.T, name string) int {
	t.Helper()
	for _, j := range ledger.AllJobs(testUseCases) {
		if j.Name == name {
			n, err := j.Run(context.Background(), e.h.l)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no job %s", name)
	return 0
}

func (e *pointsEnv) verify(t *testing.T) {
	t.Helper()
	e.h.verifyClean()
	chk, err := points.Check(context.Background(), e.h.l)
	if err != nil {
		t.Fatal(err)
	}
	if !chk.OK {
		t.Fatalf("points check: %v", chk.Problems)
	}
}

func pointsEq(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// DOMAIN.md §7 Metro: 12 km → 2,532 g and 2,532 pending points; the same
// trip reported by a second operator is a duplicate and nothing moves.
func TestPointsHTTPMetroAndDuplicate(t *testing.T) {
	e := newPointsEnv(t)
	e.h.post("/v1/operators", e.prov, map[string]any{"id": "maas-jinan", "name": "Jinan MaaS", "kinds": []string{"metro", "bus"}}).want(t, http.StatusCreated)
	e.h.post("/v1/me/entrustments", e.citizen("C1"), map[string]any{"operator": "maas-jinan"}).want(t, http.StatusCreated)

	// The behaviour key truncates time to the minute: keep both reports in one.
	trip := e.start.Add(-time.Hour).Truncate(time.Minute)
	res := e.report(t, "metro-jinan", pointsRecord("C1", "metro", "12", "km", trip))
	pointsWant(t, res[0], "credited", "", "2532")
	pointsEq(t, "points", res[0]["points"], "2532")
	pointsEq(t, "methodology", res[0]["methodology"], "metro-km.v1")
	me := e.me(t, "C1")
	pointsEq(t, "pending", me["pending_points"], "2532")
	pointsEq(t, "claimable", me["claimable_points"], "2532")
	pointsEq(t, "lifetime grams", me["lifetime_grams"], "2532")

	res = e.report(t, "maas-jinan", pointsRecord("C1", "metro", "12.0", "km", trip.Add(15*time.Second)))
	pointsWant(t, res[0], "duplicate", "duplicate", "0")
	pointsEq(t, "pending after duplicate", e.me(t, "C1")["pending_points"], "2532")
	pool := e.h.get("/v1/accounts/"+points.PoolAccount("metro-jinan", "metro-km.v1", points.Period(trip)), e.prov).want(t, http.StatusOK)
	pointsEq(t, "pool balance", pool.str("balance"), "2532")

	// The activity shows the behaviour behind the credit.
	act := e.h.get("/v1/me/activity", e.citizen("C1")).want(t, http.StatusOK)
	items := act.JSON["items"].([]any)
	pointsEq(t, "activity lines", len(items), 1)
	line := items[0].(map[string]any)
	pointsEq(t, "type", line["type"], "earned")
	b := line["behaviours"].([]any)[0].(map[string]any)
	pointsEq(t, "behaviour", fmt.Sprint(b["kind"], " ", b["quantity"], " ", b["unit"], " ", b["grams"]), "metro 12 km 2532")
	e.verify(t)
}

// DOMAIN.md §7 Walking cap and ride cap.
func TestPointsHTTPCaps(t *testing.T) {
	e := newPointsEnv(t)
	res := e.report(t, "tanhui-app", pointsRecord("C2", "walking", "15000", "steps", e.day(2)))
	pointsWant(t, res[0], "credited", "daily_kind_cap", "296")
	pointsEq(t, "computed", res[0]["computed_grams"], "300")
	res = e.report(t, "tanhui-app", pointsRecord("C2", "walking", "2000", "steps", e.day(2).Add(3*time.Hour)))
	pointsWant(t, res[0], "cap_reached", "daily_kind_cap", "0")
	res = e.report(t, "tanhui-app", pointsRecord("C2", "walking", "5000", "steps", e.day(1)))
	pointsWant(t, res[0], "credited", "", "100")
	pointsEq(t, "C2 pending", e.me(t, "C2")["pending_points"], "396")

	var rides []map[string]any
	for i := range 6 {
		rides = append(rides, pointsRecord("C3", "metro", "1", "rides", e.day(1).Add(time.Duration(i)*time.Hour)))
	}
	res = e.report(t, "metro-jinan", rides...)
	for i := range 5 {
		pointsWant(t, res[i], "credited", "", "52")
	}
	pointsWant(t, res[5], "cap_reached", "daily_quantity_cap", "0")
	pointsEq(t, "C3 pending", e.me(t, "C3")["pending_points"], "260")
	e.verify(t)
}

// DOMAIN.md §7 Lapse: 1,020 pending points unclaimed after 7 days expire;
// a late claim fails.
func TestPointsHTTPLapse(t *testing.T) {
	e := newPointsEnv(t)
	res := e.report(t, "metro-jinan", pointsRecord("C1", "bus", "5", "km", e.start.Add(-time.Hour)))
	pointsWant(t, res[0], "credited", "", "1020")
	e.h.advance(7*24*time.Hour + time.Minute)
	pointsEq(t, "expired items", e.runJob(t, "expire-points"), 1)
	me := e.me(t, "C1")
	pointsEq(t, "pending", me["pending_points"], "0")
	e.h.post("/v1/me/claims", e.citizen("C1"), map[string]any{}).want(t, http.StatusUnprocessableEntity, "claim_window_closed")
	exp := e.h.get("/v1/accounts/programme:CP:expired", e.prov).want(t, http.StatusOK)
	pointsEq(t, "expired sink", exp.str("balance"), "1020")
	pointsEq(t, "second run", e.runJob(t, "expire-points"), 0)
	e.verify(t)
}

// DOMAIN.md §7 Redeem and expire.
func TestPointsHTTPRedeemAndExpire(t *testing.T) {
	e := newPointsEnv(t)
	c1 := e.citizen("C1")
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C1", "metro", "15", "km", e.day(3)))[0], "credited", "daily_total_cap", "3000")
	claim := e.h.post("/v1/me/claims", c1, map[string]any{}).want(t, http.StatusCreated)
	pointsEq(t, "first lot", claim.str("claimed_points"), "3000")
	older := claim.JSON["lots"].([]any)[0].(map[string]any)["id"]

	e.h.advance(24 * time.Hour)
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C1", "metro", "15", "km", e.day(2)))[0], "credited", "daily_total_cap", "3000")
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C1", "metro", "4.74", "km", e.day(1)))[0], "credited", "", "1000")
	claim = e.h.post("/v1/me/claims", c1, map[string]any{}).want(t, http.StatusCreated)
	pointsEq(t, "second lot", claim.str("claimed_points"), "4000")
	newer := claim.JSON["lots"].([]any)[0].(map[string]any)["id"]
	pointsEq(t, "available", e.me(t, "C1")["available_points"], "7000")

	red := e.h.post("/v1/me/redemptions", c1, map[string]any{"reward": "metro-day-pass"}).want(t, http.StatusCreated)
	lots := red.JSON["lots"].([]any)
	pointsEq(t, "takes", fmt.Sprintf("%v %v %v %v", lots[0].(map[string]any)["lot_id"] == older, lots[0].(map[string]any)["points"],
		lots[1].(map[string]any)["lot_id"] == newer, lots[1].(map[string]any)["points"]), "true 3000 true 2000")
	pointsEq(t, "available after redemption", e.me(t, "C1")["available_points"], "2000")

	e.h.advance(730 * 24 * time.Hour)
	pointsEq(t, "expired lots", e.runJob(t, "expire-points"), 1)
	pointsEq(t, "available after expiry", e.me(t, "C1")["available_points"], "0")

	e.h.post("/v1/rewards", e.prov, map[string]any{"id": "sticker", "title": "Sticker", "price_points": "1", "stock": "10"}).want(t, http.StatusCreated)
	e.h.post("/v1/me/redemptions", c1, map[string]any{"reward": "sticker"}).want(t, http.StatusConflict, "insufficient_balance")
	// Points never go to another citizen: not as a donation, not through
	// the generic transaction route.
	e.h.post("/v1/me/donations", c1, map[string]any{"pool": "C2", "points": "1"}).want(t, http.StatusNotFound, "not_found")
	r := e.h.post("/v1/transactions", e.prov, map[string]any{"kind": "transfer", "postings": []map[string]string{
		{"account": "citizen:C1:CP:available", "amount": "-1"}, {"account": "citizen:C2:CP:available", "amount": "1"}}})
	if r.Status < 400 || r.code() != "managed_asset" {
		t.Fatalf("CP through the generic route: %d %s", r.Status, r.Body)
	}
	e.verify(t)
}

func TestPointsHTTPRolesAndEntrustment(t *testing.T) {
	e := newPointsEnv(t)
	e.report(t, "metro-jinan", pointsRecord("C1", "metro", "2", "km", e.start.Add(-time.Hour)))

	// A citizen sees only their own account.
	e.h.get("/v1/citizens/C1", e.citizen("C2")).want(t, http.StatusNotFound, "not_found")
	e.h.get("/v1/citizens/C1/activity", e.citizen("C2")).want(t, http.StatusNotFound, "not_found")
	own := e.h.get("/v1/citizens/C1", e.citizen("C1")).want(t, http.StatusOK)
	pointsEq(t, "own summary", own.str("pending_points"), "422")
	e.h.get("/v1/citizens/C1", e.h.token(ledger.RoleAuditor, "aud-1", "", "")).want(t, http.StatusOK)
	e.h.get("/v1/citizens/C1", e.operator("metro-jinan")).want(t, http.StatusForbidden, "forbidden")
	if r := e.h.get("/v1/accounts/citizen:C1:CP:pending", e.citizen("C2")); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
		t.Fatalf("another citizen's account through the core route: %d", r.Status)
	}

	// An operator reports only for citizens who entrusted it.
	e.h.post("/v1/me/account", e.citizen("C9"), map[string]any{}).want(t, http.StatusCreated)
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C9", "metro", "2", "km", e.start.Add(-time.Hour)))[0], "rejected", "not_entrusted", "0")
	e.h.post("/v1/me/entrustments", e.citizen("C9"), map[string]any{"operator": "metro-jinan"}).want(t, http.StatusCreated)
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C9", "metro", "2", "km", e.start.Add(-time.Hour)))[0], "credited", "", "422")
	e.h.post("/v1/me/entrustments/metro-jinan/withdrawal", e.citizen("C9"), map[string]any{}).want(t, http.StatusCreated)
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C9", "metro", "3", "km", e.start.Add(-time.Hour)))[0], "rejected", "not_entrusted", "0")
	e.h.post("/v1/me/entrustments/metro-jinan/withdrawal", e.citizen("C9"), map[string]any{}).want(t, http.StatusNotFound)
	ents := e.h.get("/v1/me/entrustments", e.citizen("C9")).want(t, http.StatusOK)
	pointsEq(t, "entrustments", len(ents.JSON["items"].([]any)), 1)
	// A kind the province did not allow the operator.
	pointsWant(t, e.report(t, "bikeshare-qd", pointsRecord("C1", "metro", "2", "km", e.start.Add(-time.Hour)))[0], "rejected", "kind_not_allowed", "0")

	// Roles per route.
	c1 := e.citizen("C1")
	e.h.post("/v1/behaviours", c1, map[string]any{"records": []any{pointsRecord("C1", "metro", "1", "km", e.start)}}).want(t, http.StatusForbidden)
	e.h.post("/v1/me/claims", e.operator("metro-jinan"), map[string]any{}).want(t, http.StatusForbidden)
	e.h.post("/v1/methodologies", c1, map[string]any{}).want(t, http.StatusForbidden)
	e.h.post("/v1/operators", e.operator("metro-jinan"), map[string]any{}).want(t, http.StatusForbidden)
	e.h.post("/v1/clawbacks", c1, map[string]any{}).want(t, http.StatusForbidden)
	e.h.post("/v1/rewards", c1, map[string]any{}).want(t, http.StatusForbidden)
	e.h.post("/v1/rewards", e.h.token(ledger.RoleEnterprise, "m-1", "jinan-coffee", ""),
		map[string]any{"id": "coffee", "title": "Coffee", "price_points": "800", "stock": "5"}).want(t, http.StatusCreated)
	e.h.get("/v1/me", e.prov).want(t, http.StatusForbidden)
	e.verify(t)
}

func TestPointsHTTPMethodologiesAndValidation(t *testing.T) {
	e := newPointsEnv(t)
	list := e.h.get("/v1/methodologies", e.citizen("C1")).want(t, http.StatusOK)
	pointsEq(t, "active versions", len(list.JSON["items"].([]any)), 6)
	body := map[string]any{"code": "metro-km", "kind": "metro", "unit": "km", "factor_grams_per_unit": "250", "quantity_scale": 3,
		"quantity_max": "200", "claim_window_days": 7, "validity_days": 730, "valid_from": e.start.Add(time.Hour), "source": "test notice"}
	m := e.h.post("/v1/methodologies", e.prov, body, withKey("m-1")).want(t, http.StatusCreated)
	pointsEq(t, "id", m.str("id"), "metro-km.v2")
	again := e.h.post("/v1/methodologies", e.prov, body, withKey("m-1")).want(t, http.StatusOK)
	pointsEq(t, "replayed", again.Header.Get("Idempotent-Replayed"), "true")
	body["factor_grams_per_unit"] = "251"
	e.h.post("/v1/methodologies", e.prov, body, withKey("m-1")).want(t, http.StatusConflict, "idempotency_conflict")
	e.h.get("/v1/methodologies/metro-km.v2", e.citizen("C1")).want(t, http.StatusOK)
	e.h.get("/v1/methodologies/nope.v1", e.citizen("C1")).want(t, http.StatusNotFound)
	all := e.h.get("/v1/methodologies?all=true", e.citizen("C1")).want(t, http.StatusOK)
	pointsEq(t, "all versions", len(all.JSON["items"].([]any)), 7)
	e.h.get("/v1/methodologies?all=maybe", e.citizen("C1")).want(t, http.StatusBadRequest)
	body["factor_grams_per_unit"] = 250 // a JSON number
	e.h.post("/v1/methodologies", e.prov, body).want(t, http.StatusBadRequest)

	op := e.operator("metro-jinan")
	e.h.post("/v1/behaviours", op, map[string]any{"records": []any{}}).want(t, http.StatusBadRequest, "limit_exceeded")
	e.h.post("/v1/behaviours", op, map[string]any{"records": []any{map[string]any{"record_id": "x", "quantity": 12}}}).want(t, http.StatusBadRequest)
	e.h.post("/v1/behaviours", op, map[string]any{"records": []any{}, "extra": 1}).want(t, http.StatusBadRequest)
	big := make([]map[string]any, points.RecordsPerBatchMax+1)
	for i := range big {
		big[i] = pointsRecord("C1", "metro", "1", "km", e.start)
	}
	e.h.post("/v1/behaviours", op, map[string]any{"records": big}).want(t, http.StatusBadRequest, "limit_exceeded")

	// Replaying a batch with its key returns the first result.
	recs := map[string]any{"records": []any{pointsRecord("C1", "metro", "1", "km", e.start.Add(-time.Hour))}}
	first := e.h.post("/v1/behaviours", op, recs, withKey("batch-1")).want(t, http.StatusCreated)
	replay := e.h.post("/v1/behaviours", op, recs, withKey("batch-1")).want(t, http.StatusOK)
	pointsEq(t, "same body", string(replay.Body), string(first.Body))
	fresh := e.h.post("/v1/behaviours", op, recs).want(t, http.StatusCreated)
	pointsEq(t, "new key: duplicate", fresh.JSON["duplicates"], 1)
	pointsEq(t, "pending", e.me(t, "C1")["pending_points"], "211")

	for _, l := range []string{"/v1/rewards", "/v1/operators", "/v1/donation-pools", "/v1/programme-rules"} {
		e.h.get(l, e.citizen("C1")).want(t, http.StatusOK)
	}
	e.verify(t)
}

func TestPointsHTTPDonationAndClawback(t *testing.T) {
	e := newPointsEnv(t)
	res := e.report(t, "tanhui-app", pointsRecord("C2", "walking", "15000", "steps", e.start.Add(-time.Hour)))
	e.h.post("/v1/me/claims", e.citizen("C2"), map[string]any{}).want(t, http.StatusCreated)
	e.h.post("/v1/me/donations", e.citizen("C2"), map[string]any{"pool": "trees-2026", "points": "100"}).want(t, http.StatusCreated)
	pool := e.h.get("/v1/accounts/pool:trees-2026:CP", e.prov).want(t, http.StatusOK)
	pointsEq(t, "pool", pool.str("balance"), "100")

	cb := map[string]any{"citizen": "C2", "behaviours": []any{res[0]["behaviour_id"]}, "case_ref": "SD-FRAUD-7", "reason": "step counter emulator"}
	r := e.h.post("/v1/clawbacks", e.prov, cb).want(t, http.StatusCreated)
	pointsEq(t, "reversed", fmt.Sprint(r.str("reversed_available"), " ", r.str("shortfall_points")), "196 100")
	e.h.post("/v1/clawbacks", e.prov, cb).want(t, http.StatusConflict, "already_clawed_back")
	pointsEq(t, "available", e.me(t, "C2")["available_points"], "0")
	act := e.h.get("/v1/me/activity?limit=1", e.citizen("C2")).want(t, http.StatusOK)
	line := act.JSON["items"].([]any)[0].(map[string]any)
	pointsEq(t, "reversal line", fmt.Sprint(line["type"], " ", line["case_ref"]), "reversed SD-FRAUD-7")
	if act.str("next_cursor") == "" {
		t.Fatal("more lines expected")
	}
	e.verify(t)
}

// ---- identity: one real-world behaviour earns once (issue 10 part 1) ----

// pointsTrip is a record with an interval.
func pointsTrip(citizen, kind, qty, unit string, from, to time.Time) map[string]any {
	r := pointsRecord(citizen, kind, qty, unit, from)
	r["ended_at"] = to
	return r
}

// pointsDupOf asserts a duplicate result naming the first record.
func pointsDupOf(t *testing.T, res, first map[string]any, op string) {
	t.Helper()
	pointsWant(t, res, "duplicate", "duplicate", "0")
	d, _ := res["duplicate_of"].(map[string]any)
	if d == nil || d["behaviour_id"] != first["behaviour_id"] || d["operator"] != op || d["record_id"] != first["record_id"] {
		t.Fatalf("duplicate_of %v, want %v of %s (%v)", d, first["record_id"], op, first["behaviour_id"])
	}
}

// The cross-minute and remeasured reports of one trip, overlapping trips
// of two modes of the travel group, back-to-back trips and the steps of
// two apps, over HTTP; the activity names what each duplicate duplicated.
func TestPointsHTTPIdentity(t *testing.T) {
	e := newPointsEnv(t)
	e.h.post("/v1/operators", e.prov, map[string]any{"id": "maas-jinan", "name": "Jinan MaaS", "kinds": []string{"metro", "bus", "walking"}}).want(t, http.StatusCreated)
	e.h.post("/v1/me/entrustments", e.citizen("C1"), map[string]any{"operator": "maas-jinan"}).want(t, http.StatusCreated)
	d := e.day(1) // 10:00 China time, yesterday
	m := func(min, sec int) time.Time {
		return d.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
	}

	first := e.report(t, "metro-jinan", pointsTrip("C1", "metro", "5", "km", m(-1, 59), m(20, 0)))[0]
	pointsWant(t, first, "credited", "", "1055")
	pointsDupOf(t, e.report(t, "maas-jinan", pointsTrip("C1", "metro", "5", "km", m(0, 1), m(20, 2)))[0], first, "metro-jinan")
	pointsDupOf(t, e.report(t, "maas-jinan", pointsTrip("C1", "metro", "5.1", "km", m(0, 0), m(19, 55)))[0], first, "metro-jinan")
	// Another mode of the group, at the same time: one body, one vehicle.
	pointsDupOf(t, e.report(t, "maas-jinan", pointsTrip("C1", "bus", "4", "km", m(2, 0), m(18, 0)))[0], first, "metro-jinan")
	// Back to back: the bike is unlocked as the metro trip ends.
	pointsWant(t, e.report(t, "bikeshare-qd", pointsTrip("C1", "cycling", "3", "km", m(20, 0), m(35, 0)))[0], "credited", "", "180")
	pointsEq(t, "pending", e.me(t, "C1")["pending_points"], "1235")

	// Steps: the largest report of the day counts once; a larger one later
	// credits the difference and names the report it tops up.
	midnight := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, pointsCST)
	steps := e.report(t, "tanhui-app", pointsTrip("C1", "walking", "8000", "steps", midnight, d))[0]
	pointsWant(t, steps, "credited", "", "160")
	pointsDupOf(t, e.report(t, "maas-jinan", pointsTrip("C1", "walking", "7000", "steps", midnight, d.Add(time.Hour)))[0], steps, "tanhui-app")
	more := e.report(t, "maas-jinan", pointsTrip("C1", "walking", "10000", "steps", midnight.Add(time.Minute), d.Add(2*time.Hour)))[0]
	pointsWant(t, more, "credited", "", "40")
	pointsEq(t, "tops up", more["duplicate_of"].(map[string]any)["record_id"], steps["record_id"])
	pointsEq(t, "pending", e.me(t, "C1")["pending_points"], "1435")

	act := e.h.get("/v1/me/activity", e.citizen("C1")).want(t, http.StatusOK)
	var metro, topUp map[string]any
	for _, x := range act.JSON["items"].([]any) {
		for _, b := range x.(map[string]any)["behaviours"].([]any) {
			switch b := b.(map[string]any); {
			case b["record_id"] == first["record_id"]:
				metro = x.(map[string]any)
			case b["record_id"] == more["record_id"]:
				topUp = b
			}
		}
	}
	if metro == nil || topUp == nil {
		t.Fatalf("activity without the metro credit or the top-up: %s", act.Body)
	}
	bs := metro["behaviours"].([]any)
	pointsEq(t, "metro line behaviours", len(bs), 4)
	for _, x := range bs[1:] {
		b := x.(map[string]any)
		ref, _ := b["duplicate_of"].(map[string]any)
		if b["status"] != "duplicate" || b["operator"] != "maas-jinan" || ref == nil || ref["record_id"] != first["record_id"] || ref["operator"] != "metro-jinan" {
			t.Fatalf("duplicate in the activity: %v", b)
		}
	}
	pointsEq(t, "top-up names what it tops up", topUp["duplicate_of"].(map[string]any)["record_id"], steps["record_id"])
	// An interval ending before it starts is refused, record by record.
	pointsWant(t, e.report(t, "metro-jinan", pointsTrip("C1", "metro", "1", "km", m(0, 0), m(-5, 0)))[0], "rejected", "invalid_request", "0")
	e.verify(t)
}

// Two operators racing with overlapping trips of the same citizens, over
// HTTP: each citizen is credited once.
func TestPointsHTTPConcurrentOverlappingTrips(t *testing.T) {
	e := newPointsEnv(t)
	e.h.post("/v1/operators", e.prov, map[string]any{"id": "maas-jinan", "name": "Jinan MaaS", "kinds": []string{"bus"}}).want(t, http.StatusCreated)
	const n = 10
	for i := range n {
		c := fmt.Sprintf("R%02d", i)
		e.h.post("/v1/me/account", e.citizen(c), map[string]any{}).want(t, http.StatusCreated)
		for _, op := range []string{"metro-jinan", "maas-jinan"} {
			e.h.post("/v1/me/entrustments", e.citizen(c), map[string]any{"operator": op}).want(t, http.StatusCreated)
		}
	}
	d := e.day(1)
	tokens := []string{e.operator("metro-jinan"), e.operator("maas-jinan")}
	results := make([]*resp, 2*n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c := fmt.Sprintf("R%02d", i/2)
			rec := pointsTrip(c, "metro", "12", "km", d, d.Add(40*time.Minute))
			if i%2 == 1 {
				rec = pointsTrip(c, "bus", "12.3", "km", d.Add(3*time.Second), d.Add(39*time.Minute))
			}
			results[i] = e.h.post("/v1/behaviours", tokens[i%2], map[string]any{"records": []any{rec}})
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		got := map[any]int{}
		for _, r := range results[2*i : 2*i+2] {
			r.want(t, http.StatusCreated)
			got[r.JSON["results"].([]any)[0].(map[string]any)["status"]]++
		}
		if got["credited"] != 1 || got["duplicate"] != 1 {
			t.Fatalf("citizen R%02d: %v, want one credited and one duplicate", i, got)
		}
	}
	e.verify(t)
}

// The new fields are in the generated OpenAPI document.
func TestPointsOpenAPIIdentityFields(t *testing.T) {
	h := newHarness(t, false)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(h.get("/openapi.json", "").want(t, 200).Body, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, fields := range map[string][]string{
		"points_RecordResult":     {"duplicate_of"},
		"points_BehaviourView":    {"duplicate_of", "ended_at", "status"},
		"points_BehaviourRecord":  {"ended_at", "duration_seconds"},
		"points_RecordRef":        {"behaviour_id", "operator", "record_id"},
		"points_RulesInput":       {"overlap_tolerance_seconds", "exclusivity_groups", "daily_total_kinds"},
		"points_ProgrammeRules":   {"overlap_tolerance_seconds", "exclusivity_groups", "daily_total_kinds"},
		"points_ExclusivityGroup": {"name", "kinds"},
	} {
		for _, f := range fields {
			if doc.Components.Schemas[schema].Properties[f] == nil {
				t.Errorf("%s.%s missing from openapi.json", schema, f)
			}
		}
	}
}
