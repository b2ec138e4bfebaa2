package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// How a list reads the query parameters its route declares (route.Query,
// params.go). Beyond queryGet, a list refuses what it cannot honour: a
// parameter its route does not declare — a typo of a filter, which would
// otherwise silently list everything — a repeated one, a value outside its
// enum, and malformed integers, times and UUIDs, each invalid_request at
// the parameter.

// Time ranges of the lists: since inclusive, until exclusive.
var (
	qSince = paramDateTime("since", "only records at or after this time (RFC 3339)")
	qUntil = paramDateTime("until", "only records before this time (RFC 3339)")
)

// query is a request's query, checked against its route's declaration.
type query struct{ r *http.Request }

// readQuery checks the request's query against the declaration (and the
// page parameters of a paged route).
func readQuery(r *http.Request, declared []queryParam, paged bool) (query, error) {
	known := map[string]queryParam{}
	for _, p := range declared {
		known[p.Name] = p
	}
	if paged {
		for _, p := range pageQuery() {
			known[p.Name] = p
		}
	}
	for name, vs := range queryParamsGiven(r) {
		p, ok := known[name]
		if !ok {
			return query{}, ledger.Errf(ledger.CodeInvalidRequest, "unknown query parameter %q", name).At(name)
		}
		if len(vs) > 1 {
			return query{}, ledger.Errf(ledger.CodeInvalidRequest, "query parameter %s is given %d times", name, len(vs)).At(name)
		}
		if !ledger.CleanText(vs[0]) {
			return query{}, ledger.Errf(ledger.CodeInvalidRequest, "%s must be text without control characters", name).At(name)
		}
		if err := ledger.FilterOneOf(name, vs[0], p.Enum...); len(p.Enum) > 0 && err != nil {
			return query{}, err
		}
	}
	return query{r: r}, nil
}

// get is a declared parameter's value, "" when absent.
func (q query) get(name string) string { return queryGet(q.r, name) }

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
func (q query) boolean(name string) (bool, error) { return queryBoolValue(q.r, name) }

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
		page, err := call(r.Context(), s.ledgerFor(r.Context()), a, f)
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
