package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// fuzzOp is one operation of the OpenAPI document, as the fuzz target
// drives it.
type fuzzOp struct {
	method, path string
	params       []fuzzParam
	body         map[string]any // the request body's schema, resolved; nil: none
}

type fuzzParam struct{ name, in string }

// fuzzSkipped are operations the target does not send: full scans whose
// cost grows with everything the shared test database holds, and which
// read no input.
var fuzzSkipped = map[string]bool{"GET /v1/audit/verify": true, "GET /v1/registry/verify": true}

var fuzzMethods = map[string]bool{"get": true, "post": true, "put": true, "patch": true, "delete": true}

// fuzzDoc reads the operations of the server's own /openapi.json, in a
// stable order (the corpus names operations by index).
func fuzzDoc(tb testing.TB, srv *httptest.Server) []fuzzOp {
	res, err := srv.Client().Get(srv.URL + "/openapi.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		tb.Fatal(err)
	}
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		for range 8 { // a chain of $refs, bounded
			ref, ok := m["$ref"].(string)
			if !ok {
				break
			}
			var cur any = doc
			for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				c, _ := cur.(map[string]any)
				cur = c[p]
			}
			m, _ = cur.(map[string]any)
		}
		return m
	}
	var ops []fuzzOp
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		methods, _ := item.(map[string]any)
		for method, o := range methods {
			op, ok := o.(map[string]any)
			if !ok || !fuzzMethods[method] {
				continue
			}
			fo := fuzzOp{method: strings.ToUpper(method), path: path}
			if fuzzSkipped[fo.method+" "+path] {
				continue
			}
			ps, _ := op["parameters"].([]any)
			for _, p := range ps {
				pm := resolve(p)
				name, _ := pm["name"].(string)
				in, _ := pm["in"].(string)
				fo.params = append(fo.params, fuzzParam{name, in})
			}
			if rb := resolve(op["requestBody"]); rb != nil {
				content, _ := rb["content"].(map[string]any)
				js, _ := content["application/json"].(map[string]any)
				fo.body = resolveSchema(js["schema"], resolve, 0)
			}
			ops = append(ops, fo)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	return ops
}

// fuzzSchemaDepthMax bounds how deep a generated body nests (schemas may
// refer to themselves).
const fuzzSchemaDepthMax = 5

// resolveSchema inlines a schema's $refs up to a depth.
func resolveSchema(v any, resolve func(any) map[string]any, depth int) map[string]any {
	m := resolve(v)
	if m == nil || depth > fuzzSchemaDepthMax {
		return nil
	}
	out := map[string]any{}
	for k, x := range m {
		out[k] = x
	}
	if props, ok := m["properties"].(map[string]any); ok {
		rp := map[string]any{}
		for k, p := range props {
			if s := resolveSchema(p, resolve, depth+1); s != nil {
				rp[k] = s
			}
		}
		out["properties"] = rp
	}
	if items, ok := m["items"]; ok {
		out["items"] = resolveSchema(items, resolve, depth+1)
	}
	if ap, ok := m["additionalProperties"].(map[string]any); ok {
		out["additionalProperties"] = resolveSchema(ap, resolve, depth+1)
	}
	return out
}

// fuzzValue is a value of schema s built from the fuzzed string: every
// string field holds it, so a NUL or a stray byte reaches every field.
func fuzzValue(s map[string]any, value string) any {
	if s == nil {
		return value
	}
	typ, _ := s["type"].(string)
	if types, ok := s["type"].([]any); ok && len(types) > 0 {
		typ, _ = types[0].(string)
	}
	switch typ {
	case "object", "":
		props, _ := s["properties"].(map[string]any)
		if len(props) == 0 {
			if ap, ok := s["additionalProperties"].(map[string]any); ok {
				return map[string]any{value: fuzzValue(ap, value)}
			}
			if typ == "" {
				return value
			}
		}
		obj := map[string]any{}
		for k, p := range props {
			ps, _ := p.(map[string]any)
			obj[k] = fuzzValue(ps, value)
		}
		return obj
	case "array":
		items, _ := s["items"].(map[string]any)
		return []any{fuzzValue(items, value)}
	case "integer":
		return len(value)
	case "number":
		return float64(len(value)) / 3
	case "boolean":
		return len(value)%2 == 0
	}
	return value
}

// fuzzAnswerMax bounds the wait for an answer: a request the server
// neither answers nor refuses in this time is a failure too.
const fuzzAnswerMax = 10 * time.Second

// fuzzEnv is a server on the shared test database with a token per role.
type fuzzEnv struct {
	srv    *httptest.Server
	client *http.Client
	ops    []fuzzOp
	tokens []string // per role, then "" (no token)
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	l := ledgertest.Ledger(tb, ledgertest.Shared(tb), ledger.Options{})
	key := GenerateSigningKey()
	// Rate limits out of the way: a 429 tells the fuzzer nothing.
	s, err := New(context.Background(), Config{Ledger: l, SigningKey: key, UseCases: testUseCases, RatePerSecond: 1e6, PublicRatePerSecond: 1e6})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = fuzzAnswerMax
	env := &fuzzEnv{srv: srv, client: client, ops: fuzzDoc(tb, srv)}
	for _, v := range principalVariants() {
		if v.org != "" && v.city != "" {
			continue
		}
		tok, err := key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: v.role, Sub: "fz-" + v.role, Org: v.org, City: v.city, TTL: time.Hour}, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		env.tokens = append(env.tokens, tok)
	}
	env.tokens = append(env.tokens, "")
	return env
}

// request builds op's request from the fuzzed inputs: value in every path,
// query and header parameter the operation declares and in every string
// of its body; extraQuery appended to the query as it is; rawBody, when it
// starts with '{', sent as the body instead of the generated one.
func (e *fuzzEnv) request(o fuzzOp, token, value, extraQuery string, rawBody []byte) (*http.Request, error) {
	path := o.path
	q := url.Values{}
	hdr := http.Header{}
	for _, p := range o.params {
		switch p.in {
		case "path":
			path = strings.ReplaceAll(path, "{"+p.name+"}", url.PathEscape(value))
		case "query":
			q.Set(p.name, value)
		case "header":
			hdr.Set(p.name, value)
		}
	}
	u := e.srv.URL + path + "?" + q.Encode()
	if extraQuery != "" {
		u += "&" + queryBytes(extraQuery)
	}
	var body io.Reader
	if o.method != http.MethodGet {
		b := rawBody
		if len(b) == 0 || b[0] != '{' {
			var err error
			if b, err = json.Marshal(fuzzValue(o.body, value)); err != nil || o.body == nil {
				b = []byte("{}")
			}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(o.method, u, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if ledger.ValidateKey(req.Header.Get("Idempotency-Key")) != nil && o.method == http.MethodPost {
		req.Header.Set("Idempotency-Key", uuid.NewString())
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// queryBytes percent-encodes what may not stand in a request line (a
// space, a control byte, non-ASCII), which net/http refuses before any
// handler runs; everything else, stray '%' escapes included, goes as is.
func queryBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x20 && c < 0x7f && c != '#' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// FuzzAPI sends requests derived from /openapi.json — each operation,
// its declared path, query and header parameters and its body schema,
// filled from the fuzzed inputs, as each role and without a token — and
// fails on any 5xx and on any error answer that is not problem+json. The
// seeds (every operation with a plain value and with a NUL, and
// testdata/fuzz/FuzzAPI) run in every `go test`.
func FuzzAPI(f *testing.F) {
	env := newFuzzEnv(f)
	for i := range env.ops {
		f.Add(uint16(i), uint8(i), "x", "", []byte(nil))
		f.Add(uint16(i), uint8(i+3), "a\x00b", "", []byte(nil))
		f.Add(uint16(i), uint8(i+5), "\xff\xfe", "limit=%00", []byte(nil))
	}
	f.Fuzz(func(t *testing.T, op uint16, who uint8, value, extraQuery string, rawBody []byte) {
		o := env.ops[int(op)%len(env.ops)]
		req, err := env.request(o, env.tokens[int(who)%len(env.tokens)], value, extraQuery, rawBody)
		if err != nil {
			t.Skipf("not a request the client can send: %v", err)
		}
		res, err := env.client.Do(req)
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			t.Fatalf("%s %s (value %q, query %q, body %q): no answer within %s", o.method, o.path, value, extraQuery, rawBody, fuzzAnswerMax)
		}
		if err != nil {
			t.Skipf("not a request the client can send: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		what := fmt.Sprintf("%s %s (value %q, query %q, body %q)", o.method, o.path, value, extraQuery, rawBody)
		// The database is up: a 503 is as wrong as a 500 here.
		if res.StatusCode >= 500 {
			t.Fatalf("%s: %d %s", what, res.StatusCode, b)
		}
		if res.StatusCode >= 400 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s: %d without problem+json: %s", what, res.StatusCode, b)
		}
	})
}
