package api

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// registryFundPool fills an operator pool directly, as the points package
// does when citizens entrust reductions.
func (h *harness) registryFundPool(op, methodology, period, grams string) string {
	h.t.Helper()
	pool := registry.PoolAccount(op, methodology, period)
	issuer := "methodology:" + methodology + ":CO2E:issuance"
	g := decimal.RequireFromString(grams)
	err := h.l.Update(context.Background(), func(w *ledger.Writer) error {
		if err := w.OpenAccounts(issuer, pool); err != nil {
			return err
		}
		tx, err := w.Build(ledger.SystemActor, ledger.TxInput{Kind: "test.fund_pool",
			Postings: []ledger.PostingInput{{Account: issuer, Amount: g.Neg()}, {Account: pool, Amount: g}}})
		if err != nil {
			return err
		}
		return w.Apply(tx)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return pool
}

// registryIssue runs a pool through the whole certification over HTTP and
// returns the issued batch.
func (h *harness) registryIssue(op, grams, rejected string) *resp {
	h.t.Helper()
	t := h.t
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	opTok := h.token(ledger.RoleOperator, "ops-1", op, "")
	verTok := h.token(ledger.RoleVerifier, "v-1", "verifier-sd1", "")
	h.post("/v1/verifiers", prov, map[string]any{"org": "verifier-sd1", "name": "Shandong verification body 1"})
	h.registryFundPool(op, "metro-v1", "2025", grams)

	b := h.post("/v1/certifications", opTok, map[string]any{"methodology": "metro-v1", "period": "2025", "sector": "07", "project": "0001"}).want(t, 201)
	id := b.str("id")
	if b.str("state") != "draft" || b.str("captured_grams") != grams {
		t.Fatalf("draft: %s", b.Body)
	}
	h.post("/v1/certifications/"+id+"/notice", opTok, nil).want(t, 201)
	h.post("/v1/certifications/"+id+"/submission", opTok, nil).want(t, 422, "notice_period_running")
	h.advance(7*24*time.Hour + time.Second)
	h.post("/v1/certifications/"+id+"/submission", opTok, nil).want(t, 201)
	h.post("/v1/certifications/"+id+"/assignment", prov, map[string]any{"verifier": op}).want(t, 422, "verifier_not_independent")
	h.post("/v1/certifications/"+id+"/assignment", prov, map[string]any{"verifier": "verifier-sd1"}).want(t, 201)
	approved := decimal.RequireFromString(grams).Sub(decimal.RequireFromString(rejected)).String()
	v := h.post("/v1/certifications/"+id+"/verification", verTok,
		map[string]any{"approved_grams": approved, "rejected_grams": rejected, "report_ref": "VR-2025-001"}).want(t, 201)
	if v.str("state") != "verified" {
		t.Fatalf("verified: %s", v.Body)
	}
	return h.post("/v1/certifications/"+id+"/issuance", prov, nil, withKey("issue-"+id)).want(t, 201)
}

func (h *harness) registryInvariants() {
	h.t.Helper()
	h.verifyClean()
	r := h.get("/v1/registry/verify", h.token(ledger.RoleAuditor, "auditor-1", "", "")).want(h.t, 200)
	if ok, _ := r.JSON["ok"].(bool); !ok {
		h.t.Fatalf("registry verify: %s", r.Body)
	}
}

// DOMAIN.md §7 Issuance over HTTP.
func TestRegistryIssuanceOverHTTP(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	ent := h.token(ledger.RoleEnterprise, "e-1", "E1", "")
	opTok := h.token(ledger.RoleOperator, "ops-1", "metro-jn", "")

	// Roles at the door.
	h.post("/v1/certifications", ent, map[string]any{"methodology": "metro-v1", "period": "2025", "sector": "07", "project": "0001"}).want(t, 403, "forbidden")
	h.post("/v1/verifiers", ent, map[string]any{"org": "x", "name": "x"}).want(t, 403, "forbidden")

	iss := h.registryIssue("metro-jn", "6330000000", "126600000")
	id := iss.str("id")
	if iss.str("state") != "issued" || iss.str("issued_units") != "6203" || iss.str("remainder_grams") != "400000" ||
		iss.str("serial") != "CN37-SDCER-07-0001-1-6203-2025" || iss.str("rejected_grams") != "126600000" {
		t.Fatalf("issued: %s", iss.Body)
	}
	// Issuing again: a replay answers 200 with the first result; a new request fails.
	again := h.post("/v1/certifications/"+id+"/issuance", prov, nil, withKey("issue-"+id)).want(t, 200)
	if again.Header.Get("Idempotent-Replayed") != "true" || again.str("serial") != iss.str("serial") {
		t.Fatalf("replay: %s", again.Body)
	}
	h.post("/v1/certifications/"+id+"/issuance", prov, nil).want(t, 409, "already_issued")
	h.post("/v1/certifications/"+id+"/issuance", opTok, nil).want(t, 403, "forbidden")

	pool := h.get("/v1/accounts/"+registry.PoolAccount("metro-jn", "metro-v1", "2025"), prov).want(t, 200)
	if pool.str("balance") != "400000" || pool.str("available") != "400000" {
		t.Fatalf("pool: %s", pool.Body)
	}
	if r := h.get("/v1/accounts/operator:metro-jn:CO2E:rejected", prov).want(t, 200); r.str("balance") != "126600000" {
		t.Fatalf("rejected: %s", r.Body)
	}
	hold := h.get("/v1/holdings", opTok).want(t, 200)
	blocks := hold.JSON["blocks"].([]any)
	if hold.str("balance") != "6203" || len(blocks) != 1 || blocks[0].(map[string]any)["serial"] != "CN37-SDCER-07-0001-1-6203-2025" {
		t.Fatalf("holdings: %s", hold.Body)
	}
	// The batch is public information once issued; stats need no token.
	h.get("/v1/certifications/"+id, ent).want(t, 200)
	st := h.get("/v1/registry/stats", "").want(t, 200)
	if tot := st.JSON["totals"].(map[string]any); tot["issued"] != "6203" || tot["held"] != "6203" {
		t.Fatalf("stats: %s", st.Body)
	}
	if p := h.get("/v1/registry/policy", "").want(t, 200); p.str("offset_cap_share") != "0.0500" {
		t.Fatalf("policy: %s", p.Body)
	}
	h.registryInvariants()
}

// DOMAIN.md §7 Sale over HTTP: E1 buys 500 units at 36 yuan/t.
func TestRegistrySaleOverHTTP(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	opTok := h.token(ledger.RoleOperator, "ops-1", "metro-jn", "")
	e1 := h.token(ledger.RoleEnterprise, "e-1", "E1", "")
	e2 := h.token(ledger.RoleEnterprise, "e-2", "E2", "")
	h.registryIssue("metro-jn", "6330000000", "126600000")
	h.post("/v1/holders", e1, map[string]any{"holder": "E1"}).want(t, 201)
	h.post("/v1/holders", e2, map[string]any{"holder": "E2"}).want(t, 201)
	h.post("/v1/holders", e2, map[string]any{"holder": "E1"}).want(t, 403, "forbidden")
	h.post("/v1/deposits", e1, map[string]any{"org": "E1", "amount": "10000.00", "reference": "bank-1"}).want(t, 403, "forbidden")
	h.post("/v1/deposits", prov, map[string]any{"org": "E1", "amount": "10000.00", "reference": "bank-1"}).want(t, 201)
	h.post("/v1/deposits", prov, map[string]any{"org": "E1", "amount": 10000, "reference": "bank-1"}).want(t, 400, "invalid_request")

	tr := h.post("/v1/trades", opTok, map[string]any{"buyer": "E1", "units": "500", "price_per_unit": "36.00", "timeout_seconds": 3600}).want(t, 201)
	id := tr.str("id")
	if tr.str("amount") != "18000.00" || tr.str("status") != "offered" {
		t.Fatalf("offer: %s", tr.Body)
	}
	h.post("/v1/trades/"+id+"/acceptance", e2, nil).want(t, 404, "not_found")
	// Too little money: a clear error, nothing moves.
	h.post("/v1/trades/"+id+"/acceptance", e1, nil).want(t, 409, "insufficient_balance")
	if r := h.get("/v1/holdings", e1).want(t, 200); r.str("balance") != "0" {
		t.Fatalf("E1 units after a failed acceptance: %s", r.Body)
	}
	if r := h.get("/v1/accounts/org:E1:CNY", e1).want(t, 200); r.str("balance") != "10000.00" {
		t.Fatalf("E1 money after a failed acceptance: %s", r.Body)
	}
	// With the money, units and money settle together.
	h.post("/v1/deposits", prov, map[string]any{"org": "E1", "amount": "8000.00", "reference": "bank-2"}).want(t, 201)
	done := h.post("/v1/trades/"+id+"/acceptance", e1, nil).want(t, 201)
	if done.str("status") != "settled" {
		t.Fatalf("settled: %s", done.Body)
	}
	if r := h.get("/v1/holdings", e1).want(t, 200); r.str("balance") != "500" {
		t.Fatalf("E1 units: %s", r.Body)
	}
	if r := h.get("/v1/accounts/org:E1:CNY", e1).want(t, 200); r.str("balance") != "0.00" {
		t.Fatalf("E1 money: %s", r.Body)
	}
	if r := h.get("/v1/accounts/org:metro-jn:CNY", opTok).want(t, 200); r.str("balance") != "18000.00" {
		t.Fatalf("seller money: %s", r.Body)
	}
	h.post("/v1/trades/"+id+"/acceptance", e1, nil).want(t, 409, "trade_not_open")
	h.registryInvariants()

	// An unaccepted sale times out and both legs are released.
	late := h.post("/v1/trades", opTok, map[string]any{"buyer": "E2", "units": "100", "price_per_unit": "36.00", "timeout_seconds": 60}).want(t, 201)
	if r := h.get("/v1/holdings", opTok).want(t, 200); r.str("available") != "5603" {
		t.Fatalf("reserved: %s", r.Body)
	}
	h.advance(2 * time.Minute)
	// Past its timeout, before the sweep, view and units agree: offered,
	// its units reserved; it can no longer be accepted.
	if r := h.get("/v1/trades/"+late.str("id"), e2).want(t, 200); r.str("status") != "offered" || len(r.JSON["blocks"].([]any)) != 1 {
		t.Fatalf("at expiry: %s", r.Body)
	}
	if r := h.get("/v1/holdings", opTok).want(t, 200); r.str("available") != "5603" {
		t.Fatalf("reserved at expiry: %s", r.Body)
	}
	h.post("/v1/trades/"+late.str("id")+"/acceptance", e2, nil).want(t, 409, "trade_not_open")
	if n, err := h.l.VoidExpired(context.Background(), 100); err != nil || n != 1 {
		t.Fatalf("void expired: %d %v", n, err)
	}
	if r := h.get("/v1/trades/"+late.str("id"), e2).want(t, 200); r.str("status") != "expired" ||
		len(r.JSON["offered_serials"].([]any)) != 1 || r.JSON["offered_serials"].([]any)[0] != "CN37-SDCER-07-0001-5604-5703-2025" {
		t.Fatalf("expired: %s", r.Body)
	}
	if r := h.get("/v1/holdings", opTok).want(t, 200); r.str("available") != "5703" {
		t.Fatalf("released: %s", r.Body)
	}
	h.get("/v1/trades/"+late.str("id"), e1).want(t, 404, "not_found")

	// Cancellation by the seller releases at once.
	c := h.post("/v1/trades", opTok, map[string]any{"buyer": "E2", "units": "50", "price_per_unit": "1.00"}).want(t, 201)
	if r := h.post("/v1/trades/"+c.str("id")+"/cancellation", opTok, nil).want(t, 201); r.str("status") != "cancelled" {
		t.Fatalf("cancelled: %s", r.Body)
	}
	h.registryInvariants()
}

// DOMAIN.md §7 Retirement over HTTP, with the public certificate, plus
// freezes, offsets and administrative cancellation.
func TestRegistryRetirementOverHTTP(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	opTok := h.token(ledger.RoleOperator, "ops-1", "metro-jn", "")
	e1 := h.token(ledger.RoleEnterprise, "e-1", "E1", "")
	h.registryIssue("metro-jn", "6330000000", "126600000")
	h.post("/v1/holders", e1, map[string]any{"holder": "E1"}).want(t, 201)
	h.post("/v1/holders", prov, map[string]any{"holder": "E2"}).want(t, 201)
	tf := h.post("/v1/transfers", opTok, map[string]any{"to": "E1", "units": "500"}).want(t, 201)
	if b := tf.JSON["blocks"].([]any); len(b) != 1 || b[0].(map[string]any)["serial"] != "CN37-SDCER-07-0001-5704-6203-2025" {
		t.Fatalf("transfer: %s", tf.Body)
	}

	retire := map[string]any{"units": "300", "vintage": 2025, "purpose": "event_neutrality", "beneficiary": "2025 Jinan Marathon"}
	h.post("/v1/retirements", prov, retire).want(t, 403, "forbidden")
	cert := h.post("/v1/retirements", e1, retire).want(t, 201)
	if cert.str("tonnes") != "300" || cert.str("beneficiary") != "2025 Jinan Marathon" {
		t.Fatalf("certificate: %s", cert.Body)
	}
	// Anyone can verify it, without a token.
	pub := h.get("/v1/retirements/"+cert.str("id"), "").want(t, 200)
	if pub.str("tonnes") != "300" || pub.JSON["serials"].([]any)[0] != "CN37-SDCER-07-0001-5904-6203-2025" || pub.str("purpose") != "event_neutrality" {
		t.Fatalf("public certificate: %s", pub.Body)
	}
	h.get("/v1/retirements/00000000-0000-0000-0000-000000000000", "").want(t, 404, "not_found")
	// Retiring them again, or moving them, fails.
	h.post("/v1/retirements", e1, map[string]any{"units": "300", "vintage": 2025, "first_unit": 5904, "purpose": "other", "beneficiary": "x"}).
		want(t, 409, "units_unavailable")
	h.post("/v1/retirements", e1, retire).want(t, 409, "insufficient_balance")
	h.post("/v1/transfers", e1, map[string]any{"to": "E2", "units": "300", "vintage": 2025, "first_unit": 5904}).want(t, 409, "units_unavailable")
	// One retirement, one vintage.
	h.post("/v1/retirements", e1, map[string]any{"units": "1", "purpose": "other", "beneficiary": "x"}).want(t, 400, "invalid_request")

	// Freeze: province only; a frozen holding moves nothing.
	decision := map[string]any{"decision_ref": "SDEE-2026-17", "reason": "suspected double counting"}
	h.post("/v1/holders/E1/freeze", e1, decision).want(t, 403, "forbidden")
	if r := h.post("/v1/holders/E1/freeze", prov, decision).want(t, 201); r.str("status") != "frozen" {
		t.Fatalf("freeze: %s", r.Body)
	}
	h.post("/v1/transfers", e1, map[string]any{"to": "E2", "units": "1"}).want(t, 409, "account_frozen")
	h.post("/v1/holders/E1/unfreeze", prov, decision).want(t, 201)

	// Offsets within 5 % of the obligation the province recorded.
	h.post("/v1/registry/obligations", prov, map[string]any{"enterprise": "E1", "compliance_year": 2025, "verified_emissions_tonnes": "100",
		"obligation_tonnes": "100", "document_ref": "SDEE-ETS-2025-E1"}).want(t, 201)
	offset := map[string]any{"units": "6", "compliance_year": 2025, "obligation_tonnes": "100", "ets_reference": "ETS-SD-2025-E1"}
	h.post("/v1/offsets", e1, offset).want(t, 422, "offset_cap_exceeded")
	offset["units"] = "5"
	if r := h.post("/v1/offsets", e1, offset).want(t, 201); r.str("cap_units") != "5" || r.str("surrendered_units") != "5" {
		t.Fatalf("offset: %s", r.Body)
	}
	h.post("/v1/offsets", opTok, offset).want(t, 403, "forbidden")

	// Administrative cancellation with a decision reference.
	h.post("/v1/cancellations", e1, map[string]any{"holder": "E1", "units": "1", "decision_ref": "D", "reason": "r"}).want(t, 403, "forbidden")
	h.post("/v1/cancellations", prov, map[string]any{"holder": "E1", "units": "1", "decision_ref": "SDEE-2026-18", "reason": "double counting"}).want(t, 201)

	st := h.get("/v1/registry/stats", "").want(t, 200)
	tot := st.JSON["totals"].(map[string]any)
	if tot["issued"] != "6203" || tot["retired"] != "300" || tot["surrendered"] != "5" || tot["cancelled"] != "1" || tot["held"] != "5897" {
		t.Fatalf("stats: %s", st.Body)
	}
	if r := h.get("/v1/holdings", e1).want(t, 200); r.str("balance") != "194" {
		t.Fatalf("E1: %s", r.Body)
	}
	// Read access: own holdings only; oversight reads any; citizens none.
	h.get("/v1/holdings?holder=metro-jn", e1).want(t, 404, "not_found")
	h.get("/v1/holdings?holder=E1", h.token(ledger.RoleAuditor, "a-1", "", "")).want(t, 200)
	h.get("/v1/holdings", h.token(ledger.RoleCitizen, "c-1", "", "")).want(t, 403, "forbidden")
	h.registryInvariants()
}
