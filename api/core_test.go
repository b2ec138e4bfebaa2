package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

func transfer(from, to, amount string) map[string]any {
	return map[string]any{"kind": "transfer", "postings": []map[string]string{
		{"account": from, "amount": "-" + amount}, {"account": to, "amount": amount}}}
}

// openFunded opens org money accounts and deposits into each.
func (h *harness) openFunded(prov string, amount string, orgs ...string) []string {
	h.t.Helper()
	var ids []string
	if r := h.post("/v1/accounts", prov, map[string]any{"id": "external:CNY"}); r.Status != 201 && r.Status != 200 {
		h.t.Fatalf("open external:CNY: %d %s", r.Status, r.Body)
	}
	for _, o := range orgs {
		id := "org:" + o + ":CNY"
		h.post("/v1/accounts", prov, map[string]any{"id": id}).want(h.t, 201)
		h.post("/v1/transactions", prov, transfer("external:CNY", id, amount)).want(h.t, 201)
		ids = append(ids, id)
	}
	return ids
}

func TestTransactionsEndToEnd(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	a, b := ledgertest.ID("a"), ledgertest.ID("b")
	ids := h.openFunded(prov, "100.00", a, b)

	r := h.post("/v1/transactions", prov, transfer(ids[0], ids[1], "30.50"), withKey("k-1")).want(t, 201)
	txID := r.str("id")
	// Replay: 200, same transaction, header says so.
	r2 := h.post("/v1/transactions", prov, transfer(ids[0], ids[1], "30.50"), withKey("k-1")).want(t, 200)
	if r2.str("id") != txID || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %s", r2.Body)
	}
	h.post("/v1/transactions", prov, transfer(ids[0], ids[1], "30.51"), withKey("k-1")).want(t, 409, "idempotency_conflict")
	h.post("/v1/transactions", prov, transfer(ids[0], ids[1], "1000.00")).want(t, 409, "insufficient_balance")

	acct := h.get("/v1/accounts/"+ids[0], prov).want(t, 200)
	if acct.str("balance") != "69.50" || acct.str("available") != "69.50" {
		t.Fatalf("account: %s", acct.Body)
	}
	h.get("/v1/transactions/"+txID, prov).want(t, 200)

	// An enterprise sees its own money account and transactions touching it, nothing else.
	ent := h.token(ledger.RoleEnterprise, "e-admin", a, "")
	h.get("/v1/accounts/"+ids[0], ent).want(t, 200)
	h.get("/v1/accounts/"+ids[1], ent).want(t, 404, "not_found")
	h.get("/v1/transactions/"+txID, ent).want(t, 200)
	h.get("/v1/transactions/"+txID, h.token(ledger.RoleEnterprise, "x", "other", "")).want(t, 404)

	// Two-phase over HTTP.
	hold := transfer(ids[0], ids[1], "9.50")
	hold["pending"], hold["timeout_seconds"] = true, 3600
	p := h.post("/v1/transactions", prov, hold).want(t, 201)
	if got := h.get("/v1/accounts/"+ids[0], prov).str("available"); got != "60.00" {
		t.Fatalf("available after hold %s", got)
	}
	h.post("/v1/transactions/"+p.str("id")+"/post", prov, nil).want(t, 201)
	h.post("/v1/transactions/"+p.str("id")+"/void", prov, nil).want(t, 409, "pending_already_resolved")

	// Reopening an account is harmless; other metadata is a conflict.
	h.post("/v1/accounts", prov, map[string]any{"id": ids[0]}).want(t, 200)
	h.post("/v1/accounts", prov, map[string]any{"id": ids[0], "metadata": map[string]string{"x": "y"}}).want(t, 409, "account_exists")
	// The balance as of a time before the first posting is zero.
	if got := h.get("/v1/accounts/"+ids[0]+"?as_of=2021-01-01T00:00:00Z", prov).want(t, 200).str("balance"); got != "0.00" {
		t.Fatalf("as_of: %s", got)
	}
	// A correction references what it corrects, which must exist.
	corr := transfer(ids[1], ids[0], "0.50")
	corr["corrects"] = txID
	if got := h.post("/v1/transactions", prov, corr).want(t, 201).str("id"); got == "" {
		t.Fatal("no correction id")
	}
	corr["corrects"] = "01a22394-2f0f-7a29-b1ae-1dd8eb56f32e"
	h.post("/v1/transactions", prov, corr).want(t, 404, "not_found")

	// Reversal once.
	h.post("/v1/transactions/"+txID+"/reversal", prov, map[string]any{"metadata": map[string]string{"case": "R-1"}}).want(t, 201)
	h.post("/v1/transactions/"+txID+"/reversal", prov, nil).want(t, 409, "already_reversed")

	// History pages.
	page := h.get("/v1/accounts/"+ids[0]+"/postings?limit=2", prov).want(t, 200)
	if len(page.JSON["items"].([]any)) != 2 || page.str("next_cursor") == "" {
		t.Fatalf("page: %s", page.Body)
	}
	next := h.get("/v1/accounts/"+ids[0]+"/postings?limit=2&cursor="+page.str("next_cursor"), prov).want(t, 200)
	if len(next.JSON["items"].([]any)) == 0 {
		t.Fatal("second page empty")
	}
	h.verifyClean()
}

func TestBatchOverHTTP(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	ids := h.openFunded(prov, "10.00", ledgertest.ID("x"), ledgertest.ID("y"))
	body := map[string]any{"items": []any{
		transfer(ids[0], ids[1], "1.00"),
		transfer(ids[0], ids[1], "100.00"),
		map[string]any{"kind": "transfer", "postings": []map[string]string{{"account": ids[0], "amount": "-1.001"}, {"account": ids[1], "amount": "1.001"}}},
	}}
	r := h.post("/v1/transactions/batch", prov, body).want(t, 201)
	items := r.JSON["items"].([]any)
	statuses := []string{}
	for _, it := range items {
		statuses = append(statuses, it.(map[string]any)["status"].(string))
	}
	if fmt.Sprint(statuses) != "[posted failed failed]" {
		t.Fatalf("statuses %v: %s", statuses, r.Body)
	}
	body["atomic"] = true
	h.post("/v1/transactions/batch", prov, body).want(t, 400, "invalid_amount")
	body["items"] = body["items"].([]any)[:2]
	r = h.post("/v1/transactions/batch", prov, body).want(t, 409, "insufficient_balance")
	if r.str("field") != "items[1]" {
		t.Fatalf("atomic failure should name the item: %s", r.Body)
	}
	if got := h.get("/v1/accounts/"+ids[0], prov).str("balance"); got != "9.00" {
		t.Fatalf("atomic failure moved money: %s", got)
	}
	tooMany := make([]any, ledger.TransactionsPerBatchMax+1)
	for i := range tooMany {
		tooMany[i] = transfer(ids[0], ids[1], "0.01")
	}
	r = h.post("/v1/transactions/batch", prov, map[string]any{"items": tooMany})
	if r.Status != 400 && r.Status != 413 {
		t.Fatalf("oversized batch: %d %s", r.Status, r.Body)
	}
}

// Bad input of every kind gets a 4xx problem+json with a stable code and
// writes nothing.
func TestBadInputIsProblemJSON(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	ids := h.openFunded(prov, "10.00", "bi-a", "bi-b")
	huge := `{"kind":"transfer","metadata":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	cases := []struct {
		name   string
		opts   []reqOpt
		body   any
		status int
		code   string
	}{
		{"malformed", []reqOpt{withRawBody(`{"kind":`)}, nil, 400, "invalid_request"},
		{"not an object", []reqOpt{withRawBody(`[1,2]`)}, nil, 400, "invalid_request"},
		{"two objects", []reqOpt{withRawBody(`{} {}`)}, nil, 400, "invalid_request"},
		{"empty", []reqOpt{withRawBody(``)}, nil, 400, "invalid_request"},
		{"unknown field", []reqOpt{withRawBody(`{"kind":"t","postings":[],"debit":"x"}`)}, nil, 400, "invalid_request"},
		{"number amount", []reqOpt{withRawBody(`{"kind":"t","postings":[{"account":"org:bi-a:CNY","amount":-1},{"account":"org:bi-b:CNY","amount":1}]}`)}, nil, 400, "invalid_request"},
		{"huge body", []reqOpt{withRawBody(huge)}, nil, 413, "body_too_large"},
		{"xml", []reqOpt{withRawBody(`<tx/>`), withContentType("application/xml")}, nil, 415, "unsupported_media_type"},
		{"no key", []reqOpt{withoutKey()}, transfer(ids[0], ids[1], "1.00"), 400, "idempotency_key_required"},
		{"bad key", []reqOpt{withKey("has space")}, transfer(ids[0], ids[1], "1.00"), 400, "invalid_request"},
		{"too precise", nil, transfer(ids[0], ids[1], "1.001"), 400, "invalid_amount"},
		{"nan", nil, transfer(ids[0], ids[1], "NaN"), 400, "invalid_amount"},
		{"exponent", nil, transfer(ids[0], ids[1], "1e3"), 400, "invalid_amount"},
		{"too big", nil, transfer(ids[0], ids[1], strings.Repeat("9", 40)), 400, "invalid_amount"},
		{"unbalanced", nil, map[string]any{"kind": "t", "postings": []map[string]string{{"account": ids[0], "amount": "-1.00"}, {"account": ids[1], "amount": "2.00"}}}, 422, "unbalanced_transaction"},
		{"unknown account", nil, transfer(ids[0], "org:nobody:CNY", "1.00"), 422, "account_not_found"},
		{"off-chart account", nil, transfer(ids[0], "world", "1.00"), 400, "invalid_account"},
		{"nul in metadata", []reqOpt{withRawBody(`{"kind":"t","metadata":{"n":"\u0000"},"postings":[{"account":"org:bi-a:CNY","amount":"-1"},{"account":"org:bi-b:CNY","amount":"1"}]}`)}, nil, 400, "invalid_request"},
		{"year zero", []reqOpt{withRawBody(`{"kind":"t","effective_at":"0000-01-01T00:00:00+01:00","postings":[{"account":"org:bi-a:CNY","amount":"-1"},{"account":"org:bi-b:CNY","amount":"1"}]}`)}, nil, 400, "invalid_request"},
		{"negative timeout", nil, map[string]any{"kind": "t", "pending": true, "timeout_seconds": -5, "postings": []map[string]string{{"account": ids[0], "amount": "-1"}, {"account": ids[1], "amount": "1"}}}, 400, "invalid_request"},
	}
	for _, c := range cases {
		r := h.post("/v1/transactions", prov, c.body, c.opts...)
		if r.Status != c.status || r.code() != c.code {
			t.Errorf("%s: got %d %s, want %d %s", c.name, r.Status, r.code(), c.status, c.code)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: content type %s", c.name, r.Header.Get("Content-Type"))
		}
	}
	h.get("/v1/accounts/"+ids[0]+"/postings?limit=0", prov).want(t, 400, "invalid_request")
	h.get("/v1/accounts/"+ids[0]+"/postings?cursor=garbage!", prov).want(t, 400, "invalid_request")
	h.get("/v1/transactions/not-a-uuid", prov).want(t, 404, "not_found")
	h.get("/v1/nowhere", prov).want(t, 404, "not_found")
	h.do("DELETE", "/v1/transactions", prov, nil).want(t, 405, "method_not_allowed")
	// Nothing was written by any of it.
	if got := h.get("/v1/accounts/"+ids[0], prov).str("balance"); got != "10.00" {
		t.Fatalf("bad input moved money: %s", got)
	}
	h.verifyClean()
}

func TestRateLimitPerPrincipal(t *testing.T) {
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) { c.RatePerSecond, c.RateBurst = 1, 3 })
	// Its own account to read: run alone, no other test has opened it.
	if err := h.l.EnsureAccounts(t.Context(), "external:CNY"); err != nil {
		t.Fatal(err)
	}
	tok := h.token(ledger.RoleAuditor, "a1", "", "")
	limited := 0
	for i := 0; i < 8; i++ {
		if r := h.get("/v1/accounts/external:CNY", tok); r.Status == 429 {
			limited++
			if r.code() != "rate_limited" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without code or Retry-After: %s", r.Body)
			}
		}
	}
	if limited == 0 {
		t.Fatal("no request was rate limited")
	}
	// Another principal has its own budget.
	h.get("/v1/accounts/external:CNY", h.token(ledger.RoleAuditor, "a2", "", "")).want(t, 200)
}

// Every route is in the OpenAPI document, with its method.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	h := newHarness(t, false)
	r := h.get("/openapi.json", "").want(t, 200)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	if len(h.server.routes) < 15 {
		t.Fatalf("only %d routes", len(h.server.routes))
	}
	for _, rt := range h.server.routes {
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s missing from openapi.json", rt.Method, rt.Path)
			continue
		}
		if m, _ := op.(map[string]any); m["summary"] == "" || m["responses"] == nil {
			t.Errorf("%s %s: no summary or responses", rt.Method, rt.Path)
		}
		// And the route really is served (not 404 from the fallback).
		req, _ := http.NewRequest(rt.Method, strings.NewReplacer("{id}", "x").Replace(rt.Path), nil)
		if _, pattern := h.server.mux.Handler(req); pattern != rt.Method+" "+rt.Path {
			t.Errorf("%s %s not registered (matched %q)", rt.Method, rt.Path, pattern)
		}
	}
	h.get("/healthz", "").want(t, 200)
	h.get("/readyz", "").want(t, 200)
	m := h.get("/metrics", "").want(t, 200)
	for _, want := range []string{"carbonledger_http_requests_total", "carbonledger_http_request_duration_seconds_bucket", "carbonledger_tx_retries_total", "carbonledger_postings_total", "carbonledger_build_info{", `,version="`} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Concurrent duplicates of one request through HTTP post once.
func TestConcurrentDuplicateRequests(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	ids := h.openFunded(prov, "10.00", ledgertest.ID("d"), ledgertest.ID("e"))
	var wg sync.WaitGroup
	got := make([]string, 12)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := h.post("/v1/transactions", prov, transfer(ids[0], ids[1], "1.00"), withKey("dup-"+ids[0]))
			got[i] = r.str("id")
		}(i)
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("ids differ: %v", got)
		}
	}
	if b := h.get("/v1/accounts/"+ids[0], prov).str("balance"); b != "9.00" {
		t.Fatalf("posted more than once: %s", b)
	}
}

// A transaction that touches several owners shows each non-oversight
// reader only its own postings.
func TestTransactionReadIsRedacted(t *testing.T) {
	h := newHarness(t, false)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	a, b, c := ledgertest.ID("ra"), ledgertest.ID("rb"), ledgertest.ID("rc")
	ids := h.openFunded(prov, "10.00", a, b, c)
	body := map[string]any{"kind": "split", "postings": []map[string]string{
		{"account": ids[0], "amount": "-2.00"}, {"account": ids[1], "amount": "1.00"}, {"account": ids[2], "amount": "1.00"}}}
	id := h.post("/v1/transactions", prov, body).want(t, 201).str("id")
	r := h.get("/v1/transactions/"+id, h.token(ledger.RoleEnterprise, "u", b, "")).want(t, 200)
	ps := r.JSON["postings"].([]any)
	if len(ps) != 1 || ps[0].(map[string]any)["account"] != ids[1] {
		t.Fatalf("enterprise %s sees %s", b, r.Body)
	}
	if got := h.get("/v1/transactions/"+id, prov).want(t, 200).JSON["postings"].([]any); len(got) != 3 {
		t.Fatalf("province sees %d postings", len(got))
	}
}

// No two Go types share an OpenAPI schema name (one would silently take
// the other's shape).
func TestOpenAPISchemaNamesAreUnique(t *testing.T) {
	h := newHarness(t, false)
	seen := map[string]reflect.Type{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map || ty.Kind() == reflect.Array {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || ty == timeType || ty == decimalType {
			return
		}
		name := schemaName(ty)
		if prev, ok := seen[name]; ok {
			if prev != ty {
				t.Errorf("schema %s names both %v and %v", name, prev, ty)
			}
			return
		}
		seen[name] = ty
		for i := 0; i < ty.NumField(); i++ {
			walk(ty.Field(i).Type)
		}
	}
	for _, rt := range h.server.routes {
		for _, v := range []any{rt.In, rt.Out} {
			if v != nil {
				walk(reflect.TypeOf(v))
			}
		}
	}
	if len(seen) < 20 {
		t.Fatalf("only %d schemas", len(seen))
	}
}

// Only one full verification runs at a time per server.
func TestVerifyRunsOneAtATime(t *testing.T) {
	h := newHarness(t, false)
	h.server.verifying <- struct{}{} // a verification in progress
	r := h.get("/v1/audit/verify", h.token(ledger.RoleAuditor, "a-one", "", "")).want(t, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	<-h.server.verifying
	h.verifyClean()
}

// The error responses' Problem schema is an object, not a reference to
// itself.
func TestOpenAPIProblemSchema(t *testing.T) {
	h := newHarness(t, false)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Ref        string         `json:"$ref"`
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(h.get("/openapi.json", "").want(t, 200).Body, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Components.Schemas["Problem"]
	if p.Ref != "" || p.Properties["code"] == nil || p.Properties["status"] == nil {
		t.Fatalf("Problem schema: %+v", p)
	}
}

// Requests no route serves are counted under route "unmatched" with
// their status, so a wrong client path shows in the metrics.
func TestUnmatchedRequestsAreCounted(t *testing.T) {
	h := newHarness(t, false)
	h.get("/v1/no-such-thing", "").want(t, 404, "not_found")
	h.do("DELETE", "/healthz", "", nil).want(t, 405, "method_not_allowed")
	m := string(h.get("/metrics", "").want(t, 200).Body)
	for _, want := range []string{`carbonledger_http_requests_total{route="unmatched",status="404"}`, `carbonledger_http_requests_total{route="unmatched",status="405"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
