package api

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"sync"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Query parameters are declared by the route that reads them (route.Query)
// and read only through queryGet, which checks the declaration: a handler
// cannot read a parameter the document does not list. The document's
// parameters come from the same declarations (openapi.go).

// queryParam declares one query parameter of a route.
type queryParam struct {
	Name        string
	Description string
	Type        string   // string (default), integer or boolean
	Format      string   // date-time, date, uuid ...
	Pattern     string   // a regular expression the value matches
	Enum        []string // the values allowed, when the set is closed
	Minimum     *int64
	Maximum     *int64
	Default     any
	Required    bool
}

// paramString is a free-text (identifier) query parameter.
func paramString(name, desc string) queryParam {
	return queryParam{Name: name, Description: desc, Type: "string"}
}

// paramEnum is a query parameter taking one of values.
func paramEnum(name, desc string, values ...string) queryParam {
	return queryParam{Name: name, Description: desc, Type: "string", Enum: values}
}

// paramBool is an optional flag: true or false.
func paramBool(name, desc string) queryParam {
	return queryParam{Name: name, Description: desc, Type: "boolean"}
}

// paramInt is an integer query parameter.
func paramInt(name, desc string) queryParam {
	return queryParam{Name: name, Description: desc, Type: "integer"}
}

// paramDateTime is an RFC 3339 instant.
func paramDateTime(name, desc string) queryParam {
	return queryParam{Name: name, Description: desc, Type: "string", Format: "date-time"}
}

// paramDate is a calendar date, YYYY-MM-DD.
func paramDate(name, desc string) queryParam {
	return queryParam{Name: name, Description: desc, Type: "string", Format: "date"}
}

// paramUUID is a UUID query parameter.
func paramUUID(name, desc string) queryParam {
	return queryParam{Name: name, Description: desc, Type: "string", Format: "uuid"}
}

// pageQuery are the parameters of every Paged route.
func pageQuery() []queryParam {
	lo, hi := int64(1), int64(ledger.PageLimitMax)
	return []queryParam{
		{Name: "limit", Type: "integer", Minimum: &lo, Maximum: &hi, Default: ledger.PageLimitDefault, Description: "page size"},
		{Name: "cursor", Type: "string", Description: "next_cursor of the previous page"},
	}
}

// declaredQuery is every query parameter the route declares, paging
// included.
func (rt route) declaredQuery() []queryParam {
	q := append([]queryParam(nil), rt.Query...)
	if rt.Paged {
		q = append(q, pageQuery()...)
	}
	return q
}

// schema is the parameter's OpenAPI schema.
func (p queryParam) schema() map[string]any {
	typ := p.Type
	if typ == "" {
		typ = "string"
	}
	s := map[string]any{"type": typ}
	if p.Format != "" {
		s["format"] = p.Format
	}
	if p.Pattern != "" {
		s["pattern"] = p.Pattern
	}
	if len(p.Enum) > 0 {
		s["enum"] = p.Enum
	}
	if p.Minimum != nil {
		s["minimum"] = *p.Minimum
	}
	if p.Maximum != nil {
		s["maximum"] = *p.Maximum
	}
	if p.Default != nil {
		s["default"] = p.Default
	}
	return s
}

// routeQueryKey carries the serving route's declared parameters in the
// request context (set by Server.wrap).
type routeQueryKey struct{}

type routeQuery struct {
	label    string
	declared map[string]bool
	rec      *undeclaredReads
}

// newRouteQuery indexes the route's declarations once, when it is wired.
func newRouteQuery(rt route, rec *undeclaredReads) *routeQuery {
	d := map[string]bool{}
	for _, p := range rt.declaredQuery() {
		d[p.Name] = true
	}
	return &routeQuery{label: rt.Method + " " + rt.Path, declared: d, rec: rec}
}

func withRouteQuery(ctx context.Context, rq *routeQuery) context.Context {
	return context.WithValue(ctx, routeQueryKey{}, rq)
}

// queryGet is the query parameter name of the request, "" when absent.
// Reading a parameter the serving route does not declare is recorded
// (Server.UndeclaredQueryReads; the tests assert there are none) and
// still answered, so that a missing declaration never breaks a client.
func queryGet(r *http.Request, name string) string {
	if rq, ok := r.Context().Value(routeQueryKey{}).(*routeQuery); ok && !rq.declared[name] {
		rq.rec.add(rq.label + " ?" + name)
	}
	return r.URL.Query().Get(name)
}

// undeclaredReads records reads of undeclared query parameters.
type undeclaredReads struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (u *undeclaredReads) add(s string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]bool{}
	}
	u.seen[s] = true
}

func (u *undeclaredReads) list() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.seen))
	for s := range u.seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// UndeclaredQueryReads lists "METHOD /path ?name" for every query
// parameter a handler read that its route does not declare; empty when
// the route list and the handlers agree.
func (s *Server) UndeclaredQueryReads() []string { return s.undeclared.list() }

// queryBoolValue parses an optional flag: true, or false when absent.
func queryBoolValue(r *http.Request, name string) (bool, error) {
	switch queryGet(r, name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, ledger.Errf(ledger.CodeInvalidRequest, "%s must be true or false", name).At(name)
}

// queryParamsGiven is every query parameter a request carries, with its
// values: the lists refuse a parameter their route does not declare
// (readQuery, query.go) rather than ignore a mistyped filter.
func queryParamsGiven(r *http.Request) map[string][]string { return r.URL.Query() }

// cleanQuery refuses a malformed query string and NUL bytes or invalid
// UTF-8 in any query parameter's name or value, declared or not: the
// front door's check (cleanRequest), before any handler reads one.
func cleanQuery(r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return ledger.Errf(ledger.CodeInvalidRequest, "the query string is malformed").At("query")
	}
	for k, vs := range q {
		if !cleanString(k) {
			return ledger.Errf(ledger.CodeInvalidRequest, "a query parameter name holds a NUL byte or invalid UTF-8").At("query")
		}
		for _, v := range vs {
			if !cleanString(v) {
				return ledger.Errf(ledger.CodeInvalidRequest, "query parameter %s holds a NUL byte or invalid UTF-8", k).At(k)
			}
		}
	}
	return nil
}
