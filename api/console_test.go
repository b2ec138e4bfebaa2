package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/console"
	"github.com/shandong-carbon/carbonledger/ledger"
)

// The console and registry pages come from the binary with a strict
// Content-Security-Policy and the usual headers; what is not one of their
// files is a problem+json 404 like any other path.
func TestConsolePages(t *testing.T) {
	h := newHarness(t, false)
	for _, p := range []string{"/console/", "/registry/", "/console/assets/console.js", "/console/assets/app.css", "/console/vendor/uplot/uPlot.esm.js"} {
		r := h.get(p, "").want(t, http.StatusOK)
		for k, want := range map[string]string{
			"Content-Security-Policy": console.ContentSecurityPolicy, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", p, k, got, want)
			}
		}
		if strings.HasSuffix(p, ".js") && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("%s: Content-Type %q", p, r.Header.Get("Content-Type"))
		}
		// The ETag makes a reload a 304.
		again := h.do("GET", p, "", nil, func(req *http.Request) { req.Header.Set("If-None-Match", r.Header.Get("ETag")) })
		if again.Status != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", p, again.Status)
		}
	}
	if csp := console.ContentSecurityPolicy; strings.Contains(csp, "unsafe") || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "require-trusted-types-for 'script'; trusted-types 'none'") {
		t.Fatalf("CSP is not strict: %s", csp)
	}
	if r := h.get("/console/", ""); !strings.Contains(string(r.Body), `<script type="module" src="/console/assets/console.js">`) || strings.Contains(string(r.Body), "<script>") {
		t.Fatalf("the console page loads no module, or has an inline script: %s", r.Body)
	}
	for _, p := range []string{"/console/assets/nope.js", "/console/console.html", "/console/static/console.html", "/registry/assets/app.css", "/console/embed.go"} {
		h.get(p, "").want(t, http.StatusNotFound, "not_found")
	}
	h.post("/console/", "", map[string]any{}).want(t, http.StatusMethodNotAllowed, "method_not_allowed")
	noRedirect := *h.client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for from, to := range map[string]string{"/": "/console/", "/console": "/console/", "/registry": "/registry/"} {
		res, err := noRedirect.Get(h.srv.URL + from)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != to {
			t.Errorf("GET %s: %d to %q, want 302 to %s", from, res.StatusCode, res.Header.Get("Location"), to)
		}
	}
}

// With OIDC sign-in configured, /console/config.json names the provider
// to the page and the CSP lets the page reach the token endpoint, and only
// it; endpoints the browser could not use safely are refused at start.
func TestConsoleOIDCConfig(t *testing.T) {
	oidc := &console.OIDC{AuthorizationEndpoint: "https://idp.example/authorize", TokenEndpoint: "https://login.idp.example:8443/token",
		ClientID: "carbonledger-console", Scope: "openid"}
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) { c.Console = console.Options{OIDC: oidc} })
	r := h.get("/console/config.json", "").want(t, http.StatusOK)
	cfg, _ := r.JSON["oidc"].(map[string]any)
	if cfg["authorization_endpoint"] != oidc.AuthorizationEndpoint || cfg["token_endpoint"] != oidc.TokenEndpoint || cfg["client_id"] != oidc.ClientID {
		t.Fatalf("config.json: %s", r.Body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://login.idp.example:8443;") {
		t.Fatalf("CSP does not allow the token endpoint: %s", csp)
	}
	// Without OIDC the page learns there is none.
	plain := newHarness(t, false)
	if r := plain.get("/console/config.json", "").want(t, http.StatusOK); string(r.Body) != `{"oidc":null}` {
		t.Fatalf("config.json without OIDC: %s", r.Body)
	}
	for _, bad := range []console.OIDC{
		{AuthorizationEndpoint: "http://idp.example/authorize", TokenEndpoint: oidc.TokenEndpoint, ClientID: "c", Scope: "openid"},
		{AuthorizationEndpoint: oidc.AuthorizationEndpoint, TokenEndpoint: "/token", ClientID: "c", Scope: "openid"},
		{AuthorizationEndpoint: oidc.AuthorizationEndpoint, TokenEndpoint: oidc.TokenEndpoint, Scope: "openid"},
		{AuthorizationEndpoint: oidc.AuthorizationEndpoint, TokenEndpoint: oidc.TokenEndpoint, ClientID: "c", Scope: "profile"},
	} {
		if _, err := New(t.Context(), Config{Ledger: h.l, SigningKey: h.key, UseCases: testUseCases, Console: console.Options{OIDC: &bad}}); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
	loop := console.OIDC{AuthorizationEndpoint: "http://127.0.0.1:9/authorize", TokenEndpoint: "http://127.0.0.1:9/token", ClientID: "c", Scope: "openid email"}
	if err := loop.Check(); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
}
