package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// harness is a real server on a real database, driven over HTTP.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client // checks every exchange against /openapi.json
	server *Server
	l      *ledger.Ledger
	key    *SigningKey
	mu     sync.Mutex
	now    time.Time
}

type harnessOpt func(*Config, *ledger.Options)

// testUseCases is cmd's list of use cases, for the server under test.
var testUseCases = []ledger.UseCase{points.UseCase, registry.UseCase, quota.UseCase}

// withFreshDB gives the harness a database of its own (for global totals).
func newHarness(t *testing.T, fresh bool, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, key: GenerateSigningKey(), now: time.Now()}
	pool := ledgertest.Shared(t)
	if fresh {
		pool = ledgertest.Fresh(t)
	}
	lopts := ledger.Options{Now: h.clock}
	cfg := Config{SigningKey: h.key, Now: time.Now, UseCases: testUseCases}
	for _, o := range opts {
		o(&cfg, &lopts)
	}
	h.l = ledgertest.Ledger(t, pool, lopts)
	cfg.Ledger = h.l
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.server = s
	h.srv = httptest.NewServer(s.Handler())
	t.Cleanup(h.srv.Close)
	c, err := sharedContract(s)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	h.client = h.srv.Client()
	h.client.Transport = c.Transport(h.client.Transport, func(err error) { t.Errorf("contract: %v", err) })
	t.Cleanup(func() {
		if u := s.UndeclaredQueryReads(); len(u) > 0 {
			t.Errorf("handlers read query parameters their routes do not declare: %v", u)
		}
	})
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

// advance moves the ledger clock (claim windows, expiry, timeouts).
func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// token mints a valid token for a role; sub, org and city as given.
func (h *harness) token(role, sub, org, city string) string {
	h.t.Helper()
	tok, err := h.key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: role, Sub: sub, Org: org, City: city, TTL: time.Hour}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// str reads a top-level string field ("" if absent).
func (r *resp) str(k string) string { s, _ := r.JSON[k].(string); return s }

// code is the problem code of an error response.
func (r *resp) code() string { return r.str("code") }

// reqOpt changes a request before it is sent.
type reqOpt func(*http.Request)

func withKey(k string) reqOpt       { return func(r *http.Request) { r.Header.Set("Idempotency-Key", k) } }
func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func withoutKey() reqOpt            { return func(r *http.Request) { r.Header.Del("Idempotency-Key") } }
func withRawBody(b string) reqOpt {
	return func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(b)); r.ContentLength = int64(len(b)) }
}
func withContentType(ct string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Content-Type", ct) }
}

// do sends a request; body is marshalled as JSON unless nil. POSTs get a
// fresh Idempotency-Key unless an option sets or removes it.
func (h *harness) do(method, path, token string, body any, opts ...reqOpt) *resp {
	h.t.Helper()
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rdr)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", uuid.NewString())
	}
	for _, o := range opts {
		o(req)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	out := &resp{Status: res.StatusCode, Header: res.Header}
	out.Body, _ = io.ReadAll(res.Body)
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		_ = json.Unmarshal(out.Body, &out.JSON)
	}
	if res.StatusCode >= 500 {
		h.t.Errorf("%s %s: server error %d: %s", method, path, res.StatusCode, out.Body)
	}
	if res.StatusCode >= 400 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		h.t.Errorf("%s %s: error %d without problem+json: %s", method, path, res.StatusCode, out.Body)
	}
	return out
}

func (h *harness) get(path, token string) *resp { h.t.Helper(); return h.do("GET", path, token, nil) }

func (h *harness) post(path, token string, body any, opts ...reqOpt) *resp {
	h.t.Helper()
	return h.do("POST", path, token, body, opts...)
}

// want fails the test unless the response has the status (and, for
// errors, the problem code when given).
func (r *resp) want(t *testing.T, status int, code ...string) *resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if len(code) > 0 && r.code() != code[0] {
		t.Fatalf("code %q, want %q: %s", r.code(), code[0], r.Body)
	}
	return r
}

// verifyClean asserts the ledger invariants through the audit endpoint.
func (h *harness) verifyClean() {
	h.t.Helper()
	r := h.get("/v1/audit/verify", h.token(ledger.RoleAuditor, "auditor-1", "", ""))
	r.want(h.t, 200)
	if ok, _ := r.JSON["ok"].(bool); !ok {
		h.t.Fatalf("verify: %s", r.Body)
	}
}
