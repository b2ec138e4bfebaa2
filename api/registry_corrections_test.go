package api

import (
	"context"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

func (h *harness) exec(sql string, args ...any) {
	h.t.Helper()
	if _, err := h.l.Pool().Exec(context.Background(), sql, args...); err != nil {
		h.t.Fatal(err)
	}
}

// verifyFinds asserts that GET /v1/audit/verify reports a problem of kind
// on table, whose row contains row.
func (h *harness) verifyFinds(kind, table, row string) {
	h.t.Helper()
	r := h.get("/v1/audit/verify", h.token(ledger.RoleAuditor, "auditor-1", "", "")).want(h.t, 200)
	if ok, _ := r.JSON["ok"].(bool); ok {
		h.t.Fatalf("verify is ok, want a %s problem: %s", kind, r.Body)
	}
	for _, p := range r.JSON["problems"].([]any) {
		m := p.(map[string]any)
		if m["kind"] == kind && m["table"] == table && strings.Contains(m["row"].(string), row) {
			return
		}
	}
	h.t.Fatalf("no %s problem on %s %s: %s", kind, table, row, r.Body)
}

// Offsets over HTTP: refused without an obligation the province recorded
// (409 obligation_not_recorded), the route is the province's, and the cap
// is 5 % of the recorded figure; the enterprise reads its own obligation.
func TestRegistryRecordedObligationOverHTTP(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	opTok := h.token(ledger.RoleOperator, "ops-1", "metro-jn", "")
	e1 := h.token(ledger.RoleEnterprise, "e-1", "E1", "")
	e2 := h.token(ledger.RoleEnterprise, "e-2", "E2", "")
	h.registryIssue("metro-jn", "6330000000", "126600000")
	h.post("/v1/holders", e1, map[string]any{"holder": "E1"}).want(t, 201)
	h.post("/v1/transfers", opTok, map[string]any{"to": "E1", "units": "600"}).want(t, 201)

	offset := map[string]any{"units": "300", "compliance_year": 2025, "ets_reference": "ETS-SD-2025-E1"}
	h.post("/v1/offsets", e1, offset).want(t, 409, "obligation_not_recorded")
	record := map[string]any{"enterprise": "E1", "compliance_year": 2025, "verified_emissions_tonnes": "10200", "obligation_tonnes": "10000",
		"document_ref": "SDEE-ETS-2025-017"}
	h.post("/v1/registry/obligations", e1, record).want(t, 403, "forbidden")
	h.post("/v1/registry/obligations", opTok, record).want(t, 403, "forbidden")
	r := h.post("/v1/registry/obligations", prov, record).want(t, 201)
	if r.str("cap_units") != "500" || r.JSON["revision"] != float64(1) || r.str("verified_emissions_tonnes") != "10200" {
		t.Fatalf("recorded: %s", r.Body)
	}
	h.post("/v1/registry/obligations", prov, record).want(t, 409, "conflict") // revises 0 again: stale
	if r := h.post("/v1/offsets", e1, offset).want(t, 201); r.str("cap_units") != "500" || r.str("surrendered_units") != "300" {
		t.Fatalf("offset: %s", r.Body)
	}
	offset["units"] = "201"
	h.post("/v1/offsets", e1, offset).want(t, 422, "offset_cap_exceeded")
	revise := map[string]any{"enterprise": "E1", "compliance_year": 2025, "verified_emissions_tonnes": "4000", "obligation_tonnes": "4000",
		"document_ref": "SDEE-ETS-2025-017-r", "revises": 1, "reason": "verification corrected"}
	h.post("/v1/registry/obligations", prov, revise).want(t, 409, "obligation_below_surrendered")

	got := h.get("/v1/registry/obligations/E1/2025", e1).want(t, 200)
	if got.str("remaining_units") != "200" || len(got.JSON["history"].([]any)) != 1 {
		t.Fatalf("obligation: %s", got.Body)
	}
	h.get("/v1/registry/obligations/E1/2025", e2).want(t, 404, "not_found")
	h.get("/v1/registry/obligations/E1/2025", h.token(ledger.RoleAuditor, "a-1", "", "")).want(t, 200)
	h.get("/v1/registry/obligations/E1/twenty", prov).want(t, 404, "not_found")
	h.registryInvariants()
}

// Cancelling units of a frozen holding over HTTP: the holding stays
// frozen, the units are cancelled, everything verifies.
func TestRegistryCancelFrozenOverHTTP(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	opTok := h.token(ledger.RoleOperator, "ops-1", "metro-jn", "")
	e1 := h.token(ledger.RoleEnterprise, "e-1", "E1", "")
	h.registryIssue("metro-jn", "6330000000", "126600000")
	h.post("/v1/holders", e1, map[string]any{"holder": "E1"}).want(t, 201)
	h.post("/v1/transfers", opTok, map[string]any{"to": "E1", "units": "100"}).want(t, 201)
	h.post("/v1/holders/E1/freeze", prov, map[string]any{"decision_ref": "SDEE-2026-17", "reason": "suspected double counting"}).want(t, 201)

	c := h.post("/v1/cancellations", prov, map[string]any{"holder": "E1", "units": "10", "decision_ref": "SDEE-2026-18", "reason": "confirmed"}).want(t, 201)
	if c.JSON["holder_frozen"] != true {
		t.Fatalf("cancellation: %s", c.Body)
	}
	if r := h.get("/v1/holdings?holder=E1", prov).want(t, 200); r.str("status") != "frozen" || r.str("balance") != "90" {
		t.Fatalf("holding: %s", r.Body)
	}
	if r := h.get("/v1/registry/stats", "").want(t, 200); r.JSON["totals"].(map[string]any)["cancelled"] != "10" {
		t.Fatalf("stats: %s", r.Body)
	}
	h.post("/v1/transfers", e1, map[string]any{"to": "metro-jn", "units": "1"}).want(t, 409, "account_frozen")
	h.registryInvariants()
}

// The engine's status route records its decision with the reason, and
// the one verification finds a status or a stored idempotency result
// edited in SQL.
func TestStatusAndIdempotencyEditsAreFoundOverHTTP(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	a, b := ledgertest.ID("a"), ledgertest.ID("b")
	ids := h.openFunded(prov, "100.00", a, b)
	h.post("/v1/accounts/"+ids[0]+"/status", prov, map[string]any{"status": "frozen", "reason": "SDEE-2026-3"}, withKey("st-1")).want(t, 201)
	h.post("/v1/accounts/"+ids[0]+"/status", prov, map[string]any{"status": "frozen", "reason": "other"}, withKey("st-1")).want(t, 409, "idempotency_conflict")
	h.post("/v1/transactions", prov, transfer(ids[1], "external:CNY", "1.00"), withKey("tx-1")).want(t, 201)
	h.verifyClean()

	h.exec(`UPDATE accounts SET status = 'active' WHERE id = $1`, ids[0])
	h.verifyFinds("account_status", "accounts", ids[0])
	h.exec(`UPDATE accounts SET status = 'frozen' WHERE id = $1`, ids[0])
	h.verifyClean()

	h.exec(`UPDATE idempotency_keys SET response = '{"transaction_id":"00000000-0000-7000-8000-000000000000"}' WHERE scope = 'province:p1' AND key = 'tx-1'`)
	h.verifyFinds("idempotency_result", "idempotency_keys", "province:p1/tx-1")
}
