package api

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// items is a list response's items.
func (r *resp) items(t *testing.T) []map[string]any {
	t.Helper()
	raw, ok := r.JSON["items"].([]any)
	if !ok {
		t.Fatalf("no items: %s", r.Body)
	}
	out := make([]map[string]any, len(raw))
	for i, it := range raw {
		out[i] = it.(map[string]any)
	}
	return out
}

// wantItems fetches a list and checks how many items it has.
func (h *harness) wantItems(path, token string, n int) []map[string]any {
	h.t.Helper()
	r := h.get(path, token).want(h.t, 200)
	items := r.items(h.t)
	if len(items) != n {
		h.t.Fatalf("GET %s: %d items, want %d: %s", path, len(items), n, r.Body)
	}
	return items
}

// pageAll follows next_cursor from path (which has a query) and returns
// every item's field, checking that no item repeats.
func (h *harness) pageAll(path, token, field string) []string {
	h.t.Helper()
	var out []string
	seen := map[string]bool{}
	cursor := ""
	for i := 0; ; i++ {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := h.get(p, token).want(h.t, 200)
		for _, it := range r.items(h.t) {
			v, _ := it[field].(string)
			if seen[v] {
				h.t.Fatalf("%s repeats %s", path, v)
			}
			seen[v] = true
			out = append(out, v)
		}
		if cursor = r.str("next_cursor"); cursor == "" || i > 100 {
			return out
		}
	}
}

func TestRegistryListsOverHTTP(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	aud := h.token(ledger.RoleAuditor, "a-1", "", "")
	metro := h.token(ledger.RoleOperator, "ops-1", "metro-jn", "")
	bike := h.token(ledger.RoleOperator, "ops-2", "bike-qd", "")
	bus := h.token(ledger.RoleOperator, "ops-3", "bus-yt", "")
	ver := h.token(ledger.RoleVerifier, "v-1", "verifier-sd1", "")
	e1 := h.token(ledger.RoleEnterprise, "e-1", "E1", "")
	e2 := h.token(ledger.RoleEnterprise, "e-2", "E2", "")
	cit := h.token(ledger.RoleCitizen, "c-1", "", "")

	// Three batches: metro-jn's issued, bike-qd's draft, bus-yt's under notice.
	issued := h.registryIssue("metro-jn", "6330000000", "126600000").str("id")
	h.registryFundPool("bike-qd", "cycling-v1", "2025", "2000000")
	draft := h.post("/v1/certifications", bike, map[string]any{"methodology": "cycling-v1", "period": "2025", "sector": "07", "project": "0002"}).want(t, 201).str("id")
	h.registryFundPool("bus-yt", "bus-v1", "2025-06", "3000000")
	notice := h.post("/v1/certifications", bus, map[string]any{"methodology": "bus-v1", "period": "2025-06", "sector": "07", "project": "0003"}).want(t, 201).str("id")
	h.post("/v1/certifications/"+notice+"/notice", bus, nil).want(t, 201)

	// Public notice (公示): readable without a token, the list and the batch.
	if it := h.wantItems("/v1/certifications", "", 1); it[0]["id"] != notice || it[0]["state"] != "notice" {
		t.Fatalf("public list: %v", it)
	}
	h.get("/v1/certifications/"+notice, "").want(t, 200)
	h.get("/v1/certifications/"+draft, "").want(t, 404, "not_found")
	h.get("/v1/certifications/"+issued, "").want(t, 404, "not_found")
	h.wantItems("/v1/certifications?status=draft", "", 0)
	h.get("/v1/certifications", "not-a-token").want(t, 401, "unauthorized")
	// Scoped as the single read: operators their own, the verifier what is
	// assigned to it, oversight all, others all but drafts.
	if it := h.wantItems("/v1/certifications", metro, 1); it[0]["id"] != issued {
		t.Fatalf("metro: %v", it)
	}
	h.wantItems("/v1/certifications?operator=bike-qd", metro, 0)
	if it := h.wantItems("/v1/certifications", bike, 1); it[0]["id"] != draft {
		t.Fatalf("bike: %v", it)
	}
	if it := h.wantItems("/v1/certifications", ver, 1); it[0]["id"] != issued {
		t.Fatalf("verifier: %v", it)
	}
	h.wantItems("/v1/certifications", prov, 3)
	h.wantItems("/v1/certifications", aud, 3)
	h.wantItems("/v1/certifications", e1, 2)
	if it := h.wantItems("/v1/certifications?status=draft", prov, 1); it[0]["id"] != draft {
		t.Fatalf("drafts: %v", it)
	}
	h.wantItems("/v1/certifications?operator=bus-yt&period=2025-06", prov, 1)
	h.wantItems("/v1/certifications?verifier=verifier-sd1&status=issued", prov, 1)
	if got := h.pageAll("/v1/certifications?limit=1", prov, "id"); len(got) != 3 || got[0] != notice || got[2] != issued {
		t.Fatalf("pages, newest first: %v", got)
	}
	// Bad filters are 400 problems, never an empty page.
	h.get("/v1/certifications?status=done", prov).want(t, 400, "invalid_request")
	h.get("/v1/certifications?stauts=draft", prov).want(t, 400, "invalid_request")
	h.get("/v1/certifications?operator=a%20b", prov).want(t, 400, "invalid_request")
	h.get("/v1/certifications?cursor=xyz", prov).want(t, 400, "invalid_request")
	h.get("/v1/certifications?limit=0", prov).want(t, 400, "invalid_request")
	h.get("/v1/certifications?limit=501", prov).want(t, 400, "invalid_request")
	h.get("/v1/certifications?status=draft&status=issued", prov).want(t, 400, "invalid_request")

	// Trades: one settled with E1, one offered to E1, one cancelled by E2.
	h.post("/v1/holders", e1, map[string]any{"holder": "E1"}).want(t, 201)
	h.post("/v1/holders", e2, map[string]any{"holder": "E2"}).want(t, 201)
	h.post("/v1/deposits", prov, map[string]any{"org": "E1", "amount": "20000.00", "reference": "bank-1"}).want(t, 201)
	settled := h.post("/v1/trades", metro, map[string]any{"buyer": "E1", "units": "500", "price_per_unit": "36.00"}).want(t, 201).str("id")
	h.post("/v1/trades/"+settled+"/acceptance", e1, nil).want(t, 201)
	offered := h.post("/v1/trades", metro, map[string]any{"buyer": "E1", "units": "10", "price_per_unit": "40.00"}).want(t, 201).str("id")
	cancelled := h.post("/v1/trades", metro, map[string]any{"buyer": "E2", "units": "20", "price_per_unit": "30.00"}).want(t, 201).str("id")
	h.post("/v1/trades/"+cancelled+"/cancellation", e2, nil).want(t, 201)

	if it := h.wantItems("/v1/trades?buyer=E1&status=offered", e1, 1); it[0]["id"] != offered || it[0]["status"] != "offered" ||
		len(it[0]["offered_serials"].([]any)) != 1 {
		t.Fatalf("E1's inbox: %v", it)
	}
	h.wantItems("/v1/trades", e1, 2)
	if it := h.wantItems("/v1/trades?as=buyer&status=offered", e1, 1); it[0]["id"] != offered {
		t.Fatalf("E1 as buyer: %v", it)
	}
	h.wantItems("/v1/trades?as=seller", e1, 0)
	h.wantItems("/v1/trades?as=seller&status=settled", metro, 1)
	h.wantItems("/v1/trades?as=buyer&buyer=E2", e1, 0)
	h.get("/v1/trades?as=buyer", prov).want(t, 400, "invalid_request")
	h.get("/v1/trades?as=broker", e1).want(t, 400, "invalid_request")
	if it := h.wantItems("/v1/trades", e2, 1); it[0]["id"] != cancelled || it[0]["status"] != "cancelled" {
		t.Fatalf("E2: %v", it)
	}
	h.wantItems("/v1/trades?seller=metro-jn", e2, 1) // only where E2 is the other party
	h.wantItems("/v1/trades?seller=metro-jn", metro, 3)
	h.wantItems("/v1/trades?buyer=E2", e1, 0)
	if it := h.wantItems("/v1/trades?status=settled", prov, 1); it[0]["id"] != settled || it[0]["payment_transaction_id"] == nil {
		t.Fatalf("settled: %v", it)
	}
	h.wantItems("/v1/trades?status=cancelled", aud, 1)
	h.wantItems("/v1/trades?status=expired", aud, 0)
	if got := h.pageAll("/v1/trades?limit=1&status=offered", prov, "id"); len(got) != 1 || got[0] != offered {
		t.Fatalf("offered pages: %v", got)
	}
	if got := h.pageAll("/v1/trades?limit=2", prov, "id"); len(got) != 3 || got[0] != cancelled {
		t.Fatalf("trade pages: %v", got)
	}
	h.get("/v1/trades", cit).want(t, 403, "forbidden")
	h.get("/v1/trades", "").want(t, 401, "unauthorized")
	h.get("/v1/trades?status=open", e1).want(t, 400, "invalid_request")

	// Transfers.
	h.post("/v1/transfers", metro, map[string]any{"to": "E2", "units": "100", "memo": "pilot"}).want(t, 201)
	if it := h.wantItems("/v1/transfers", e2, 1); it[0]["from"] != "metro-jn" || it[0]["units"] != "100" || it[0]["memo"] != "pilot" ||
		len(it[0]["serials"].([]any)) != 1 {
		t.Fatalf("E2's transfers: %v", it)
	}
	h.wantItems("/v1/transfers", e1, 0)
	h.wantItems("/v1/transfers?from=metro-jn", prov, 1)
	h.wantItems("/v1/transfers?to=E1", prov, 0)
	future := url.QueryEscape(time.Now().Add(400 * 24 * time.Hour).UTC().Format(time.RFC3339))
	h.wantItems("/v1/transfers?since="+future, prov, 0)
	h.wantItems("/v1/transfers?until="+future, prov, 1)
	h.get("/v1/transfers?since=yesterday", prov).want(t, 400, "invalid_request")
	h.get("/v1/transfers?since="+future+"&until="+future, prov).want(t, 400, "invalid_request")

	// Retirements: a public register; mine for a holder.
	h.post("/v1/retirements", e1, map[string]any{"units": "300", "vintage": 2025, "purpose": "event_neutrality", "beneficiary": "2025 Jinan Marathon"}).want(t, 201)
	h.post("/v1/retirements", e2, map[string]any{"units": "40", "vintage": 2025, "purpose": "voluntary_neutrality", "beneficiary": "E2 offices"}).want(t, 201)
	h.wantItems("/v1/retirements", "", 2)
	if it := h.wantItems("/v1/retirements?beneficiary=2025%20Jinan%20Marathon", "", 1); it[0]["tonnes"] != "300" || len(it[0]["serials"].([]any)) != 1 {
		t.Fatalf("by beneficiary: %v", it)
	}
	h.wantItems("/v1/retirements?purpose=voluntary_neutrality&vintage=2025", "", 1)
	h.wantItems("/v1/retirements?vintage=2024", "", 0)
	h.wantItems("/v1/retirements?holder=E1", "", 1)
	h.wantItems("/v1/retirements?mine=true", e2, 1)
	h.wantItems("/v1/retirements?mine=true", metro, 0)
	h.get("/v1/retirements?mine=true", "").want(t, 401, "unauthorized")
	h.get("/v1/retirements?mine=true", prov).want(t, 403, "forbidden")
	h.get("/v1/retirements?mine=true&holder=E1", e2).want(t, 400, "invalid_request")
	h.get("/v1/retirements?vintage=twenty", "").want(t, 400, "invalid_request")
	h.get("/v1/retirements?vintage=1999", "").want(t, 400, "invalid_request")
	h.get("/v1/retirements?purpose=greenwash", "").want(t, 400, "invalid_request")
	// By serial (the public lookup): a block a retirement consumed, any one
	// unit of it, and a range it does not touch.
	marathon := h.wantItems("/v1/retirements?beneficiary=2025%20Jinan%20Marathon", "", 1)[0]
	block := marathon["serials"].([]any)[0].(string)
	if it := h.wantItems("/v1/retirements?serial="+block, "", 1); it[0]["id"] != marathon["id"] {
		t.Fatalf("by serial %s: %v", block, it)
	}
	parts := strings.Split(block, "-") // CN37-SDCER-07-0001-first-last-vintage
	unit := strings.Join(append(append([]string{}, parts[:4]...), parts[5], parts[5], parts[6]), "-")
	if it := h.wantItems("/v1/retirements?serial="+unit, "", 1); it[0]["id"] != marathon["id"] {
		t.Fatalf("by unit %s: %v", unit, it)
	}
	beyond := strings.Join(append(append([]string{}, parts[:4]...), "900000", "900001", parts[6]), "-")
	h.wantItems("/v1/retirements?serial="+beyond, "", 0)
	otherVintage := strings.Join(append(append([]string{}, parts[:6]...), "2024"), "-")
	h.wantItems("/v1/retirements?serial="+otherVintage, "", 0)
	if r := h.get("/v1/retirements?serial=CN37-SDCER-7", "").want(t, 400, "invalid_request"); r.JSON["field"] != "serial" {
		t.Fatalf("bad serial names no field: %s", r.Body)
	}

	// Offsets and cancellations.
	h.post("/v1/registry/obligations", prov, map[string]any{"enterprise": "E1", "compliance_year": 2025, "verified_emissions_tonnes": "100",
		"obligation_tonnes": "100", "document_ref": "SDEE-ETS-2025-E1"}).want(t, 201)
	h.post("/v1/offsets", e1, map[string]any{"units": "5", "compliance_year": 2025, "ets_reference": "ETS-SD-2025-E1"}).want(t, 201)
	if it := h.wantItems("/v1/offsets", e1, 1); it[0]["units"] != "5" || it[0]["obligation_revision"] != float64(1) || len(it[0]["serials"].([]any)) != 1 {
		t.Fatalf("offsets: %v", it)
	}
	h.wantItems("/v1/offsets", e2, 0)
	h.wantItems("/v1/offsets?enterprise=E1&compliance_year=2025", aud, 1)
	h.wantItems("/v1/offsets?compliance_year=2024", prov, 0)
	h.get("/v1/offsets", metro).want(t, 403, "forbidden")
	h.get("/v1/offsets?compliance_year=-1", prov).want(t, 400, "invalid_request")

	h.post("/v1/holders/E2/freeze", prov, map[string]any{"decision_ref": "SDEE-2026-17", "reason": "review"}).want(t, 201)
	h.post("/v1/cancellations", prov, map[string]any{"holder": "E2", "units": "10", "decision_ref": "SDEE-2026-18", "reason": "double counting"}).want(t, 201)
	if it := h.wantItems("/v1/cancellations", e2, 1); it[0]["holder_frozen"] != true || it[0]["units"] != "10" || len(it[0]["serials"].([]any)) != 1 {
		t.Fatalf("cancellations: %v", it)
	}
	h.wantItems("/v1/cancellations", e1, 0)
	h.wantItems("/v1/cancellations?holder=E2", prov, 1)
	h.wantItems("/v1/cancellations?holder=E2", e1, 0)
	h.get("/v1/cancellations", cit).want(t, 403, "forbidden")

	// Policy history and verifiers: public.
	h.post("/v1/registry/policies", prov, map[string]any{"id": "policy-2027", "valid_from": time.Now().Add(365 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"notice_days": 10, "offset_cap_share": "0.05", "trade_timeout_default_seconds": 86400, "source": "test"}).want(t, 201)
	if it := h.wantItems("/v1/registry/policies", "", 2); it[0]["id"] != "policy-2027" || it[1]["id"] != "default-2021" {
		t.Fatalf("policies: %v", it)
	}
	if got := h.pageAll("/v1/registry/policies?limit=1", "", "id"); len(got) != 2 {
		t.Fatalf("policy pages: %v", got)
	}
	if it := h.wantItems("/v1/verifiers", "", 1); it[0]["org"] != "verifier-sd1" || it[0]["status"] != "active" {
		t.Fatalf("verifiers: %v", it)
	}
	h.wantItems("/v1/verifiers?status=suspended", "", 0)
	h.get("/v1/verifiers?status=gone", "").want(t, 400, "invalid_request")
	h.registryInvariants()
}
