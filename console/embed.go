// Package console holds the provincial office's console (/console/) and
// the public registry pages (/registry/): HTML, CSS and ES modules with
// no build step, embedded in the binary so nothing is fetched from
// elsewhere at run time. The pages call the same JSON API as any
// integrator, with the signed-in user's token.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// The pages and the folders they load from, by URL path.
var pages = map[string]string{"/console/": "console.html", "/registry/": "registry.html"}

const assetPrefix = "/console/" // assets/… and vendor/… under it serve both pages

// ContentSecurityPolicy is sent with every page and asset: scripts and
// styles only from this origin (no inline script or style element), no
// framing, no plugins, and fetches only to this origin's API (and, with
// OIDC sign-in configured, to the identity provider's token endpoint).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// OIDC configures the console's sign-in through an external identity
// provider: the OpenID Connect authorization code flow with PKCE (S256),
// for a public client (no secret). The provider's access tokens must be
// ones the API trusts (its external issuer and audience).
type OIDC struct {
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	ClientID              string `json:"client_id"`
	Scope                 string `json:"scope"`
	// Name is the sign-in button's label, e.g. the provider's name.
	Name string `json:"name,omitempty"`
}

// Options configure the pages.
type Options struct {
	OIDC *OIDC // nil: sign-in by pasted token only (development)
}

// Check refuses an OIDC configuration the browser could not use safely:
// both endpoints absolute https URLs (http only on loopback, for tests and
// development), a client id, a scope with openid.
func (o *OIDC) Check() error {
	if o == nil {
		return nil
	}
	for _, e := range []string{o.AuthorizationEndpoint, o.TokenEndpoint} {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) || u.Fragment != "" {
			return errors.New("console OIDC: endpoints must be absolute https URLs (http only on loopback): " + e)
		}
	}
	if o.ClientID == "" {
		return errors.New("console OIDC: a client id is required")
	}
	if !strings.Contains(" "+o.Scope+" ", " openid ") {
		return errors.New("console OIDC: the scope must include openid")
	}
	return nil
}

func loopback(host string) bool { return host == "127.0.0.1" || host == "::1" || host == "localhost" }

// policy is the CSP with the token endpoint's origin allowed to connect.
func policy(o *OIDC) string {
	if o == nil {
		return ContentSecurityPolicy
	}
	u, _ := url.Parse(o.TokenEndpoint)
	return strings.Replace(ContentSecurityPolicy, "connect-src 'self'", "connect-src 'self' "+u.Scheme+"://"+u.Host, 1)
}

type asset struct {
	body []byte
	etag string
}

// Handler serves the pages and their assets for GET and HEAD, with a
// strict Content-Security-Policy and the usual headers; anything else
// under the prefixes is notFound's. /console/config.json tells the pages
// how to sign in. It panics on an OIDC configuration Check refuses.
func Handler(notFound http.Handler, opts Options) http.Handler {
	if err := opts.OIDC.Check(); err != nil {
		panic(err)
	}
	csp := policy(opts.OIDC)
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	assets := map[string]asset{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		assets[p] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	cfg, err := json.Marshal(map[string]any{"oidc": opts.OIDC})
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(cfg)
	assets["config.json"] = asset{body: cfg, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := pages[r.URL.Path]
		if r.URL.Path == assetPrefix+"config.json" {
			name, ok = "config.json", true
		}
		if !ok && strings.HasPrefix(r.URL.Path, assetPrefix) {
			name = strings.TrimPrefix(r.URL.Path, assetPrefix)
			ok = (strings.HasPrefix(name, "assets/") || strings.HasPrefix(name, "vendor/")) && !strings.HasSuffix(name, ".html")
		}
		a, found := assets[name]
		if !ok || !found || path.Clean("/"+name) != "/"+name {
			notFound.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.TLS != nil {
			// Served over HTTPS (serve --tls-cert): browsers keep to it.
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		// Revalidate every time (the ETag makes that a 304): a new binary's
		// pages and modules never mix with an old one's.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		if strings.HasSuffix(name, ".js") {
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
