package api

import (
	"net/http"
	"time"

	"github.com/shandong-carbon/carbonledger/console"
	"github.com/shandong-carbon/carbonledger/ledger"
)

// consoleRoute is the metrics label of the console's pages and assets.
const consoleRoute = "console"

// mountConsole serves the office console under /console/ and the public
// registry pages under /registry/ (package console), outside the API's
// route list: they are pages, not operations, so /openapi.json does not
// list them. The pages call the API like any client. The bare prefixes
// and / redirect to them.
func (s *Server) mountConsole() {
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, errorf(ledger.CodeNotFound, "no page at %s", r.URL.Path))
	})
	pages := console.Handler(notFound, s.cfg.Console)
	served := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, sw := time.Now(), &statusWriter{ResponseWriter: w, status: http.StatusOK}
		pages.ServeHTTP(sw, r)
		s.logPath("page", consoleRoute, r, sw.status, time.Since(start))
	})
	s.mux.Handle("GET /console/", served)
	s.mux.Handle("GET /registry/", served)
	for from, to := range map[string]string{"GET /{$}": "/console/", "GET /console": "/console/", "GET /registry": "/registry/"} {
		s.mux.Handle(from, http.RedirectHandler(to, http.StatusFound))
	}
}
