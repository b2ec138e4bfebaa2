package api

import (
	"net/url"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
)

func TestQuotaListsOverHTTP(t *testing.T) {
	h := newQuotaHarness(t)
	h.fundOrg(t, "n1corp", "100000000.00")
	city3701 := h.token(ledger.RoleCity, "jinan-1", "", "3701")
	prov3 := h.token(ledger.RoleProvince, "p-carol", "", "")

	// A source of 3704 recognised and stockpiled; an allocation to N1 (3709).
	srcID := h.post("/v1/quota/sources", h.city3704, map[string]any{"city": "3704", "enterprise": "zz-coking", "route": "closure",
		"tonnes": "1000000", "formed_on": "2022-06-30", "evidence_ref": "ZZ-EEB-2022-017", "reason": "coke ovens demolished"}).want(t, 201).str("id")
	h.post("/v1/quota/sources/"+srcID+"/approval", h.prov, map[string]any{"approve": true, "reason": "evidence checked"}).want(t, 201)
	sp := h.post("/v1/quota/stockpilings", h.prov, map[string]any{"source_id": srcID, "reason": "收储 batch 1"}).want(t, 201).str("id")
	app := h.cityApprovedApp(t, "N1", "steel", "800000", "400000", "800000")
	h.post("/v1/quota/applications/"+app+"/decision", h.prov, map[string]any{"approve": true, "paid": true, "reason": "approved",
		"draws": []map[string]string{{"reserve": "province", "tonnes": "500000"}, {"reserve": "3704", "tonnes": "300000"}}}).want(t, 201)
	h.post("/v1/quota/transfers", h.prov, map[string]any{"from": "3704", "to": "3701", "tonnes": "20000", "reason": "Jinan needs it"}).want(t, 201)

	// Stockpilings: oversight all, a city its own, an enterprise its sources'.
	if it := h.wantItems("/v1/quota/stockpilings", h.aud, 1); it[0]["id"] != sp || it[0]["province_tonnes"] != "500000" || it[0]["index_kind"] != "CEI" {
		t.Fatalf("stockpilings: %v", it)
	}
	h.wantItems("/v1/quota/stockpilings", h.city3704, 1)
	h.wantItems("/v1/quota/stockpilings", h.city3709, 0)
	h.wantItems("/v1/quota/stockpilings?city=3704", h.city3709, 0)
	h.wantItems("/v1/quota/stockpilings?source_id="+srcID+"&index_kind=CEI", h.prov, 1)
	h.wantItems("/v1/quota/stockpilings?index_kind=NOX", h.prov, 0)
	h.wantItems("/v1/quota/stockpilings", h.n1corp, 0)
	h.get("/v1/quota/stockpilings?index_kind=GOLD", h.prov).want(t, 400, "invalid_request")
	h.get("/v1/quota/stockpilings?city=9999", h.prov).want(t, 400, "invalid_request")
	h.get("/v1/quota/stockpilings?source_id=x", h.prov).want(t, 400, "invalid_request")

	// Allocations, with their reserves and lineage.
	it := h.wantItems("/v1/quota/allocations", h.n1corp, 1)
	if it[0]["tonnes"] != "800000" || it[0]["status"] != "allocated" || len(arr(it[0]["reserves"])) != 2 || len(arr(it[0]["lineage"])) == 0 {
		t.Fatalf("allocations: %v", it)
	}
	h.wantItems("/v1/quota/allocations", h.other, 0)
	h.wantItems("/v1/quota/allocations", h.city3709, 1)
	h.wantItems("/v1/quota/allocations", h.city3704, 0)
	h.wantItems("/v1/quota/allocations?status=consumed", h.prov, 0)
	h.wantItems("/v1/quota/allocations?project=N1&application_id="+app, h.aud, 1)
	h.get("/v1/quota/allocations?status=spent", h.prov).want(t, 400, "invalid_request")
	h.get("/v1/quota/allocations", h.token(ledger.RoleCitizen, "c-1", "", "")).want(t, 403, "forbidden")

	// Transfers between reserves: a city sees those touching its reserve.
	if it := h.wantItems("/v1/quota/transfers", city3701, 1); it[0]["from"] != "3704" || it[0]["to"] != "3701" || len(arr(it[0]["sources"])) != 1 {
		t.Fatalf("transfers: %v", it)
	}
	h.wantItems("/v1/quota/transfers", h.city3709, 0)
	h.wantItems("/v1/quota/transfers?from=3704", h.prov, 1)
	h.wantItems("/v1/quota/transfers?to=3704", h.prov, 0)
	h.get("/v1/quota/transfers", h.n1corp).want(t, 403, "forbidden")
	h.get("/v1/quota/transfers?from=nowhere", h.prov).want(t, 400, "invalid_request")

	// Corrections: the checker's inbox is what another province user proposed.
	c1 := h.post("/v1/quota/corrections", h.prov, map[string]any{"source_id": srcID, "holder": "3701", "delta": "-5000", "reason": "re-measured"}).want(t, 201).str("id")
	c2r := h.post("/v1/quota/corrections", h.prov2, map[string]any{"source_id": srcID, "holder": "3701", "delta": "-1000", "reason": "re-measured again"}).want(t, 201)
	c2, bob := c2r.str("id"), c2r.str("proposed_by")
	if it := h.wantItems("/v1/quota/corrections?status=pending", h.prov, 1); it[0]["id"] != c2 {
		t.Fatalf("alice's inbox: %v", it)
	}
	if it := h.wantItems("/v1/quota/corrections?status=pending", h.prov2, 1); it[0]["id"] != c1 {
		t.Fatalf("bob's inbox: %v", it)
	}
	h.wantItems("/v1/quota/corrections?status=pending", prov3, 2)
	h.post("/v1/quota/corrections/"+c1+"/approval", prov3, map[string]any{"approve": true, "reason": "checked"}).want(t, 201)
	h.wantItems("/v1/quota/corrections?status=pending", prov3, 1)
	h.wantItems("/v1/quota/corrections?status=applied", h.aud, 1)
	h.wantItems("/v1/quota/corrections?status=proposed&source_id="+srcID, h.aud, 1)
	h.wantItems("/v1/quota/corrections?proposed_by="+url.QueryEscape(bob), h.aud, 1)
	if got := h.pageAll("/v1/quota/corrections?limit=1", h.aud, "id"); len(got) != 2 || got[0] != c2 {
		t.Fatalf("correction pages: %v", got)
	}
	h.get("/v1/quota/corrections", h.city3704).want(t, 403, "forbidden")
	h.get("/v1/quota/corrections?status=open", h.prov).want(t, 400, "invalid_request")
	h.quotaClean(t)
}
