package api

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// quotaHarness is a harness on a fresh, seeded database (reserves are
// global), with the tokens of the two-high scenario.
type quotaHarness struct {
	*harness
	prov, prov2, city3704, city3709, n1corp, other, aud string
}

func newQuotaHarness(t *testing.T) *quotaHarness {
	t.Helper()
	h := newHarness(t, true)
	if err := quota.Seed(context.Background(), h.l); err != nil {
		t.Fatal(err)
	}
	return &quotaHarness{harness: h,
		prov:     h.token(ledger.RoleProvince, "p-alice", "", ""),
		prov2:    h.token(ledger.RoleProvince, "p-bob", "", ""),
		city3704: h.token(ledger.RoleCity, "zaozhuang-1", "", "3704"),
		city3709: h.token(ledger.RoleCity, "taian-1", "", "3709"),
		n1corp:   h.token(ledger.RoleEnterprise, "n1-user", "n1corp", ""),
		other:    h.token(ledger.RoleEnterprise, "x-user", "othercorp", ""),
		aud:      h.token(ledger.RoleAuditor, "aud-1", "", ""),
	}
}

// fundOrg deposits yuan into an organisation's CNY account.
func (h *quotaHarness) fundOrg(t *testing.T, org, yuan string) {
	t.Helper()
	acct := ledger.OrgMoneyAccount(org)
	if err := h.l.EnsureAccounts(context.Background(), "external:CNY", acct); err != nil {
		t.Fatal(err)
	}
	amt := decimal.RequireFromString(yuan)
	h.post("/v1/transactions", h.prov, map[string]any{"kind": "deposit", "postings": []map[string]string{
		{"account": "external:CNY", "amount": amt.Neg().StringFixed(2)}, {"account": acct, "amount": amt.StringFixed(2)}}}).want(t, 201)
}

func (h *quotaHarness) cityApprovedApp(t *testing.T, project, sector, emissions, own, requested string) string {
	t.Helper()
	body := map[string]any{"project": project, "city": "3709", "sector": sector, "emissions": emissions, "own_sources": own, "requested": requested}
	if own != "0" {
		body["own_sources_ref"] = "own-" + project
	}
	id := h.post("/v1/quota/applications", h.n1corp, body).want(t, 201).str("id")
	h.post("/v1/quota/applications/"+id+"/review", h.city3709, map[string]any{"approve": true, "reason": "filed with the city"}).want(t, 201)
	return id
}

func (h *quotaHarness) quotaClean(t *testing.T) {
	t.Helper()
	h.verifyClean()
	// The quota checks and every trail chain, as `carbonledger verify` runs them.
	if rep, err := h.l.VerifyAll(context.Background(), []ledger.UseCase{quota.UseCase}); err != nil || !rep.OK {
		t.Fatalf("quota verify: %+v %v", rep, err)
	}
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func arr(v any) []any          { a, _ := v.([]any); return a }

func (h *quotaHarness) balance(t *testing.T, account string) string {
	t.Helper()
	return h.get("/v1/accounts/"+account, h.aud).want(t, 200).str("balance")
}

// TestQuotaTwoHighOverHTTP is DOMAIN.md §7 "Two-high" through the API.
func TestQuotaTwoHighOverHTTP(t *testing.T) {
	h := newQuotaHarness(t)
	h.fundOrg(t, "n1corp", "100000000.00")

	// The city of the closure proposes; only the province recognises.
	src := h.post("/v1/quota/sources", h.city3704, map[string]any{"city": "3704", "enterprise": "zz-coking", "route": "closure",
		"tonnes": "1000000", "formed_on": "2022-06-30", "evidence_ref": "ZZ-EEB-2022-017", "reason": "coke ovens demolished"}).want(t, 201)
	srcID := src.str("id")
	if src.str("status") != "proposed" || src.str("tonnes") != "1000000" {
		t.Fatalf("source %s", src.Body)
	}
	h.post("/v1/quota/sources/"+srcID+"/approval", h.city3704, map[string]any{"approve": true, "reason": "mine"}).want(t, 403, "forbidden")
	h.post("/v1/quota/sources/"+srcID+"/approval", h.prov, map[string]any{"approve": true, "reason": "evidence checked"}).want(t, 201)
	if b := h.balance(t, "enterprise:zz-coking:CEI:source"); b != "1000000" {
		t.Fatalf("source balance %s", b)
	}

	sp := h.post("/v1/quota/stockpilings", h.prov, map[string]any{"source_id": srcID, "reason": "收储 batch 1"}).want(t, 201)
	if sp.str("province_tonnes") != "500000" || sp.str("city_tonnes") != "500000" || sp.str("split_province_percent") != "50" {
		t.Fatalf("stockpiling %s", sp.Body)
	}

	app := h.post("/v1/quota/applications", h.n1corp, map[string]any{"project": "N1", "city": "3709", "sector": "steel",
		"emissions": "800000", "own_sources": "400000", "own_sources_ref": "N1-own", "requested": "800000", "reason": "new line"}).want(t, 201)
	appID := app.str("id")
	if app.str("required") != "1200000" || app.str("gap") != "800000" || app.str("coefficient") != "1.5" || app.str("status") != "submitted" {
		t.Fatalf("application %s", app.Body)
	}
	h.post("/v1/quota/applications/"+appID+"/review", h.city3704, map[string]any{"approve": true, "reason": "x"}).want(t, 403, "forbidden")
	h.post("/v1/quota/applications/"+appID+"/review", h.city3709, map[string]any{"approve": true, "reason": "filed"}).want(t, 201)
	decision := map[string]any{"approve": true, "paid": true, "reason": "reallocation approved",
		"draws": []map[string]string{{"reserve": "province", "tonnes": "500000"}, {"reserve": "3704", "tonnes": "300000"}}}
	h.post("/v1/quota/applications/"+appID+"/decision", h.city3709, decision).want(t, 403, "forbidden")
	dec := h.post("/v1/quota/applications/"+appID+"/decision", h.prov, decision, withKey("n1-decision")).want(t, 201)
	al := obj(dec.JSON["allocation"])
	if dec.str("status") != "approved" || al["tonnes"] != "800000" || al["amount_cny"] != "40000000.00" || al["price_yuan_per_tonne"] != "50.00" {
		t.Fatalf("decision %s", dec.Body)
	}
	allocID, _ := al["id"].(string)
	replay := h.post("/v1/quota/applications/"+appID+"/decision", h.prov, decision, withKey("n1-decision")).want(t, 200)
	if replay.Header.Get("Idempotent-Replayed") != "true" || obj(replay.JSON["allocation"])["id"] != allocID {
		t.Fatalf("replay %s", replay.Body)
	}
	h.post("/v1/quota/applications/"+appID+"/decision", h.prov, map[string]any{"approve": false, "reason": "x"}, withKey("n1-decision")).want(t, 409, "idempotency_conflict")
	for acct, want := range map[string]string{
		"province:CEI:reserve": "0", "city:3704:CEI:reserve": "200000", "project:N1:CEI:allocated": "800000",
		"org:n1corp:CNY": "60000000.00", "province:CNY:revenue": "40000000.00",
	} {
		if got := h.balance(t, acct); got != want {
			t.Errorf("%s = %s, want %s", acct, got, want)
		}
	}
	h.quotaClean(t)

	// A further 300,000 fails: 200,000 left, and nothing moves.
	n2 := h.cityApprovedApp(t, "N2", "cement", "200000", "0", "300000")
	fail := h.post("/v1/quota/applications/"+n2+"/decision", h.prov2, map[string]any{"approve": true, "paid": true, "reason": "try",
		"draws": []map[string]string{{"reserve": "3704", "tonnes": "300000"}}}).want(t, 409, "insufficient_reserve")
	if obj(fail.JSON["extra"])["available"] != "200000" {
		t.Fatalf("problem %s", fail.Body)
	}
	if got := h.get("/v1/quota/applications/"+n2, h.prov).want(t, 200); got.str("status") != "city_approved" || got.JSON["allocation"] != nil {
		t.Fatalf("after failure %s", got.Body)
	}
	if b := h.balance(t, "city:3704:CEI:reserve"); b != "200000" {
		t.Fatalf("reserve moved: %s", b)
	}

	// A 1,200,000 request goes to the provincial government.
	n3 := h.cityApprovedApp(t, "N3", "coking", "800000", "0", "1200000")
	esc := h.post("/v1/quota/applications/"+n3+"/decision", h.prov, map[string]any{"approve": true, "reason": "to 省政府"}).want(t, 201)
	if esc.str("status") != "awaiting_government" || esc.JSON["escalated"] != true || esc.str("threshold") != "1000000" {
		t.Fatalf("escalation %s", esc.Body)
	}
	h.post("/v1/quota/applications/"+n3+"/government-approval", h.city3709, map[string]any{"approve": true, "document_ref": "d", "reason": "x"}).want(t, 403)
	gov := h.post("/v1/quota/applications/"+n3+"/government-approval", h.prov, map[string]any{"approve": true, "document_ref": "鲁政字〔2025〕88号", "reason": "approved"}).want(t, 201)
	if gov.str("status") != "government_approved" {
		t.Fatalf("government %s", gov.Body)
	}
	h.post("/v1/quota/applications/"+n3+"/decision", h.prov, map[string]any{"approve": true, "reason": "allocate",
		"draws": []map[string]string{{"reserve": "3704", "tonnes": "1200000"}}}).want(t, 409, "insufficient_reserve")

	// An enterprise sees only its own applications; the owner sees the full trail.
	h.get("/v1/quota/applications/"+appID, h.other).want(t, 404, "not_found")
	if items := arr(h.get("/v1/quota/applications", h.other).want(t, 200).JSON["items"]); len(items) != 0 {
		t.Fatalf("other enterprise lists %d applications", len(items))
	}
	if items := arr(h.get("/v1/quota/applications?limit=2", h.n1corp).want(t, 200).JSON["items"]); len(items) != 2 {
		t.Fatalf("owner lists %d applications", len(items))
	}
	mine := h.get("/v1/quota/applications/"+appID, h.n1corp).want(t, 200)
	tr := arr(mine.JSON["trail"])
	if len(tr) != 3 {
		t.Fatalf("trail %s", mine.Body)
	}
	for i, want := range []string{"application.submitted", "application.city_approved", "application.approved"} {
		if e := obj(tr[i]); e["action"] != want || e["reason"] == "" || e["at"] == "" || e["actor"] == "" {
			t.Fatalf("trail[%d] %v", i, e)
		}
	}
	if lin := arr(obj(mine.JSON["allocation"])["lineage"]); len(lin) != 2 || obj(lin[0])["source_id"] != srcID || obj(lin[0])["route"] != "closure" {
		t.Fatalf("lineage %v", lin)
	}

	// Reserves and report, as JSON and CSV.
	res := h.get("/v1/quota/reserves", h.aud).want(t, 200)
	rows := arr(res.JSON["rows"])
	if len(rows) != 17 || obj(rows[0])["reserve"] != "province" || obj(rows[0])["allocated"] != "500000" {
		t.Fatalf("reserves %s", res.Body)
	}
	if tot := obj(res.JSON["total"]); tot["in_reserve"] != "200000" || tot["allocated"] != "800000" {
		t.Fatalf("total %v", tot)
	}
	csvRes := h.do("GET", "/v1/quota/reserves", h.aud, nil, withHeader("Accept", "text/csv"))
	if csvRes.Status != 200 || !strings.HasPrefix(csvRes.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv %d %s", csvRes.Status, csvRes.Header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(string(csvRes.Body))).ReadAll()
	if err != nil || len(recs) != 19 || recs[0][0] != "reserve" || recs[2][0] != "3701" || recs[18][0] != "total" {
		t.Fatalf("reserves csv %v %v", recs, err)
	}

	// Commissioning consumes N1; a consumed allocation cannot be recovered.
	h.post("/v1/quota/allocations/"+allocID+"/consumption", h.prov, map[string]any{"commissioned_on": "2025-03-12", "reason": "commissioned"}).want(t, 201)
	h.post("/v1/quota/allocations/"+allocID+"/recovery", h.prov, map[string]any{"cause": "cancelled", "reason": "x"}).want(t, 409, "conflict")
	if b := h.balance(t, "province:CEI:consumed"); b != "800000" {
		t.Fatalf("consumed %s", b)
	}

	rep := h.get("/v1/quota/report?period=year", h.city3704).want(t, 200)
	flows := map[string]string{}
	for _, r := range arr(rep.JSON["rows"]) {
		m := obj(r)
		flows[m["flow"].(string)+"/"+m["reserve"].(string)] = m["tonnes"].(string)
	}
	for k, want := range map[string]string{"recognised/": "1000000", "stockpiled/province": "500000", "stockpiled/3704": "500000",
		"allocated/province": "500000", "allocated/3704": "300000", "consumed/province": "500000", "consumed/3704": "300000"} {
		if flows[k] != want {
			t.Errorf("flow %s = %q, want %s (%v)", k, flows[k], want, flows)
		}
	}
	flowCSV := h.do("GET", "/v1/quota/report?route=closure", h.city3704, nil, withHeader("Accept", "text/csv, application/json;q=0.5"))
	if flowCSV.Status != 200 || !strings.HasPrefix(string(flowCSV.Body), "period,flow,reserve,source_city,route,project_city,sector,tonnes,amount_cny,movements") {
		t.Fatalf("flow csv %d %s", flowCSV.Status, flowCSV.Body)
	}
	lin := h.get("/v1/quota/report?level=lineage&allocation_id="+allocID, h.city3704).want(t, 200)
	if l := arr(lin.JSON["lineage"]); len(l) != 2 || obj(l[1])["reserve"] != "3704" || obj(l[1])["source_id"] != srcID || !strings.HasPrefix(obj(l[1])["path"].(string), "stockpiling:") {
		t.Fatalf("lineage report %s", lin.Body)
	}
	h.get("/v1/quota/report?level=everything", h.aud).want(t, 400, "invalid_request")
	h.quotaClean(t)
}

// TestQuotaRolesAndRefusalsOverHTTP: role checks, refusals and corrections
// through the API.
func TestQuotaRolesAndRefusalsOverHTTP(t *testing.T) {
	h := newQuotaHarness(t)
	source := map[string]any{"city": "3704", "enterprise": "zz-steel", "route": "excess_capacity_cut", "tonnes": "100000", "formed_on": "2020-12-31", "evidence_ref": "E-1"}
	h.post("/v1/quota/sources", h.city3704, source).want(t, 422, "formed_before_cutoff")
	nanjing := h.token(ledger.RoleCity, "nj-1", "", "3201")
	source["formed_on"], source["city"] = "2023-04-01", "3201"
	h.post("/v1/quota/sources", nanjing, source).want(t, 422, "outside_shandong")
	source["city"] = "3704"
	h.post("/v1/quota/sources", h.city3709, source).want(t, 403, "forbidden")
	h.post("/v1/quota/sources", h.n1corp, source).want(t, 403, "forbidden")
	h.post("/v1/quota/sources", "", source).want(t, 401, "unauthorized")
	h.post("/v1/quota/sources", h.city3704, source, withoutKey()).want(t, 400, "idempotency_key_required")
	h.post("/v1/quota/sources", h.city3704, map[string]any{"city": "3704", "tonnes": 100000}).want(t, 400, "invalid_request")
	h.post("/v1/quota/sources", h.city3704, map[string]any{"city": "3704", "surprise": true}).want(t, 400, "invalid_request")
	srcID := h.post("/v1/quota/sources", h.city3704, source).want(t, 201).str("id")
	h.post("/v1/quota/sources", h.city3704, source).want(t, 422, "duplicate_source")
	h.post("/v1/quota/sources/not-a-uuid/approval", h.prov, map[string]any{"approve": true, "reason": "x"}).want(t, 404)
	h.post("/v1/quota/sources/"+srcID+"/approval", h.prov, map[string]any{"approve": true, "reason": "ok"}).want(t, 201)
	h.post("/v1/quota/stockpilings", h.city3704, map[string]any{"source_id": srcID, "reason": "x"}).want(t, 403)
	h.post("/v1/quota/stockpilings", h.prov, map[string]any{"source_id": srcID, "reason": "all"}).want(t, 201)

	// Who sees what.
	h.get("/v1/quota/sources/"+srcID, h.city3709).want(t, 404, "not_found")
	if got := h.get("/v1/quota/sources/"+srcID, h.city3704).want(t, 200); len(arr(got.JSON["trail"])) != 3 {
		t.Fatalf("source trail %s", got.Body)
	}
	if items := arr(h.get("/v1/quota/sources", h.city3709).want(t, 200).JSON["items"]); len(items) != 0 {
		t.Fatalf("3709 lists 3704's sources: %v", items)
	}
	h.get("/v1/quota/reserves", h.n1corp).want(t, 403, "forbidden")
	h.get("/v1/quota/report", h.other).want(t, 403, "forbidden")
	h.get("/v1/quota/corrections/"+srcID, h.city3704).want(t, 403, "forbidden")

	// Transfers are the province's.
	h.post("/v1/quota/transfers", h.city3704, map[string]any{"from": "3704", "to": "3701", "tonnes": "1000", "reason": "x"}).want(t, 403)
	tr := h.post("/v1/quota/transfers", h.prov, map[string]any{"from": "3704", "to": "3701", "tonnes": "20000", "reason": "Jinan needs it"}).want(t, 201)
	if tr.str("tonnes") != "20000" || len(arr(tr.JSON["sources"])) != 1 {
		t.Fatalf("transfer %s", tr.Body)
	}
	h.post("/v1/quota/transfers", h.prov, map[string]any{"from": "3704", "to": "3701", "tonnes": "30001", "reason": "x"}).want(t, 409, "insufficient_reserve")

	// Maker-checker.
	c := h.post("/v1/quota/corrections", h.prov, map[string]any{"source_id": srcID, "holder": "3701", "delta": "-5000", "reason": "re-measured"}).want(t, 201)
	cID := c.str("id")
	h.post("/v1/quota/corrections/"+cID+"/approval", h.prov, map[string]any{"approve": true, "reason": "self"}).want(t, 403, "maker_checker")
	h.post("/v1/quota/corrections/"+cID+"/approval", h.city3704, map[string]any{"approve": true, "reason": "x"}).want(t, 403)
	ok := h.post("/v1/quota/corrections/"+cID+"/approval", h.prov2, map[string]any{"approve": true, "reason": "checked"}).want(t, 201)
	if ok.str("status") != "applied" || ok.str("decided_by") != "province:p-bob" {
		t.Fatalf("correction %s", ok.Body)
	}
	h.post("/v1/quota/corrections/"+cID+"/approval", h.prov2, map[string]any{"approve": true, "reason": "again"}).want(t, 409, "conflict")
	if got := h.get("/v1/quota/corrections/"+cID, h.aud).want(t, 200); len(arr(got.JSON["trail"])) != 2 {
		t.Fatalf("correction trail %s", got.Body)
	}
	if b := h.balance(t, "city:3701:CEI:reserve"); b != "15000" {
		t.Fatalf("3701 reserve %s", b)
	}

	// Configuration: anyone authenticated reads it, the province publishes.
	cfg := h.get("/v1/quota/config", h.n1corp).want(t, 200)
	if len(arr(cfg.JSON["items"])) < 4 {
		t.Fatalf("config %s", cfg.Body)
	}
	h.post("/v1/quota/config", h.city3704, map[string]any{"kind": "split", "value": "60", "valid_from": "2099-01-01T00:00:00Z", "source_doc": "d", "reason": "x"}).want(t, 403)
	h.post("/v1/quota/config", h.prov, map[string]any{"kind": "split", "value": "160", "valid_from": "2099-01-01T00:00:00Z", "source_doc": "d", "reason": "x"}).want(t, 400, "invalid_request")
	h.post("/v1/quota/config", h.prov, map[string]any{"kind": "split", "value": "60", "valid_from": "2099-01-01T00:00:00Z", "source_doc": "鲁环发〔2099〕1号", "reason": "future split"}).want(t, 201)
	h.quotaClean(t)
}
