package api

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// kindSource proposes (by city), recognises and stockpiles a source of one
// index kind through the kind's routes, and returns its id.
func (h *quotaHarness) kindSource(t *testing.T, cityTok, city, kind, ent, route, tonnes, evidence string) string {
	t.Helper()
	body := map[string]any{"city": city, "enterprise": ent, "route": route, "tonnes": tonnes, "formed_on": "2024-06-30", "evidence_ref": evidence}
	if route == "key_reduction_work" {
		body["work"], body["verification_ref"] = "重点减排工程 "+evidence, "ver-"+evidence
	}
	src := h.post("/v1/indices/"+kind+"/sources", cityTok, body).want(t, 201)
	if src.str("index_kind") != kind || src.str("status") != "proposed" {
		t.Fatalf("source %s", src.Body)
	}
	id := src.str("id")
	h.post("/v1/quota/sources/"+id+"/approval", h.prov, map[string]any{"approve": true, "reason": "verified"}).want(t, 201)
	sp := h.post("/v1/indices/"+kind+"/stockpilings", h.prov, map[string]any{"source_id": id, "reason": "收储"}).want(t, 201)
	if sp.str("index_kind") != kind {
		t.Fatalf("stockpiling %s", sp.Body)
	}
	return id
}

// wantBalances reads accounts through the API; an account never opened
// holds 0.
func (h *quotaHarness) wantBalances(t *testing.T, want map[string]string) {
	t.Helper()
	for acct, w := range want {
		got := "0"
		if r := h.get("/v1/accounts/"+acct, h.aud); r.Status != 404 {
			got = r.want(t, 200).str("balance")
		}
		if got != w {
			t.Errorf("%s = %s, want %s", acct, got, w)
		}
	}
}

// reader is a fresh auditor: the reports are rate-limited per principal
// as full scans, and a test reads many.
func (h *quotaHarness) reader() string {
	return h.token(ledger.RoleAuditor, "aud-"+uuid.NewString(), "", "")
}

// TestPollutantBundleScenarioOverHTTP is DOMAIN.md §7 "Pollutant totals"
// (the numbers of TestPollutantBundleScenario) through the API: sources of
// NOX, VOCS and CEI in Zibo (3703), one bundle for P-CHEM, VOCS short →
// nothing of any kind allocated, enough → all three in one transaction,
// the project moves to Tai'an (3709) and its lineage still traces every
// tonne of every kind to its 3703 source.
func TestPollutantBundleScenarioOverHTTP(t *testing.T) {
	h := newQuotaHarness(t)
	city3703 := h.token(ledger.RoleCity, "zibo-1", "", "3703")
	qilu := h.token(ledger.RoleEnterprise, "qilu-user", "qilu-chem", "")
	srcs := map[string]string{
		"NOX":  h.kindSource(t, city3703, "3703", "NOX", "zibo-glass", "key_reduction_work", "400", "scr-2024"),
		"VOCS": h.kindSource(t, city3703, "3703", "VOCS", "zibo-paint", "key_reduction_work", "300", "voc-2024"),
		"CEI":  h.kindSource(t, city3703, "3703", "CEI", "zibo-coke", "closure", "100000", "close-2024"),
	}
	h.wantBalances(t, map[string]string{"province:NOX:reserve": "200", "city:3703:NOX:reserve": "200", "city:3703:VOCS:reserve": "150",
		"province:CEI:reserve": "50000", "city:3703:CEI:reserve": "50000"})

	bd := h.post("/v1/quota/bundles", qilu, map[string]any{"project": "P-CHEM", "city": "3703", "sector": "basic_chemicals", "reason": "new plant",
		"lines": []map[string]string{{"index_kind": "NOX", "emissions": "150", "requested": "300"}, {"index_kind": "VOCS", "emissions": "120", "requested": "240"},
			{"index_kind": "CEI", "emissions": "50000", "requested": "60000"}}}).want(t, 201)
	bundleID := bd.str("bundle_id")
	apps := arr(bd.JSON["applications"])
	if len(apps) != 3 {
		t.Fatalf("bundle %s", bd.Body)
	}
	for _, a := range apps {
		m := obj(a)
		want := map[string][2]string{"CEI": {"60000", "1.2"}, "NOX": {"300", "2"}, "VOCS": {"240", "2"}}[m["index_kind"].(string)]
		if m["required"] != want[0] || m["coefficient"] != want[1] || m["status"] != "submitted" || m["bundle_id"] != bundleID {
			t.Fatalf("application %v", m)
		}
	}
	h.post("/v1/quota/bundles/"+bundleID+"/review", h.city3709, map[string]any{"approve": true, "reason": "x"}).want(t, 403, "forbidden")
	h.post("/v1/quota/bundles/"+bundleID+"/review", city3703, map[string]any{"approve": true, "reason": "filed"}).want(t, 201)

	draws := func(vocs []map[string]string) map[string]any {
		return map[string]any{"approve": true, "reason": "reallocation approved", "draws": map[string]any{
			"NOX":  []map[string]string{{"reserve": "province", "tonnes": "200"}, {"reserve": "3703", "tonnes": "100"}},
			"VOCS": vocs,
			"CEI":  []map[string]string{{"reserve": "province", "tonnes": "50000"}, {"reserve": "3703", "tonnes": "10000"}},
		}}
	}
	// VOCS short in the province (150 t): nothing of any kind moves.
	short := h.post("/v1/quota/bundles/"+bundleID+"/decision", h.prov, draws([]map[string]string{{"reserve": "province", "tonnes": "240"}})).want(t, 409, "insufficient_reserve")
	if x := obj(short.JSON["extra"]); x["index_kind"] != "VOCS" || x["available"] != "150" {
		t.Fatalf("short decision %s", short.Body)
	}
	h.wantBalances(t, map[string]string{"project:P-CHEM:NOX:allocated": "0", "project:P-CHEM:VOCS:allocated": "0", "project:P-CHEM:CEI:allocated": "0",
		"province:NOX:reserve": "200", "province:CEI:reserve": "50000"})
	if got := h.get("/v1/quota/bundles/"+bundleID, h.aud).want(t, 200); obj(arr(got.JSON["applications"])[0])["status"] != "city_approved" {
		t.Fatalf("after the short decision %s", got.Body)
	}
	h.quotaClean(t)

	ok := h.post("/v1/quota/bundles/"+bundleID+"/decision", h.prov, draws([]map[string]string{{"reserve": "province", "tonnes": "150"}, {"reserve": "3703", "tonnes": "90"}})).want(t, 201)
	txs := map[string]bool{}
	for _, a := range arr(ok.JSON["applications"]) {
		m := obj(a)
		al := obj(m["allocation"])
		if m["status"] != "approved" || al["tonnes"] != m["requested"] || al["index_kind"] != m["index_kind"] {
			t.Fatalf("allocated %v", m)
		}
		txs[al["transaction_id"].(string)] = true
	}
	if len(txs) != 3 {
		t.Fatalf("one engine transaction per kind, got %v", txs)
	}
	h.wantBalances(t, map[string]string{"project:P-CHEM:NOX:allocated": "300", "project:P-CHEM:VOCS:allocated": "240", "project:P-CHEM:CEI:allocated": "60000",
		"city:3703:VOCS:reserve": "60", "city:3703:NOX:reserve": "100", "city:3703:CEI:reserve": "40000", "province:VOCS:reserve": "0"})
	h.quotaClean(t)

	// The project moves to Tai'an (3709); its quota follows it. The rule
	// in force ([ill] 0) settles no reserve.
	h.post("/v1/quota/projects/P-CHEM/move", h.city3709, map[string]any{"to_city": "3709", "reason": "x"}).want(t, 403, "forbidden")
	h.post("/v1/quota/projects/NO-SUCH/move", h.prov, map[string]any{"to_city": "3709", "reason": "x"}).want(t, 404, "not_found")
	mv := h.post("/v1/quota/projects/P-CHEM/move", h.prov, map[string]any{"to_city": "3709", "reason": "site moved"}).want(t, 201)
	if mv.str("from_city") != "3703" || mv.str("to_city") != "3709" || len(arr(mv.JSON["settlements"])) != 0 {
		t.Fatalf("move %s", mv.Body)
	}
	after := h.get("/v1/quota/bundles/"+bundleID, qilu).want(t, 200)
	for _, a := range arr(after.JSON["applications"]) {
		m := obj(a)
		kind := m["index_kind"].(string)
		sum := decimal.Zero
		for _, p := range arr(obj(m["allocation"])["lineage"]) {
			pm := obj(p)
			if pm["source_id"] != srcs[kind] || pm["source_city"] != "3703" {
				t.Fatalf("%s lineage %v", kind, pm)
			}
			sum = sum.Add(decimal.RequireFromString(pm["tonnes"].(string)))
		}
		if m["city"] != "3709" || sum.String() != m["requested"] {
			t.Fatalf("%s after the move: city %v, lineage %s of %v t", kind, m["city"], sum, m["requested"])
		}
		if tr := arr(m["trail"]); obj(tr[len(tr)-1])["action"] != "project.moved" {
			t.Fatalf("%s trail %v", kind, tr)
		}
	}
	h.wantBalances(t, map[string]string{"project:P-CHEM:NOX:allocated": "300", "project:P-CHEM:VOCS:allocated": "240", "project:P-CHEM:CEI:allocated": "60000"})

	// Reports per kind, JSON and CSV: the lineage of each kind from its report.
	for kind, want := range map[string][2]string{"NOX": {"200", "100"}, "VOCS": {"150", "90"}, "CEI": {"50000", "10000"}} {
		lin := h.get("/v1/indices/"+kind+"/report?level=lineage", h.reader()).want(t, 200)
		rows := arr(lin.JSON["lineage"])
		if len(rows) != 2 || obj(rows[0])["reserve"] != "province" || obj(rows[0])["tonnes"] != want[0] || obj(rows[1])["reserve"] != "3703" ||
			obj(rows[1])["tonnes"] != want[1] || obj(rows[1])["project_city"] != "3709" || obj(rows[1])["source_id"] != srcs[kind] {
			t.Fatalf("%s lineage %s", kind, lin.Body)
		}
	}
	h.quotaClean(t)

	// Consumption and recovery work per kind as for CEI: NOX is
	// commissioned, VOCS recovered to the reserves it came from.
	allocOf := map[string]string{}
	for _, a := range arr(after.JSON["applications"]) {
		allocOf[obj(a)["index_kind"].(string)] = obj(obj(a)["allocation"])["id"].(string)
	}
	h.post("/v1/quota/allocations/"+allocOf["NOX"]+"/consumption", h.prov, map[string]any{"commissioned_on": "2025-06-30", "reason": "commissioned"}).want(t, 201)
	h.post("/v1/quota/allocations/"+allocOf["VOCS"]+"/recovery", h.prov, map[string]any{"cause": "cancelled", "reason": "VOCS line dropped"}).want(t, 201)
	h.wantBalances(t, map[string]string{"province:NOX:consumed": "300", "project:P-CHEM:NOX:allocated": "0", "project:P-CHEM:VOCS:allocated": "0",
		"province:VOCS:reserve": "150", "city:3703:VOCS:reserve": "150", "province:CEI:consumed": "0"})
	vocs := h.get("/v1/indices/VOCS/reserves", h.reader()).want(t, 200)
	if tot := obj(vocs.JSON["total"]); tot["in_reserve"] != "300" || tot["recovered"] != "240" || tot["allocated"] != "0" {
		t.Fatalf("VOCS reserves %s", vocs.Body)
	}
	h.quotaClean(t)
}

// TestIndexKindRoutesOverHTTP: the kinds' reserves, reports, transfers
// and configuration, in JSON and CSV, beside the unchanged CEI routes.
func TestIndexKindRoutesOverHTTP(t *testing.T) {
	h := newQuotaHarness(t)
	city3703 := h.token(ledger.RoleCity, "zibo-1", "", "3703")
	kinds := h.get("/v1/indices", h.n1corp).want(t, 200)
	var codes []string
	for _, k := range arr(kinds.JSON["items"]) {
		codes = append(codes, obj(k)["index_kind"].(string))
	}
	if strings.Join(codes, ",") != "CEI,COD,NH3N,NOX,VOCS" {
		t.Fatalf("kinds %s", kinds.Body)
	}
	nox := h.kindSource(t, city3703, "3703", "NOX", "zibo-glass", "key_reduction_work", "400", "scr-2024")

	// The path names the kind: an unknown one is 404, a body naming another is 400.
	h.get("/v1/indices/SO2/reserves", h.aud).want(t, 404, "not_found")
	h.get("/v1/indices/nox/reserves", h.aud).want(t, 404, "not_found")
	h.post("/v1/indices/VOCS/sources", city3703, map[string]any{"city": "3703", "enterprise": "e", "route": "closure", "tonnes": "1", "formed_on": "2024-01-01",
		"evidence_ref": "x", "index_kind": "NOX"}).want(t, 400, "invalid_request")
	h.post("/v1/indices/VOCS/sources", city3703, map[string]any{"city": "3703", "enterprise": "e", "route": "key_reduction_work", "tonnes": "1", "formed_on": "2024-01-01",
		"evidence_ref": "x"}).want(t, 400, "invalid_request") // a key work names the work
	h.post("/v1/indices/VOCS/stockpilings", h.prov, map[string]any{"source_id": nox, "reason": "wrong kind"}).want(t, 400, "invalid_request")
	if items := arr(h.get("/v1/indices/NOX/sources", city3703).want(t, 200).JSON["items"]); len(items) != 1 || obj(items[0])["id"] != nox {
		t.Fatalf("NOX sources %v", items)
	}
	if items := arr(h.get("/v1/indices/VOCS/sources", h.aud).want(t, 200).JSON["items"]); len(items) != 0 {
		t.Fatalf("VOCS sources %v", items)
	}

	// Transfers of a kind move that kind only.
	h.post("/v1/indices/NOX/transfers", city3703, map[string]any{"from": "3703", "to": "3701", "tonnes": "50", "reason": "x"}).want(t, 403, "forbidden")
	tr := h.post("/v1/indices/NOX/transfers", h.prov, map[string]any{"from": "3703", "to": "3701", "tonnes": "50", "reason": "Jinan needs NOx"}).want(t, 201)
	if tr.str("index_kind") != "NOX" || len(arr(tr.JSON["sources"])) != 1 {
		t.Fatalf("transfer %s", tr.Body)
	}
	h.post("/v1/indices/NOX/transfers", h.prov, map[string]any{"from": "3703", "to": "3701", "tonnes": "151", "reason": "x"}).want(t, 409, "insufficient_reserve")
	h.wantBalances(t, map[string]string{"city:3703:NOX:reserve": "150", "city:3701:NOX:reserve": "50", "city:3701:CEI:reserve": "0"})

	// Maker-checker corrections of a NOX source write down NOX.
	c := h.post("/v1/quota/corrections", h.prov, map[string]any{"source_id": nox, "holder": "3703", "delta": "-10", "reason": "re-measured"}).want(t, 201)
	h.post("/v1/quota/corrections/"+c.str("id")+"/approval", h.prov, map[string]any{"approve": true, "reason": "self"}).want(t, 403, "maker_checker")
	h.post("/v1/quota/corrections/"+c.str("id")+"/approval", h.prov2, map[string]any{"approve": true, "reason": "checked"}).want(t, 201)
	h.wantBalances(t, map[string]string{"city:3703:NOX:reserve": "140", "province:NOX:recognition": "-390", "province:CEI:recognition": "0"})

	// Reserves of the kind, JSON and CSV; CEI's route shows no NOX.
	res := h.get("/v1/indices/NOX/reserves", h.reader()).want(t, 200)
	rows := arr(res.JSON["rows"])
	if res.str("index_kind") != "NOX" || len(rows) != 17 || obj(rows[1])["reserve"] != "3701" || obj(rows[1])["in_reserve"] != "50" ||
		obj(rows[3])["account"] != "city:3703:NOX:reserve" || obj(rows[3])["transferred_out"] != "50" || obj(rows[3])["corrected_down"] != "10" ||
		obj(res.JSON["total"])["in_reserve"] != "390" {
		t.Fatalf("NOX reserves %s", res.Body)
	}
	cei := h.get("/v1/quota/reserves", h.reader()).want(t, 200)
	if _, has := cei.JSON["index_kind"]; has || obj(cei.JSON["total"])["in_reserve"] != "0" || obj(arr(cei.JSON["rows"])[0])["account"] != "province:CEI:reserve" {
		t.Fatalf("CEI reserves %s", cei.Body)
	}
	csvRes := h.do("GET", "/v1/indices/NOX/reserves", h.reader(), nil, withHeader("Accept", "text/csv"))
	recs, err := csv.NewReader(strings.NewReader(string(csvRes.Body))).ReadAll()
	if csvRes.Status != 200 || !strings.Contains(csvRes.Header.Get("Content-Disposition"), "quota-reserves-NOX.csv") || err != nil ||
		len(recs) != 19 || recs[4][0] != "3703" || recs[4][2] != "city:3703:NOX:reserve" || recs[4][3] != "140" || recs[18][0] != "total" {
		t.Fatalf("NOX reserves csv %d %v %v", csvRes.Status, recs, err)
	}

	// Flows of the kind, JSON and CSV; city filters name reserves by city.
	rep := h.get("/v1/indices/NOX/report?period=year&city=3701", h.reader()).want(t, 200)
	if q := obj(rep.JSON["query"]); q["index_kind"] != "NOX" {
		t.Fatalf("NOX report query %v", q)
	}
	if r := arr(rep.JSON["rows"]); len(r) != 1 || obj(r[0])["flow"] != "transferred_in" || obj(r[0])["reserve"] != "3701" || obj(r[0])["tonnes"] != "50" {
		t.Fatalf("NOX report %s", rep.Body)
	}
	if r := arr(h.get("/v1/quota/report?period=year", h.reader()).want(t, 200).JSON["rows"]); len(r) != 0 {
		t.Fatalf("CEI report shows NOX flows: %v", r)
	}
	flowCSV := h.do("GET", "/v1/indices/NOX/report?route=key_reduction_work", h.reader(), nil, withHeader("Accept", "text/csv"))
	frecs, err := csv.NewReader(strings.NewReader(string(flowCSV.Body))).ReadAll()
	if flowCSV.Status != 200 || err != nil || len(frecs) < 4 || strings.Join(frecs[0], ",") != "period,flow,reserve,source_city,route,project_city,sector,tonnes,amount_cny,movements" ||
		!strings.Contains(flowCSV.Header.Get("Content-Disposition"), "quota-flows-NOX.csv") {
		t.Fatalf("NOX flows csv %d %v %v", flowCSV.Status, frecs, err)
	}
	linCSV := h.do("GET", "/v1/indices/NOX/report?level=lineage", h.reader(), nil, withHeader("Accept", "text/csv"))
	if linCSV.Status != 200 || !strings.HasPrefix(string(linCSV.Body), "allocation_id,") {
		t.Fatalf("NOX lineage csv %d %s", linCSV.Status, linCSV.Body)
	}

	// Configuration of the kind: read by anyone, published by the province.
	cfg := h.get("/v1/indices/NOX/config", h.n1corp).want(t, 200)
	got := map[string]string{}
	for _, c := range arr(cfg.JSON["items"]) {
		m := obj(c)
		if m["index_kind"] != "NOX" {
			t.Fatalf("NOX config %v", m)
		}
		subject, _ := m["subject"].(string)
		got[m["kind"].(string)+"/"+subject] = m["value"].(string)
	}
	for k, want := range map[string]string{"split/": "50", "ratio/": "1", "ratio/3703": "2", "threshold/": "10000", "price/": "2000", "move_settles_reserve/": "0"} {
		if got[k] != want {
			t.Errorf("NOX config %s = %q, want %s (%v)", k, got[k], want, got)
		}
	}
	for _, c := range arr(h.get("/v1/quota/config", h.n1corp).want(t, 200).JSON["items"]) {
		if obj(c)["index_kind"] != "CEI" {
			t.Fatalf("CEI config lists %v", c)
		}
	}
	from := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	h.post("/v1/indices/NOX/config", h.prov, map[string]any{"kind": "coefficient", "subject": "steel", "value": "1.5", "valid_from": from, "source_doc": "d", "reason": "x"}).want(t, 400, "invalid_request")
	pub := h.post("/v1/indices/NOX/config", h.prov, map[string]any{"kind": "move_settles_reserve", "value": "1", "valid_from": from, "source_doc": "鲁环发〔2099〕2号", "reason": "settle"}).want(t, 201)
	if pub.str("index_kind") != "NOX" || pub.str("kind") != "move_settles_reserve" {
		t.Fatalf("published %s", pub.Body)
	}
	h.quotaClean(t)
}

// TestBundleGovernmentAndSettledMoveOverHTTP: a bundle above a kind's
// threshold goes to the government as a whole and is approved there in one
// step; with move_settles_reserve 1 the project's move repays the old
// city's reserve from the new one's.
func TestBundleGovernmentAndSettledMoveOverHTTP(t *testing.T) {
	h := newQuotaHarness(t)
	city3703 := h.token(ledger.RoleCity, "zibo-1", "", "3703")
	qilu := h.token(ledger.RoleEnterprise, "qilu-user", "qilu-chem", "")
	h.kindSource(t, city3703, "3703", "NOX", "zibo-glass", "key_reduction_work", "24000", "scr-2024")    // 12,000 / 12,000
	h.kindSource(t, h.city3709, "3709", "NOX", "taian-power", "key_reduction_work", "20000", "fgd-2024") // 10,000 / 10,000
	bd := h.post("/v1/quota/bundles", qilu, map[string]any{"project": "P-BIG", "city": "3703", "sector": "basic_chemicals",
		"lines": []map[string]string{{"index_kind": "NOX", "emissions": "10000", "requested": "20000"}}}).want(t, 201)
	id := bd.str("bundle_id")
	appID := obj(arr(bd.JSON["applications"])[0])["id"].(string)
	h.post("/v1/quota/applications/"+appID+"/review", city3703, map[string]any{"approve": true, "reason": "one kind"}).want(t, 409, "conflict")
	h.post("/v1/quota/bundles/"+id+"/review", city3703, map[string]any{"approve": true, "reason": "filed"}).want(t, 201)
	decision := map[string]any{"approve": true, "reason": "allocate", "paid": true,
		"draws": map[string]any{"NOX": []map[string]string{{"reserve": "province", "tonnes": "12000"}, {"reserve": "3703", "tonnes": "8000"}}}}
	esc := h.post("/v1/quota/bundles/"+id+"/decision", h.prov, decision).want(t, 201)
	if a := obj(arr(esc.JSON["applications"])[0]); a["status"] != "awaiting_government" || a["threshold"] != "10000" || a["allocation"] != nil {
		t.Fatalf("escalation %s", esc.Body)
	}
	gov := map[string]any{"approve": true, "document_ref": "鲁政字〔2025〕90号", "reason": "approved"}
	h.post("/v1/quota/bundles/"+id+"/government-approval", city3703, gov).want(t, 403, "forbidden")
	h.post("/v1/quota/applications/"+appID+"/government-approval", h.prov, gov).want(t, 409, "conflict")
	g := h.post("/v1/quota/bundles/"+id+"/government-approval", h.prov, gov, withKey("gov-1")).want(t, 201)
	if obj(arr(g.JSON["applications"])[0])["status"] != "government_approved" {
		t.Fatalf("government %s", g.Body)
	}
	h.post("/v1/quota/bundles/"+id+"/government-approval", h.prov, gov, withKey("gov-1")).want(t, 200)
	h.fundOrg(t, "qilu-chem", "40000000.00")
	done := h.post("/v1/quota/bundles/"+id+"/decision", h.prov, decision).want(t, 201)
	if al := obj(obj(arr(done.JSON["applications"])[0])["allocation"]); al["tonnes"] != "20000" || al["amount_cny"] != "40000000.00" {
		t.Fatalf("allocation %s", done.Body)
	}
	h.quotaClean(t)

	from := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	h.post("/v1/indices/NOX/config", h.prov, map[string]any{"kind": "move_settles_reserve", "value": "1", "valid_from": from, "source_doc": "test rule", "reason": "settle"}).want(t, 201)
	h.advance(time.Hour)
	mv := h.post("/v1/quota/projects/P-BIG/move", h.prov, map[string]any{"to_city": "3709", "reason": "site moved"}).want(t, 201)
	st := arr(mv.JSON["settlements"])
	if len(st) != 1 || obj(st[0])["index_kind"] != "NOX" || obj(st[0])["payer"] != "3709" || obj(st[0])["payee"] != "3703" || obj(st[0])["tonnes"] != "8000" {
		t.Fatalf("settled move %s", mv.Body)
	}
	h.wantBalances(t, map[string]string{"city:3709:NOX:reserve": "2000", "city:3703:NOX:reserve": "12000", "project:P-BIG:NOX:allocated": "20000"})
	res := h.get("/v1/indices/NOX/reserves", h.reader()).want(t, 200)
	if r := obj(arr(res.JSON["rows"])[9]); r["reserve"] != "3709" || r["transferred_out"] != "8000" {
		t.Fatalf("3709 NOX row %v", r)
	}
	h.quotaClean(t)
}
