package console

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// HSTS only where the page came over HTTPS; the headers a page always has.
func TestHandlerHeaders(t *testing.T) {
	h := Handler(http.NotFoundHandler(), Options{})
	for _, overTLS := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodGet, "/registry/", nil)
		if overTLS {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
			t.Fatalf("TLS=%v: %d %v", overTLS, rec.Code, rec.Header())
		}
		if got := rec.Header().Get("Strict-Transport-Security") != ""; got != overTLS {
			t.Errorf("TLS=%v: HSTS sent %v", overTLS, got)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/assets/../../embed.go", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("a path out of the assets: %d", rec.Code)
	}
}
