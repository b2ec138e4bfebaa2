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
	"io/fs"
	"net/http"
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
// framing, no plugins, and fetches only to this origin's API.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

type asset struct {
	body []byte
	etag string
}

// Handler serves the pages and their assets for GET and HEAD, with a
// strict Content-Security-Policy and the usual headers; anything else
// under the prefixes is notFound's.
func Handler(notFound http.Handler) http.Handler {
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := pages[r.URL.Path]
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
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
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
