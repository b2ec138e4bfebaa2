package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Query parameters a route declares (route.Query). A list's handler reads
// its query only through the declaration (a query value), so what
// /openapi.json documents is what the handler reads, and a parameter the
// route does not declare — a typo of a filter, which would otherwise
// silently list everything — is invalid_request.

// Query parameter types; a parameter without one is a string.
const (
	qInteger = "integer"
	qBoolean = "boolean"
	qTime    = "date-time"
)

// queryParam is one declared query parameter.
type queryParam struct {
	Name string
	Desc string
	Type string   // "" (a string), qInteger, qBoolean or qTime
	Enum []string // the values a string parameter may take
}

// schema is the parameter's OpenAPI schema.
func (p queryParam) schema() map[string]any {
	switch p.Type {
	case qInteger:
		return map[string]any{"type": "integer"}
	case qBoolean:
		return map[string]any{"type": "boolean"}
	case qTime:
		return map[string]any{"type": "string", "format": "date-time"}
	}
	s := map[string]any{"type": "string"}
	if len(p.Enum) > 0 {
		s["enum"] = p.Enum
	}
	return s
}

// Common declarations.
var (
	qSince = queryParam{Name: "since", Type: qTime, Desc: "only records at or after this time (RFC 3339)"}
	qUntil = queryParam{Name: "until", Type: qTime, Desc: "only records before this time (RFC 3339)"}
)

// query is a request's query read through its route's declaration.
type query struct {
	r        *http.Request
	declared []queryParam
}

// readQuery checks the request's query against the declaration (and the
// page parameters of a paged route).
func readQuery(r *http.Request, declared []queryParam, paged bool) (query, error) {
	q := query{r: r, declared: declared}
	for name, vs := range r.URL.Query() {
		if paged && (name == "limit" || name == "cursor") {
			if len(vs) > 1 {
				return q, ledger.Errf(ledger.CodeInvalidRequest, "query parameter %s given %d times", name, len(vs)).At(name)
			}
			continue
		}
		p, ok := q.param(name)
		if !ok {
			return q, ledger.Errf(ledger.CodeInvalidRequest, "unknown query parameter %q", name).At(name)
		}
		if len(vs) > 1 {
			return q, ledger.Errf(ledger.CodeInvalidRequest, "query parameter %s given %d times", name, len(vs)).At(name)
		}
		if len(p.Enum) > 0 {
			if err := ledger.FilterOneOf(name, vs[0], p.Enum...); err != nil {
				return q, err
			}
		}
		if !ledger.CleanText(vs[0]) {
			return q, ledger.Errf(ledger.CodeInvalidRequest, "%s must be text without control characters", name).At(name)
		}
	}
	return q, nil
}

func (q query) param(name string) (queryParam, bool) {
	for _, p := range q.declared {
		if p.Name == name {
			return p, true
		}
	}
	return queryParam{}, false
}

// get is a declared parameter's value, "" when absent. Reading a
// parameter the route does not declare is a programming error.
func (q query) get(name string) string {
	if _, ok := q.param(name); !ok {
		panic("api: handler reads undeclared query parameter " + name)
	}
	return q.r.URL.Query().Get(name)
}

// integer is a declared integer parameter, 0 when absent.
func (q query) integer(name string) (int, error) {
	v := q.get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, ledger.Errf(ledger.CodeInvalidRequest, "%s must be a non-negative integer", name).At(name)
	}
	return n, nil
}

// boolean is a declared boolean parameter, false when absent.
func (q query) boolean(name string) (bool, error) {
	switch q.get(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, ledger.Errf(ledger.CodeInvalidRequest, "%s must be true or false", name).At(name)
}

// time is a declared RFC 3339 time parameter, nil when absent.
func (q query) time(name string) (*time.Time, error) {
	v := q.get(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, ledger.Errf(ledger.CodeInvalidRequest, "%s must be an RFC 3339 time, e.g. 2025-06-01T00:00:00Z", name).At(name)
	}
	t = t.UTC()
	return &t, nil
}

// uuid is a declared UUID parameter, nil when absent.
func (q query) uuid(name string) (*uuid.UUID, error) {
	v := q.get(name)
	if v == "" {
		return nil, nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return nil, ledger.Errf(ledger.CodeInvalidRequest, "%s must be a UUID", name).At(name)
	}
	return &id, nil
}

// timeRange is the declared since and until parameters.
func (q query) timeRange() (*time.Time, *time.Time, error) {
	since, err := q.time("since")
	if err != nil {
		return nil, nil, err
	}
	until, err := q.time("until")
	return since, until, err
}

// page is the page parameters.
func (q query) page() (int, string, error) { return pageParams(q.r) }

// listOf adapts a use case's list: the query is read through the route's
// declaration by filter, and the page answered as {items, next_cursor}.
func listOf[F, T any](s *Server, declared []queryParam, filter func(q query, a ledger.Actor) (F, error),
	call func(context.Context, *ledger.Ledger, ledger.Actor, F) (ledger.Page[T], error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		q, err := readQuery(r, declared, true)
		if err != nil {
			return err
		}
		f, err := filter(q, a)
		if err != nil {
			return err
		}
		page, err := call(r.Context(), s.l, a, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, viewPage(page))
	}
}

// publicList fits a list that does not depend on the caller to listOf.
func publicList[F, T any](call func(context.Context, *ledger.Ledger, F) (ledger.Page[T], error)) func(context.Context, *ledger.Ledger, ledger.Actor, F) (ledger.Page[T], error) {
	return func(ctx context.Context, l *ledger.Ledger, _ ledger.Actor, f F) (ledger.Page[T], error) {
		return call(ctx, l, f)
	}
}

// describeQuery is the route's declared parameters for the OpenAPI
// document.
func describeQuery(declared []queryParam) []map[string]any {
	out := make([]map[string]any, 0, len(declared))
	for _, p := range declared {
		d := map[string]any{"name": p.Name, "in": "query", "schema": p.schema()}
		if p.Desc != "" {
			d["description"] = p.Desc
		}
		out = append(out, d)
	}
	return out
}
