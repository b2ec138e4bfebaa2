package api

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

func TestPointsListsOverHTTP(t *testing.T) {
	e := newPointsEnv(t)
	h := e.h
	metro := e.operator("metro-jinan")
	bike := e.operator("bikeshare-qd")
	aud := h.token(ledger.RoleAuditor, "a-1", "", "")

	// C1: a metro trip credited and claimed, and the same trip again (a
	// duplicate); C2: a bus trip that lapses; C3 cycles with bike share.
	// C1 redeems a bus ticket (1,500) and donates 32 points.
	trip := e.day(1)
	first := pointsRecord("C1", "metro", "12", "km", trip)
	first["record_id"] = "metro-0001"
	pointsWant(t, e.report(t, "metro-jinan", first)[0], "credited", "", "2532")
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C1", "metro", "12", "km", trip.Add(10*time.Second)))[0], "duplicate", "", "0")
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C2", "bus", "5", "km", e.day(2)))[0], "credited", "", "1020")
	pointsWant(t, e.report(t, "bikeshare-qd", pointsRecord("C3", "cycling", "5", "km", e.day(2)))[0], "credited", "", "300")
	h.post("/v1/me/claims", e.citizen("C1"), map[string]any{}).want(t, http.StatusCreated)
	h.post("/v1/me/redemptions", e.citizen("C1"), map[string]any{"reward": "bus-ticket"}).want(t, http.StatusCreated)
	h.post("/v1/me/donations", e.citizen("C1"), map[string]any{"pool": "trees-2026", "points": "32"}).want(t, http.StatusCreated)

	// An operator's own records, by its record id or a time range.
	if it := h.wantItems("/v1/behaviours?record_id=metro-0001", metro, 1); it[0]["status"] != "credited" || it[0]["grams"] != "2532" ||
		it[0]["claim_state"] != "claimed" || it[0]["methodology"] != "metro-km.v1" || it[0]["citizen"] != "C1" {
		t.Fatalf("record: %v", it)
	}
	h.wantItems("/v1/behaviours", metro, 3)
	if it := h.wantItems("/v1/behaviours", bike, 1); it[0]["kind"] != "cycling" || it[0]["grams"] != "300" {
		t.Fatalf("bike: %v", it)
	}
	if it := h.wantItems("/v1/behaviours?status=duplicate", aud, 1); it[0]["duplicate_of"] == nil || it[0]["grams"] != "0" {
		t.Fatalf("duplicate: %v", it)
	}
	h.wantItems("/v1/behaviours?record_id=metro-0001", bike, 0)
	h.wantItems("/v1/behaviours?operator=metro-jinan", bike, 0)
	since := url.QueryEscape(trip.Add(-time.Minute).UTC().Format(time.RFC3339))
	h.wantItems("/v1/behaviours?since="+since, metro, 2)
	h.wantItems("/v1/behaviours?until="+since, metro, 1)
	h.wantItems("/v1/behaviours?citizen=C2&kind=bus", e.prov, 1)
	if got := h.pageAll("/v1/behaviours?limit=1", aud, "behaviour_id"); len(got) != 4 {
		t.Fatalf("record pages: %v", got)
	}
	h.get("/v1/behaviours", e.citizen("C1")).want(t, http.StatusForbidden, "forbidden")
	h.get("/v1/behaviours?status=rejected", metro).want(t, http.StatusBadRequest, "invalid_request")
	h.get("/v1/behaviours?since=2025-13-01", metro).want(t, http.StatusBadRequest, "invalid_request")

	// C2's credit lapses; the statistics count what became of each day's credits.
	h.advance(7*24*time.Hour + time.Minute)
	e.runJob(t, "expire-points")
	st := h.get("/v1/points/stats?from="+points.Day(e.day(3))+"&to="+points.Day(e.start), aud).want(t, http.StatusOK)
	got := map[string]string{}
	for _, r := range st.JSON["rows"].([]any) {
		row := r.(map[string]any)
		got[row["measure"].(string)+"/"+row["operator"].(string)+"/"+row["kind"].(string)] = row["points"].(string)
	}
	for k, want := range map[string]string{
		"credited/metro-jinan/metro": "2532", "claimed/metro-jinan/metro": "2532", "credited/metro-jinan/bus": "1020",
		"lapsed/metro-jinan/bus": "1020", "redeemed//": "1500", "donated//": "32",
	} {
		if got[k] != want {
			t.Errorf("stats %s = %q, want %s: %s", k, got[k], want, st.Body)
		}
	}
	// An operator its own, without the lots' movements.
	own := h.get("/v1/points/stats?group=month&from="+points.Day(e.day(3))+"&to="+points.Day(e.start), bike).want(t, http.StatusOK)
	for _, r := range own.JSON["rows"].([]any) {
		if row := r.(map[string]any); row["operator"] != "bikeshare-qd" || row["kind"] != "cycling" || len(row["period"].(string)) != 7 {
			t.Fatalf("bike's stats: %s", own.Body)
		}
	}
	if len(own.JSON["rows"].([]any)) != 2 { // C3's 300 points, credited and (unclaimed) lapsed
		t.Fatalf("bike's stats: %s", own.Body)
	}
	h.get("/v1/points/stats?operator=metro-jinan", bike).want(t, http.StatusForbidden, "forbidden")
	// Statistics are heavy (a few per second per principal): another auditor asks the rest.
	aud2 := h.token(ledger.RoleAuditor, "a-2", "", "")
	h.get("/v1/points/stats?group=week", aud2).want(t, http.StatusBadRequest, "invalid_request")
	h.get("/v1/points/stats?from=2025-02-30", aud2).want(t, http.StatusBadRequest, "invalid_request")
	h.get("/v1/points/stats?from=2020-01-01&to=2025-01-01", aud2).want(t, http.StatusBadRequest, "invalid_request")
	csvResp := h.do("GET", "/v1/points/stats?kind=metro&from="+points.Day(e.day(3))+"&to="+points.Day(e.start), h.token(ledger.RoleAuditor, "a-3", "", ""), nil, withHeader("Accept", "text/csv")).want(t, http.StatusOK)
	recs, err := csv.NewReader(strings.NewReader(string(csvResp.Body))).ReadAll()
	if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != "period,operator,kind,methodology,measure,points,records" {
		t.Fatalf("csv: %v %q", err, csvResp.Body)
	}
	e.verify(t)
}

func TestEngineListsOverHTTP(t *testing.T) {
	e := newPointsEnv(t)
	h := e.h
	aud := h.token(ledger.RoleAuditor, "a-1", "", "")
	c1 := e.citizen("C1")
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C1", "metro", "12", "km", e.day(1)))[0], "credited", "", "2532")
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C2", "bus", "5", "km", e.day(1)))[0], "credited", "", "1020")
	h.post("/v1/me/claims", c1, map[string]any{}).want(t, http.StatusCreated)

	// Accounts: a citizen sees its own two; oversight filters every account.
	if it := h.wantItems("/v1/accounts", c1, 2); it[0]["id"] != "citizen:C1:CP:available" || it[0]["balance"] != "2532" {
		t.Fatalf("C1's accounts: %v", it)
	}
	h.wantItems("/v1/accounts?owner=citizen:C2", c1, 0)
	h.wantItems("/v1/accounts?owner_type=citizen&type=pending", aud, 3) // the seeded C1, C2, C3
	h.wantItems("/v1/accounts?owner=citizen:C2&asset=CP", e.prov, 2)
	h.wantItems("/v1/accounts?owner_type=operator&asset=CO2E", aud, 2) // the metro and bus pools
	h.wantItems("/v1/accounts?status=frozen", aud, 0)
	if got := h.pageAll("/v1/accounts?owner_type=citizen&limit=1", aud, "id"); len(got) != 6 {
		t.Fatalf("account pages: %v", got)
	}
	h.get("/v1/accounts?asset=GOLD", aud).want(t, http.StatusBadRequest, "invalid_request")
	h.get("/v1/accounts?status=open", aud).want(t, http.StatusBadRequest, "invalid_request")
	h.get("/v1/accounts?owner_type=alien", aud).want(t, http.StatusBadRequest, "invalid_request")

	// Transactions: a citizen sees those on its accounts, with only their postings.
	it := h.wantItems("/v1/transactions", c1, 2)
	for _, tx := range it {
		if tx["actor"] != "" {
			t.Fatalf("a citizen sees the actor: %v", tx)
		}
		for _, p := range tx["postings"].([]any) {
			if acct := p.(map[string]any)["account"].(string); !strings.HasPrefix(acct, "citizen:C1:") {
				t.Fatalf("C1 sees %s", acct)
			}
		}
	}
	h.wantItems("/v1/transactions?account=citizen:C2:CP:pending", c1, 0)
	h.wantItems("/v1/transactions?account=citizen:C1:CP:available", c1, 1)
	all := h.get("/v1/transactions", aud).want(t, http.StatusOK).items(t)
	kind, _ := all[0]["kind"].(string)
	if kind == "" || all[0]["actor"] == "" || len(all) < 3 {
		t.Fatalf("auditor's journal: %v", all)
	}
	for _, tx := range h.get("/v1/transactions?kind="+url.QueryEscape(kind), aud).want(t, http.StatusOK).items(t) {
		if tx["kind"] != kind {
			t.Fatalf("kind filter: %v", tx)
		}
	}
	actor, _ := all[0]["actor"].(string)
	n := 0
	for _, tx := range all {
		if tx["actor"] == actor && tx["kind"] == kind {
			n++
		}
	}
	h.wantItems("/v1/transactions?actor="+url.QueryEscape(actor)+"&kind="+url.QueryEscape(kind), aud, n)
	future := url.QueryEscape(time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339))
	h.wantItems("/v1/transactions?since="+future, aud, 0)
	if got := h.pageAll("/v1/transactions?limit=1&account=citizen:C1:CP:pending", c1, "id"); len(got) != 2 {
		t.Fatalf("transaction pages: %v", got)
	}
	h.get("/v1/transactions?actor=province:x", c1).want(t, http.StatusForbidden, "forbidden")
	h.get("/v1/transactions?account=nope", aud).want(t, http.StatusBadRequest, "invalid_request")
	h.get("/v1/transactions", "").want(t, http.StatusUnauthorized, "unauthorized")
	e.verify(t)
}
