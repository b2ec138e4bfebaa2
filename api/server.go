// Package api is carbonledger's HTTP transport: routes, authentication,
// request decoding, the error table and problem+json. It calls package
// ledger and its use-case packages; it has no SQL.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/shandong-carbon/carbonledger/console"
	"github.com/shandong-carbon/carbonledger/ledger"
)

// Named limits.
const (
	bodyBytesDefault   = 1 << 20 // 1 MiB
	bodyBytesBatch     = 4 << 20 // batches of up to 1,000 items
	rateDefault        = 2000    // requests per second per principal; burst twice that
	ratePublicDefault  = 100     // requests per second per client address without a valid token; burst twice that
	rateExpensive      = 2       // each heavy route (verify, reports, reserves), per second per principal
	rateExpensiveBurst = 4
	limiterIdle        = 10 * time.Minute
	requestTimeout     = 30 * time.Second
	requestIDBytesMax  = 64
)

// Config wires a Server. Zero values take the defaults above.
type Config struct {
	Ledger *ledger.Ledger
	// ReadLedger, when set, is a read-only ledger (ledger.Options.ReadOnly)
	// on a standby: routes marked Replica serve requests without a token
	// from it, and from Ledger when it cannot answer (unavailable) or
	// does not have the row yet (not_found: replication lag). See
	// docs/operations.md, "Failover", for how stale it may be.
	ReadLedger    *ledger.Ledger
	Logger        *slog.Logger
	SigningKey    *SigningKey
	Issuer        string // default "carbonledger"
	Audience      string // default "carbonledger-api"
	External      *ExternalIdP
	Console       console.Options // the console's sign-in (OIDC), checked by New
	RatePerSecond float64         // per principal; default rateDefault
	RateBurst     int             // default twice RatePerSecond
	// Externals are more external identity providers to trust, each with
	// its own issuer; External, when set, is trusted too.
	Externals []ExternalIdP
	// PublicRatePerSecond limits requests without a valid token per client
	// address (burst twice that); default ratePublicDefault.
	PublicRatePerSecond float64
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client address; none by default (the peer address is the client).
	TrustedProxies []netip.Prefix
	Now            func() time.Time // token clock; default time.Now
	// UseCases are the registered use cases (cmd holds the list):
	// GET /v1/audit/verify runs the engine's verification and every one's
	// checks.
	UseCases []ledger.UseCase
	// Webhooks is the destination policy of webhooks (SSRF checks); the
	// zero value allows https to public addresses only.
	Webhooks WebhookPolicy
}

// Server serves the API.
type Server struct {
	cfg     Config
	l       *ledger.Ledger
	log     *slog.Logger
	auth    *authenticator
	mux     *http.ServeMux
	routes  []route
	metrics *metrics
	limits  *limiters
	// verifying admits one full verification at a time.
	verifying chan struct{}
	// undeclared records query reads no route declares (params.go).
	undeclared *undeclaredReads
	// webhookClient sends webhook deliveries (webhooks.go), made once.
	webhookOnce   sync.Once
	webhookClient *http.Client
}

// route is one entry of the route list. Roles nil means any authenticated
// principal; Public means no token at all.
type route struct {
	Method  string
	Path    string
	Summary string
	Tag     string
	Public  bool
	Roles   []string
	BodyMax int64        // default bodyBytesDefault
	Heavy   bool         // rate-limited as expensive
	In, Out any          // request and response shapes, for the OpenAPI document
	Paged   bool         // takes limit and cursor
	Query   []queryParam // the query parameters the handler reads (params.go), besides limit and cursor
	// BodyOptional: the handler takes no body as well as its In shape.
	BodyOptional bool
	Produces     []string
	Handler      handler

	// Replica, on a Public read route, serves a request without a token
	// from Config.ReadLedger when one is configured (Server.handle). A
	// request with a token reads the primary: a holder reads its own
	// writes.
	Replica bool

	// TokenOptional, on a Public route, authenticates a token when one is
	// sent (a bad one is refused) and serves an anonymous caller as the
	// zero Actor: public notices and the retirement register, which a
	// holder also reads as "mine".
	TokenOptional bool
}

// handler serves one route; an error it returns is rendered as problem+json.
type handler = func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error

// New builds a server; ctx bounds background work started here (the
// external JWKS refresher).
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Ledger == nil || cfg.SigningKey == nil {
		return nil, errors.New("api: ledger and signing key are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = defaultIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = defaultAud
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = rateDefault
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = max(1, int(2*cfg.RatePerSecond))
	}
	if cfg.PublicRatePerSecond <= 0 {
		cfg.PublicRatePerSecond = ratePublicDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Console.OIDC.Check(); err != nil {
		return nil, err
	}
	exts := cfg.Externals
	if cfg.External != nil && cfg.External.JWKSURL != "" {
		exts = append([]ExternalIdP{*cfg.External}, exts...)
	}
	auth, err := newAuthenticator(ctx, cfg.SigningKey, cfg.Issuer, cfg.Audience, exts, cfg.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, l: cfg.Ledger, log: cfg.Logger, auth: auth, mux: http.NewServeMux(),
		verifying: make(chan struct{}, 1), undeclared: &undeclaredReads{},
		limits: newLimiters(rateSpec{cfg.RatePerSecond, cfg.RateBurst}, rateSpec{cfg.PublicRatePerSecond, max(1, int(2*cfg.PublicRatePerSecond))}, cfg.TrustedProxies)}
	s.metrics = newMetrics(s)
	s.routes = s.allRoutes()
	seen := map[string]bool{}
	for _, rt := range s.routes {
		pattern := rt.Method + " " + rt.Path
		if seen[pattern] {
			return nil, errors.New("api: duplicate route " + pattern)
		}
		seen[pattern] = true
		s.mux.Handle(pattern, s.wrap(rt))
	}
	s.mountConsole()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, errorf(ledger.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	return s, nil
}

// Handler is the root handler: request ids, access logs, panics as 500.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := r.Header.Get("X-Request-Id")
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		ctx := context.WithValue(r.Context(), requestIDKey{}, rid)
		r = r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic", "value", v, "path", r.URL.Path, "request_id", rid)
				writeError(w, r, s.log, errors.New("panic"))
			}
		}()
		_, pattern := s.mux.Handler(r)
		if pattern == "/" {
			start, sw := time.Now(), &statusWriter{ResponseWriter: w, status: http.StatusOK}
			defer func() { s.logUnmatched(r, sw.status, time.Since(start)) }()
			w = sw
		}
		// What no route serves is 404 or 405 whatever it holds.
		if pattern != "/" {
			if err := cleanRequest(r); err != nil {
				writeError(w, r, s.log, err)
				return
			}
		}
		// A path served under other methods is 405 with Allow, not 404.
		if pattern == "/" {
			if allowed := s.allowedMethods(r); allowed != "" {
				w.Header().Set("Allow", allowed)
				writeError(w, r, s.log, errorf(codeMethodNotAllowed, "method %s not allowed; allowed: %s", r.Method, allowed))
				return
			}
		}
		s.mux.ServeHTTP(w, r)
	})
}

// allowedMethods lists the methods the request's path is served under.
// It asks the mux with copies of the request (not a URL parsed again: a
// path holding a NUL would not parse).
func (s *Server) allowedMethods(r *http.Request) string {
	var ms []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req := r.Clone(r.Context())
		req.Method = m
		if _, p := s.mux.Handler(req); p != "" && p != "/" {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ", ")
}

// wrap applies, per route: authentication, role check, rate limit, body
// limit, a request timeout, metrics and the access log.
func (s *Server) wrap(rt route) http.Handler {
	bodyMax := rt.BodyMax
	if bodyMax == 0 {
		bodyMax = bodyBytesDefault
	}
	label := rt.Method + " " + rt.Path
	rq := newRouteQuery(rt, s.undeclared)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		ctx = withRouteQuery(ctx, rq)
		r = r.WithContext(ctx)
		var actor ledger.Actor
		err := func() error {
			if rt.Public && !s.limits.allowAddress(s.limits.clientAddress(r)) {
				return errorf(codeRateLimited, "too many requests from this address; slow down")
			}
			if !rt.Public || (rt.TokenOptional && r.Header.Get("Authorization") != "") {
				c, err := s.authenticate(r)
				if err != nil {
					// Requests without a valid token are the address's (a
					// public route's request was counted above already).
					if !rt.Public && !s.limits.allowAddress(s.limits.clientAddress(r)) {
						return errorf(codeRateLimited, "too many requests from this address; slow down")
					}
					return err
				}
				actor = c.Actor()
				if c.Issuer != s.cfg.Issuer {
					// A foreign identity provider's users are other principals
					// than ours, whatever their subjects (Actor.ID).
					actor.Iss = c.Issuer
				}
				if !roleAllowed(rt.Roles, actor.Role) {
					return errorf(ledger.CodeForbidden, "role %s may not %s", actor.Role, rt.Summary)
				}
				if !s.limits.allow(actor.ID(), label, rt.Heavy) {
					return errorf(codeRateLimited, "too many requests for this principal; slow down")
				}
			}
			if r.Body != nil && r.Method != http.MethodGet {
				r.Body = http.MaxBytesReader(sw, r.Body, bodyMax)
			}
			return s.handle(rt, sw, r, actor)
		}()
		if err != nil {
			writeError(sw, r, s.log, err)
		}
		dur := time.Since(start)
		s.metrics.observe(label, sw.status, dur)
		s.log.InfoContext(ctx, "request", "method", r.Method, "route", rt.Path, "status", sw.status,
			"ms", float64(dur.Microseconds())/1000, "actor", actor.ID(), "client", s.limits.clientAddress(r), "request_id", requestIDFrom(ctx))
	})
}

// readLedgerKey holds, in a request's context, the ledger its handler
// reads from when that is not the server's own (ledgerFor).
type readLedgerKey struct{}

// ledgerFor is the ledger a read handler uses: the read replica's for a
// Replica route's anonymous request (handle), else the server's.
func (s *Server) ledgerFor(ctx context.Context) *ledger.Ledger {
	if l, ok := ctx.Value(readLedgerKey{}).(*ledger.Ledger); ok {
		return l
	}
	return s.l
}

// handle runs a route's handler. A Replica route's request without a
// token goes to the read replica first, and to the primary when the
// replica is unavailable or has not got the row yet (not_found) and
// nothing was written: a standby that is down or behind costs a second
// read, never a wrong 404 or a 503 the primary could have answered.
func (s *Server) handle(rt route, sw *statusWriter, r *http.Request, a ledger.Actor) error {
	if !rt.Replica || s.cfg.ReadLedger == nil || r.Header.Get("Authorization") != "" {
		return rt.Handler(sw, r, a)
	}
	err := rt.Handler(sw, r.WithContext(context.WithValue(r.Context(), readLedgerKey{}, s.cfg.ReadLedger)), a)
	code := ledger.ErrorCode(err)
	if err == nil || sw.wrote || (code != ledger.CodeUnavailable && code != ledger.CodeNotFound) || r.Context().Err() != nil {
		return err
	}
	s.log.DebugContext(r.Context(), "read replica could not answer; reading the primary", "route", rt.Path, "code", code, "request_id", requestIDFrom(r.Context()))
	return rt.Handler(sw, r, a)
}

// unmatchedRoute is the metrics label of requests no route serves (404,
// 405): counted, so a client probing or calling a wrong path shows.
const unmatchedRoute = "unmatched"

// logUnmatched counts and logs a request no route served.
func (s *Server) logUnmatched(r *http.Request, status int, d time.Duration) {
	s.logPath("unmatched", unmatchedRoute, r, status, d)
}

// logPath counts a request no operation served under the metrics label
// and logs it as msg, with its path quoted and cut to 200 bytes (a path
// is the client's text): unmatched requests and the console's pages.
func (s *Server) logPath(msg, label string, r *http.Request, status int, d time.Duration) {
	s.metrics.observe(label, status, d)
	path := r.URL.Path
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	s.log.InfoContext(r.Context(), msg, "method", r.Method, "path", strconv.QuoteToASCII(path), "status", status,
		"ms", float64(d.Microseconds())/1000, "client", s.limits.clientAddress(r), "request_id", requestIDFrom(r.Context()))
}

func (s *Server) authenticate(r *http.Request) (*Claims, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errorf(codeUnauthorized, "a bearer token is required")
	}
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" || len(raw) > 8192 {
		return nil, errorf(codeUnauthorized, "Authorization must be 'Bearer <token>'")
	}
	return s.auth.verify(strings.TrimSpace(raw))
}

func roleAllowed(roles []string, role string) bool {
	if roles == nil {
		return true
	}
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

type requestIDKey struct{}

func requestIDFrom(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey{}).(string)
	return v
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > requestIDBytesMax {
		return false
	}
	return ledger.ValidIdent(s)
}

// --- request and response helpers used by every handler ---

// cleanRequest refuses NUL bytes and invalid UTF-8 in the path, the query
// and the headers, before any route sees them: no identifier, filter or
// text of ours may hold them, PostgreSQL refuses both in text, and a
// refusal here is a 400 that names the part rather than a failure deep in
// a handler. (JSON bodies are checked by decodeJSON.)
func cleanRequest(r *http.Request) error {
	if !cleanString(r.URL.Path) {
		return ledger.Errf(ledger.CodeInvalidRequest, "the path holds a NUL byte or invalid UTF-8").At("path")
	}
	if err := cleanQuery(r); err != nil {
		return err
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if !cleanString(v) {
				return ledger.Errf(ledger.CodeInvalidRequest, "header %s holds a NUL byte or invalid UTF-8", k).At("header." + k)
			}
		}
	}
	return nil
}

func cleanString(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// jsonNULEscape reports whether a JSON text has a \u0000 escape in a
// string: the decoder turns it into a NUL byte, which no text field of
// ours may hold. A backslash occurs in JSON only inside strings, so the
// scan needs no parser: each escape is skipped whole.
func jsonNULEscape(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] == 'u' && i+5 < len(b) && string(b[i+2:i+6]) == "0000" {
			return true
		}
		i++ // the escaped character (a backslash or quote is not a new escape)
	}
	return false
}

// decodeJSON reads exactly one JSON object into dst: the content type must
// be JSON, unknown fields and trailing data are errors, and a body over
// the route's limit is body_too_large.
func decodeJSON(r *http.Request, dst any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(codeUnsupportedMedia, "Content-Type must be application/json")
		}
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD silently and
	// \u0000 into a NUL byte: both are refused, naming no field.
	if !utf8.Valid(raw) {
		return errorf(ledger.CodeInvalidRequest, "the body is not valid UTF-8")
	}
	if jsonNULEscape(raw) {
		return errorf(ledger.CodeInvalidRequest, "the body holds a NUL character (\\u0000) in a string")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			if e := jsonError(err); ledger.ErrorCode(e) == codeBodyTooLarge {
				return e
			}
		}
		return errorf(ledger.CodeInvalidRequest, "the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return errorf(codeBodyTooLarge, "the body exceeds %d bytes", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return errorf(ledger.CodeInvalidRequest, "the body is empty; a JSON object is required")
	case errors.As(err, &syn):
		return errorf(ledger.CodeInvalidRequest, "malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(ledger.CodeInvalidRequest, "malformed JSON: unexpected end")
	case errors.As(err, &typ):
		e := ledger.Errf(ledger.CodeInvalidRequest, "field %s must be %s (amounts are decimal strings)", typ.Field, typ.Type.String())
		return e.At(typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return errorf(ledger.CodeInvalidRequest, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return errorf(ledger.CodeInvalidRequest, "malformed JSON")
}

// writeJSON encodes first and writes after, so an encoding failure is
// still a clean problem response rather than a half-sent success.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// writeResult answers a write: 201 for a new effect, 200 for a replay.
func writeResult(w http.ResponseWriter, replayed bool, v any) error {
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		return writeJSON(w, http.StatusOK, v)
	}
	return writeJSON(w, http.StatusCreated, v)
}

// idemKey is the Idempotency-Key header, required on every POST.
func idemKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if err := ledger.ValidateKey(k); err != nil {
		return "", err
	}
	return k, nil
}

// readWrite reads what every write needs: the Idempotency-Key, then the
// JSON body into dst. With dst nil the body is optional and must be an
// empty object when present.
func readWrite(r *http.Request, dst any) (string, error) {
	key, err := idemKey(r)
	if err != nil {
		return "", err
	}
	if dst == nil {
		if r.ContentLength == 0 {
			return key, nil
		}
		return key, decodeJSON(r, &struct{}{})
	}
	return key, decodeJSON(r, dst)
}

// keyed adapts a use-case write whose JSON body is its input and whose
// result is the response (201, or 200 on an idempotent replay).
func keyed[In, Out any](s *Server, call func(context.Context, *ledger.Ledger, ledger.Actor, string, In) (Out, bool, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		var in In
		key, err := readWrite(r, &in)
		if err != nil {
			return err
		}
		out, replayed, err := call(r.Context(), s.l, a, key, in)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, out)
	}
}

// keyedID is keyed for a write on the object named by the path's {id}.
func keyedID[In, Out any](s *Server, call func(context.Context, *ledger.Ledger, ledger.Actor, string, uuid.UUID, In) (Out, bool, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		var in In
		key, err := readWrite(r, &in)
		if err != nil {
			return err
		}
		out, replayed, err := call(r.Context(), s.l, a, key, id, in)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, out)
	}
}

// keyedStep adapts a write on the object named by {id} that takes no body
// (an optional empty object), rendering its result with view.
func keyedStep[Out, View any](s *Server, step func(context.Context, *ledger.Ledger, ledger.Actor, string, uuid.UUID) (Out, bool, error), view func(Out) View) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		key, err := readWrite(r, nil)
		if err != nil {
			return err
		}
		out, replayed, err := step(r.Context(), s.l, a, key, id)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, view(out))
	}
}

// keyedArg is keyed for a write whose input comes from the request (arg:
// the path or the token) rather than the body, which must be {}.
func keyedArg[P, Out any](s *Server, arg arg[P], call func(context.Context, *ledger.Ledger, ledger.Actor, string, P) (Out, bool, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		p, err := arg(r, a)
		if err != nil {
			return err
		}
		key, err := readWrite(r, &emptyRequest{})
		if err != nil {
			return err
		}
		out, replayed, err := call(r.Context(), s.l, a, key, p)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, out)
	}
}

// emptyRequest is the body of a write that takes no input: {}.
type emptyRequest struct{}

// read adapts a use-case read of one argument taken from the request
// (arg), answering 200 with view of its result.
func read[P, Out, View any](s *Server, arg arg[P], call func(context.Context, *ledger.Ledger, ledger.Actor, P) (Out, error), view func(Out) View) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		p, err := arg(r, a)
		if err != nil {
			return err
		}
		out, err := call(r.Context(), s.ledgerFor(r.Context()), a, p)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, view(out))
	}
}

// readPage is read for one page of a list: limit and cursor come from
// the query too.
func readPage[P, Out, View any](s *Server, arg arg[P], call func(context.Context, *ledger.Ledger, ledger.Actor, P, int, string) (Out, error), view func(Out) View) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		p, err := arg(r, a)
		if err != nil {
			return err
		}
		limit, cursor, err := pageParams(r)
		if err != nil {
			return err
		}
		out, err := call(r.Context(), s.ledgerFor(r.Context()), a, p, limit, cursor)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, view(out))
	}
}

// readAll adapts a read that depends on neither the caller nor the request.
func readAll[Out, View any](s *Server, call func(context.Context, *ledger.Ledger) (Out, error), view func(Out) View) handler {
	return func(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
		out, err := call(r.Context(), s.ledgerFor(r.Context()))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, view(out))
	}
}

// anyActor fits a read that does not depend on the caller to read's call.
func anyActor[P, Out any](call func(context.Context, *ledger.Ledger, P) (Out, error)) func(context.Context, *ledger.Ledger, ledger.Actor, P) (Out, error) {
	return func(ctx context.Context, l *ledger.Ledger, _ ledger.Actor, p P) (Out, error) { return call(ctx, l, p) }
}

// An arg takes a use case's argument from the request rather than the
// body: a path value, a query flag, the caller's own id.
type arg[P any] = func(*http.Request, ledger.Actor) (P, error)

// pathValue is the path parameter name, as given.
func pathValue(name string) arg[string] {
	return func(r *http.Request, _ ledger.Actor) (string, error) { return r.PathValue(name), nil }
}

// pathUUID is the path's {id} as a UUID; not_found when it is not one.
func pathUUID(r *http.Request, _ ledger.Actor) (uuid.UUID, error) { return pathID(r) }

// queryValue is the query parameter name, "" when absent.
func queryValue(name string) arg[string] {
	return func(r *http.Request, _ ledger.Actor) (string, error) { return queryGet(r, name), nil }
}

// tokenSub is the caller's own id: the token's subject.
func tokenSub(_ *http.Request, a ledger.Actor) (string, error) { return a.Sub, nil }

// queryBool is an optional query flag: true, or false when absent.
func queryBool(name string) arg[bool] {
	return func(r *http.Request, _ ledger.Actor) (bool, error) { return queryBoolValue(r, name) }
}

// nonView renders a result as it is.
func nonView[T any](v T) T { return v }

// viewList renders a whole list as one page (next_cursor empty).
func viewList[T any](items []T) pageView[T] { return pageView[T]{Items: ledger.NonNil(items)} }

// viewPage renders a use case's page of a list.
func viewPage[T any](p ledger.Page[T]) pageView[T] {
	return pageView[T]{Items: ledger.NonNil(p.Items), NextCursor: p.NextCursor}
}

// pageParams reads limit and cursor.
func pageParams(r *http.Request) (int, string, error) {
	limit := 0
	if v := queryGet(r, "limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ledger.PageLimitMax {
			return 0, "", ledger.Errf(ledger.CodeInvalidRequest, "limit must be 1 to %d", ledger.PageLimitMax).At("limit")
		}
		limit = n
	}
	c := queryGet(r, "cursor")
	if len(c) > 200 {
		return 0, "", ledger.Errf(ledger.CodeInvalidRequest, "cursor too long").At("cursor")
	}
	return ledger.ClampLimit(limit), c, nil
}

// --- rate limits ---

// rateSpec is one token bucket's shape.
type rateSpec struct {
	perSec float64
	burst  int
}

// limiters hold the token buckets: one per principal (every route), one
// per principal and heavy route (full scans: verify, reports, reserves),
// and one per client address for requests without a valid token (public
// routes, and tokens that fail). Idle buckets are swept.
type limiters struct {
	mu             sync.Mutex
	normal, heavy  rateSpec
	public         rateSpec
	entries        map[string]*limiterEntry
	sweep          time.Time
	trustedProxies []netip.Prefix
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiters(normal, public rateSpec, trusted []netip.Prefix) *limiters {
	return &limiters{normal: normal, heavy: rateSpec{rateExpensive, rateExpensiveBurst}, public: public,
		entries: map[string]*limiterEntry{}, sweep: time.Now(), trustedProxies: trusted}
}

// allow takes a token for an authenticated principal on a route; a heavy
// route takes one from the route's own bucket of the principal first.
func (l *limiters) allow(principal, route string, heavy bool) bool {
	now := time.Now()
	if heavy && !l.take("h\x00"+principal+"\x00"+route, l.heavy, now) {
		return false
	}
	return l.take("p\x00"+principal, l.normal, now)
}

// allowAddress takes a token of a client address (no valid token).
func (l *limiters) allowAddress(addr string) bool {
	return l.take("a\x00"+addr, l.public, time.Now())
}

func (l *limiters) take(key string, spec rateSpec, now time.Time) bool {
	l.mu.Lock()
	e, ok := l.entries[key]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(spec.perSec), spec.burst)}
		l.entries[key] = e
	}
	e.seen = now
	if now.Sub(l.sweep) > limiterIdle {
		for k, v := range l.entries {
			if now.Sub(v.seen) > limiterIdle {
				delete(l.entries, k)
			}
		}
		l.sweep = now
	}
	l.mu.Unlock()
	return e.lim.AllowN(now, 1)
}

// clientAddress is the address a request comes from: the peer, or, when
// the peer is a trusted proxy, the nearest address in X-Forwarded-For
// that is not one (read from the right: the left part is whatever the
// client wrote). Without trusted proxies the header is ignored, so a
// client cannot pick its own bucket.
func (l *limiters) clientAddress(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !l.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing left of it
		}
		hop = hop.Unmap()
		if !l.trusted(hop) {
			return hop.String()
		}
		addr = hop
	}
	return addr.String()
}

func (l *limiters) trusted(a netip.Addr) bool {
	for _, p := range l.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
