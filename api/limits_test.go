package api

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The burst follows the rate (twice it), as the README says.
func TestRateBurstFollowsTheRate(t *testing.T) {
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) { c.RatePerSecond = 5 })
	tok := h.token(ledger.RoleAuditor, "burst-1", "", "")
	passed := 0
	for range 16 {
		if r := h.get("/v1/methodologies", tok); r.Status == 200 {
			passed++
		} else {
			r.want(t, 429, "rate_limited")
		}
	}
	// A burst of 10, and perhaps a token or two refilled meanwhile.
	if passed < 10 || passed > 12 {
		t.Fatalf("%d of 16 requests passed, want the burst of 10", passed)
	}
}

// Each heavy route has its own budget per principal: exhausting one
// leaves the others, and ordinary routes, usable.
func TestHeavyRoutesHaveTheirOwnLimits(t *testing.T) {
	h := newHarness(t, false)
	aud := h.token(ledger.RoleAuditor, "heavy-1", "", "")
	for range rateExpensiveBurst {
		h.get("/v1/quota/reserves", aud).want(t, 200)
	}
	h.get("/v1/quota/reserves", aud).want(t, 429, "rate_limited")
	h.get("/v1/indices/CEI/reserves", aud).want(t, 200)
	h.get("/v1/methodologies", aud).want(t, 200)
	// Another principal has budgets of its own.
	h.get("/v1/quota/reserves", h.token(ledger.RoleAuditor, "heavy-2", "", "")).want(t, 200)
}

// Requests without a valid token are limited per client address; a
// client cannot choose its address with X-Forwarded-For unless the peer
// is a trusted proxy.
func TestPublicRequestsLimitedPerAddress(t *testing.T) {
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) { c.PublicRatePerSecond = 0.01 }) // burst 1
	h.get("/healthz", "").want(t, 200)
	h.do("GET", "/healthz", "", nil, withHeader("X-Forwarded-For", "203.0.113.9")).want(t, 429, "rate_limited")
	// A request whose token fails is the address's too.
	h.get("/v1/me", "not-a-token").want(t, 429, "rate_limited")
	// A valid token is its principal's budget, not the address's.
	h.get("/v1/methodologies", h.token(ledger.RoleCitizen, "c-limit", "", "")).want(t, 200)

	// A public route that takes an optional token counts a request with a
	// bad one once: with a budget of one it is refused for its token
	// (401), not for a second charge to its address (429).
	o := newHarness(t, false, func(c *Config, _ *ledger.Options) { c.PublicRatePerSecond = 0.01 })
	o.get("/v1/certifications/"+uuid.NewString(), "not-a-token").want(t, 401, "unauthorized")

	p := newHarness(t, false, func(c *Config, _ *ledger.Options) {
		c.PublicRatePerSecond = 0.01
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	for _, client := range []string{"203.0.113.1", "203.0.113.2", "198.51.100.7, 203.0.113.3"} {
		p.do("GET", "/healthz", "", nil, withHeader("X-Forwarded-For", client)).want(t, 200)
	}
	p.do("GET", "/healthz", "", nil, withHeader("X-Forwarded-For", "203.0.113.1")).want(t, 429, "rate_limited")
	// The rightmost untrusted hop is the client, whatever it wrote before.
	p.do("GET", "/healthz", "", nil, withHeader("X-Forwarded-For", "10.9.9.9, 203.0.113.2")).want(t, 429, "rate_limited")
}

func TestClientAddress(t *testing.T) {
	l := newLimiters(rateSpec{1, 1}, rateSpec{1, 1}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"203.0.113.5"}, "192.0.2.1"}, // untrusted peer: the header is ignored
		{"10.1.1.1:5000", nil, "10.1.1.1"},
		{"10.1.1.1:5000", []string{"203.0.113.5"}, "203.0.113.5"},
		{"10.1.1.1:5000", []string{"198.51.100.1, 203.0.113.5, 10.2.2.2"}, "203.0.113.5"},
		{"10.1.1.1:5000", []string{"198.51.100.1", "203.0.113.5"}, "203.0.113.5"}, // several header lines
		{"10.1.1.1:5000", []string{"garbage, 203.0.113.5"}, "203.0.113.5"},
		{"10.1.1.1:5000", []string{"203.0.113.5, garbage"}, "10.1.1.1"}, // a malformed nearest hop: trust nothing beyond
		{"[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"[::ffff:10.1.1.1]:5000", []string{"203.0.113.5"}, "203.0.113.5"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := l.clientAddress(r); got != c.want {
			t.Errorf("%s %v: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// Cities read their own city's rows of the two-high reserves and flows;
// the province and auditors read every city's.
func TestCityReadsItsOwnRows(t *testing.T) {
	h := newQuotaHarness(t)
	src := h.post("/v1/quota/sources", h.city3704, map[string]any{"city": "3704", "enterprise": "zz-coking", "route": "closure",
		"tonnes": "1000000", "formed_on": "2022-06-30", "evidence_ref": "ZZ-EEB-2022-017", "reason": "coke ovens demolished"}).want(t, 201)
	h.post("/v1/quota/sources/"+src.str("id")+"/approval", h.prov, map[string]any{"approve": true, "reason": "evidence checked"}).want(t, 201)
	h.post("/v1/quota/stockpilings", h.prov, map[string]any{"source_id": src.str("id"), "reason": "batch 1"}).want(t, 201)

	for _, c := range []struct {
		token, city, inReserve string
	}{{h.city3704, "3704", "500000"}, {h.city3709, "3709", "0"}} {
		r := h.get("/v1/quota/reserves", c.token).want(t, 200)
		rows := arr(r.JSON["rows"])
		if len(rows) != 1 || obj(rows[0])["reserve"] != c.city || obj(rows[0])["in_reserve"] != c.inReserve || obj(r.JSON["total"])["in_reserve"] != c.inReserve {
			t.Fatalf("reserves as city %s: %s", c.city, r.Body)
		}
		h.get("/v1/indices/CEI/reserves", c.token).want(t, 200)
	}
	if r := h.get("/v1/quota/reserves", h.aud).want(t, 200); len(arr(r.JSON["rows"])) < 17 || obj(r.JSON["total"])["in_reserve"] != "1000000" {
		t.Fatalf("reserves as auditor: %s", r.Body)
	}

	if r := h.get("/v1/quota/report", h.city3709).want(t, 200); len(arr(r.JSON["rows"])) != 0 || obj(r.JSON["query"])["city"] != "3709" {
		t.Fatalf("flows as city 3709 (none are its own): %s", r.Body)
	}
	if r := h.get("/v1/quota/report", h.city3704).want(t, 200); len(arr(r.JSON["rows"])) == 0 {
		t.Fatalf("flows as city 3704: %s", r.Body)
	}
	h.get("/v1/quota/report?city=3704", h.city3709).want(t, 403, "forbidden")
	h.get("/v1/quota/report?city=3704&level=lineage", h.city3709).want(t, 403, "forbidden")
	h.get("/v1/indices/CEI/report?city=3704", h.city3709).want(t, 403, "forbidden")
	if r := h.get("/v1/quota/report?city=3704", h.prov).want(t, 200); len(arr(r.JSON["rows"])) == 0 {
		t.Fatalf("flows of 3704 as province: %s", r.Body)
	}
}
