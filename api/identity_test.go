package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Two operators of different organisations whose tokens carry the same
// sub send the same body with the same key: each gets its own write (its
// own organisation's batch), neither the other's stored result.
func TestSameSubOtherOrgWritesItsOwn(t *testing.T) {
	h := newHarness(t, true)
	body := map[string]any{"methodology": "metro-v1", "period": "2025", "sector": "07", "project": "0001"}
	for _, org := range []string{"metro-a", "metro-b"} {
		h.registryFundPool(org, "metro-v1", "2025", "5000000")
		op := h.token(ledger.RoleOperator, "ops-same", org, "")
		r := h.post("/v1/certifications", op, body, withKey("same-key")).want(t, 201)
		if r.Header.Get("Idempotent-Replayed") != "" || r.str("operator") != org {
			t.Fatalf("operator of %s: %s (replayed=%q), want its own batch", org, r.Body, r.Header.Get("Idempotent-Replayed"))
		}
		// Its own replay is still a replay.
		again := h.post("/v1/certifications", op, body, withKey("same-key")).want(t, 200)
		if again.str("id") != r.str("id") || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay for %s: %s", org, again.Body)
		}
	}
	h.verifyClean()
}

// The journal records the whole principal as the actor.
func TestJournalActorIsTheWholePrincipal(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p-who", "", "")
	org := "who-" + strings.ToLower(h.key.KID[:6])
	to := h.openFunded(prov, "10.00", org)[0]
	cityProv := h.token(ledger.RoleProvince, "p-who", "", "3701")
	r := h.post("/v1/transactions", cityProv, transfer("external:CNY", to, "1.00")).want(t, 201)
	if got := r.str("actor"); got != "province:p-who@city:3701" {
		t.Fatalf("actor = %q, want the whole principal", got)
	}
}

// Item 0 of a batch sent with key K is not a single write sent with key
// K/0: batch items have keys of their own namespace.
func TestBatchItemIsNotASingleWrite(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p-batch-ns", "", "")
	org := "bns-" + strings.ToLower(h.key.KID[:6])
	to := h.openFunded(prov, "10.00", org)[0]
	single := h.post("/v1/transactions", prov, transfer("external:CNY", to, "1.00"), withKey("K-ns/0")).want(t, 201)
	b := h.post("/v1/transactions/batch", prov, map[string]any{"atomic": false, "items": []any{transfer("external:CNY", to, "1.00")}},
		withKey("K-ns")).want(t, 201)
	items, _ := b.JSON["items"].([]any)
	item, _ := items[0].(map[string]any)
	tx, _ := item["transaction"].(map[string]any)
	if item["status"] != "posted" || tx["id"] == single.str("id") {
		t.Fatalf("batch item 0 = %v, want a new posting, not the single write %s", item, single.str("id"))
	}
	if a := h.get("/v1/accounts/"+to, prov).want(t, 200); a.JSON["balance"] != "12.00" {
		t.Fatalf("balance %v, want 12.00: the item was not written", a.JSON["balance"])
	}
}

// A citizen token that carries org=E2 is not E2: it may not read E2's
// trade (the route admits only holders, the province and auditors).
func TestTradeReadChecksTheRole(t *testing.T) {
	h := newHarness(t, true)
	trade := h.registryTrade(t, "metro-seller", "E2")
	for _, tok := range []string{
		h.token(ledger.RoleCitizen, "c-nosy", "E2", ""),
		h.token(ledger.RoleCity, "city-nosy", "E2", "3701"),
		h.token(ledger.RoleVerifier, "v-nosy", "E2", ""),
	} {
		h.get("/v1/trades/"+trade, tok).want(t, 403, "forbidden")
	}
	h.get("/v1/trades/"+trade, h.token(ledger.RoleEnterprise, "u-e2", "E2", "")).want(t, 200)
	h.get("/v1/trades/"+trade, h.token(ledger.RoleEnterprise, "u-e3", "E3", "")).want(t, 404, "not_found")
}

// registryTrade issues units to an operator (the seller) and offers one
// of them to buyer; it returns the open trade's id.
func (h *harness) registryTrade(t *testing.T, seller, buyer string) string {
	t.Helper()
	h.registryIssue(seller, "5000000", "0")
	op := h.token(ledger.RoleOperator, "ops-1", seller, "")
	h.post("/v1/holders", h.token(ledger.RoleEnterprise, "u-buyer", buyer, ""), map[string]any{"holder": buyer}).want(t, 201)
	r := h.post("/v1/trades", op, map[string]any{"buyer": buyer, "units": "1", "price_per_unit": "36.00", "timeout_seconds": 3600}).want(t, 201)
	return r.str("id")
}

// An account's status change keeps its reason, and the reason is part of
// the request: the same key with another reason is a conflict.
func TestAccountStatusReasonIsPartOfTheRequest(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p-status", "", "")
	id := "org:st-" + strings.ToLower(h.key.KID[:6]) + ":CNY"
	h.post("/v1/accounts", prov, map[string]any{"id": id}).want(t, 201)
	body := map[string]any{"status": "frozen", "reason": "decision 2026-17"}
	h.post("/v1/accounts/"+id+"/status", prov, body, withKey("st-1")).want(t, 201)
	h.post("/v1/accounts/"+id+"/status", prov, body, withKey("st-1")).want(t, 200)
	h.post("/v1/accounts/"+id+"/status", prov, map[string]any{"status": "frozen", "reason": "another decision"}, withKey("st-1")).
		want(t, 409, "idempotency_conflict")
	events, err := ledger.ReadValue(t.Context(), h.l, func(r *ledger.Reader) ([]ledger.TrailEvent, error) {
		return r.Trail(ledger.TrailUseCase, ledger.AccountSubject(id))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Reason != "decision 2026-17" {
		t.Fatalf("status trail: %+v, want one event with the reason", events)
	}
}

// POST /v1/accounts answers a replay like every other POST: 200 with
// Idempotent-Replayed, whether the first request created the account.
func TestOpenAccountReplay(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p-open", "", "")
	id := "org:op-" + strings.ToLower(h.key.KID[:6]) + ":CNY"
	first := h.post("/v1/accounts", prov, map[string]any{"id": id}, withKey("open-1")).want(t, 201)
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("a new account is marked replayed")
	}
	again := h.post("/v1/accounts", prov, map[string]any{"id": id}, withKey("open-1")).want(t, 200)
	if again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay without Idempotent-Replayed: %v", again.Header)
	}
	// Another key for the same account: it exists as asked (200), and
	// that is no replay.
	other := h.post("/v1/accounts", prov, map[string]any{"id": id}, withKey("open-2")).want(t, 200)
	if other.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("another key's answer is marked replayed")
	}
}

// NUL bytes and invalid UTF-8 anywhere in a request are 400
// invalid_request, never a 5xx.
func TestNULAndInvalidUTF8AreBadRequests(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p-nul", "", "")
	cit := h.token(ledger.RoleCitizen, "c-nul", "", "")
	for _, c := range []struct {
		name, method, path string
		token              string
		opts               []reqOpt
	}{
		{"NUL in the path", "GET", "/v1/accounts/%00", prov, nil},
		{"NUL in a path id", "GET", "/v1/accounts/org:a%00b:CNY", prov, nil},
		{"invalid UTF-8 in the path", "GET", "/v1/accounts/%FF%FE", prov, nil},
		{"NUL in the query", "GET", "/v1/holdings?holder=%00", prov, nil},
		{"invalid UTF-8 in the query", "GET", "/v1/quota/report?city=%C3%28", prov, nil},
		{"NUL in a query name", "GET", "/v1/methodologies?a%00=1", prov, nil},
		{"malformed query escape", "GET", "/v1/methodologies?all=%zz", prov, nil},
		{"invalid UTF-8 in a header", "GET", "/v1/methodologies", prov, []reqOpt{withHeader("X-Note", "caf\xe9")}},
		{"\\u0000 in a body string", "POST", "/v1/me/redemptions", cit, []reqOpt{withRawBody(`{"reward": "r\u0000x"}`)}},
		{"\\u0000 in a key", "POST", "/v1/me/redemptions", cit, []reqOpt{withRawBody(`{"rew\u0000ard": "x"}`)}},
		{"invalid UTF-8 in a body string", "POST", "/v1/me/redemptions", cit, []reqOpt{withRawBody("{\"reward\": \"r\xffx\"}")}},
		{"NUL in an account status reason", "POST", "/v1/accounts/external:CNY/status", prov, []reqOpt{withRawBody(`{"status": "frozen", "reason": "\u0000"}`)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]reqOpt{withContentType("application/json")}, c.opts...)
			r := h.do(c.method, c.path, c.token, nil, opts...)
			r.want(t, http.StatusBadRequest, "invalid_request")
		})
	}
	// What no route serves is 404, whatever it holds.
	h.get("/v1/nothing/%00", prov).want(t, 404, "not_found")
	// An escaped backslash before "u0000" is text, not a NUL.
	r := h.post("/v1/me/redemptions", cit, nil, withContentType("application/json"), withRawBody(`{"reward": "a\\u0000"}`))
	if r.code() == "invalid_request" && strings.Contains(r.str("detail"), "NUL") {
		t.Fatalf("an escaped backslash was read as a NUL: %s", r.Body)
	}
}
