// Package apitest holds the contract checks of the HTTP API for tests:
// every request a test sends and every response it gets are validated
// against the service's own /openapi.json with kin-openapi, so that the
// document cannot drift from the wire. Only tests import it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Contract validates exchanges against one OpenAPI document.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	stats  Stats
}

// Stats counts what a Contract checked.
type Stats struct {
	Requests         atomic.Int64 // requests routed to an operation of the document
	RequestsRejected atomic.Int64 // of those, requests the document rejects (the server must answer 4xx)
	Responses        atomic.Int64 // responses validated against their operation
	Unrouted         atomic.Int64 // requests to no operation (answered 404 or 405)
	Pages            atomic.Int64 // requests for the console's pages and assets (no operations)
}

// isPage reports whether a path is one of the console's or the public
// registry's pages and assets (package console): HTML, CSS and scripts the
// server serves beside the API, which the document does not describe. Its
// answers still need to be 404 for what is not there (api's own test).
func isPage(path string) bool {
	switch path {
	case "/", "/console", "/registry":
		return true
	}
	return strings.HasPrefix(path, "/console/") || strings.HasPrefix(path, "/registry/")
}

var defineFormats sync.Once

// Load parses and validates an OpenAPI 3 document (0 errors required) and
// prepares a router for its operations.
func Load(raw []byte) (*Contract, error) {
	defineFormats.Do(func() {
		// kin-openapi checks date and date-time by default; uuid is opt-in.
		openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	// Route by path alone: the servers list names deployments, not the
	// test server's address.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &Contract{doc: doc, router: router}, nil
}

// Doc is the loaded document.
func (c *Contract) Doc() *openapi3.T { return c.doc }

// Stats are the counts so far.
func (c *Contract) Stats() *Stats { return &c.stats }

// Check validates one exchange: the request (method, URL, headers and the
// body sent) and the response (status, headers, body). A request the
// document rejects is fine when the server rejected it too (4xx); a
// request the document accepts, or one it rejects that the server
// accepted, must get a response the document describes.
func (c *Contract) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	ctx := context.Background()
	route, params, err := c.router.FindRoute(req)
	if err != nil && isPage(req.URL.Path) {
		c.stats.Pages.Add(1)
		return nil
	}
	if err != nil {
		c.stats.Unrouted.Add(1)
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return nil
		}
		return fmt.Errorf("%s %s is no operation of the document, yet answered %d", req.Method, req.URL.Path, status)
	}
	c.stats.Requests.Add(1)
	r := req.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.ContentLength = int64(len(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			RejectWhenRequestBodyNotSpecified: true, SkipSettingDefaults: true}}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		c.stats.RequestsRejected.Add(1)
		if status < 400 || status >= 500 {
			return fmt.Errorf("%s %s: the document rejects the request (%s), yet the server answered %d: %s",
				req.Method, req.URL.RequestURI(), oneLine(err), status, clip(body))
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	c.stats.Responses.Add(1)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("%s %s: response %d disagrees with the document: %s; body: %s",
			req.Method, req.URL.RequestURI(), status, oneLine(err), clip(body))
	}
	return checkCode(route, status, body)
}

// checkCode: an error response whose status the operation lists must
// carry one of the codes the operation lists for it (x-codes).
func checkCode(route *routers.Route, status int, body []byte) error {
	if status < 400 {
		return nil
	}
	ref := route.Operation.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return nil // the default response: any code of Problem.code
	}
	listed, _ := ref.Value.Extensions["x-codes"].([]any)
	if len(listed) == 0 {
		return nil
	}
	var p struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("%s %s: response %d is no problem document: %v", route.Method, route.Path, status, err)
	}
	for _, c := range listed {
		if c == p.Code {
			return nil
		}
	}
	return fmt.Errorf("%s %s: response %d has code %q, which the operation does not list for %d (%v)", route.Method, route.Path, status, p.Code, status, listed)
}

// Transport is an http.RoundTripper that checks every exchange through c
// and reports a disagreement to fail (t.Errorf in a test).
func (c *Contract) Transport(base http.RoundTripper, fail func(error)) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: base, fail: fail}
}

type transport struct {
	c    *Contract
	base http.RoundTripper
	fail func(error)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	res, err := t.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if cerr := t.c.Check(req, reqBody, res.StatusCode, res.Header, body); cerr != nil {
		t.fail(cerr)
	}
	return res, nil
}

// oneLine is err in brief: where in the value a schema failed and why,
// rather than the schema and value dumps of its Error.
func oneLine(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		where := "/" + strings.Join(se.JSONPointer(), "/")
		prefix := ""
		var re *openapi3filter.RequestError
		if errors.As(err, &re) && re.Parameter != nil {
			prefix = "parameter " + re.Parameter.Name + " "
		}
		return fmt.Sprintf("%sat %s: %s", prefix, where, se.Reason)
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

func clip(b []byte) string {
	const max = 400
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
