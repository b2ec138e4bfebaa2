package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z_]+)\}`)

// The document's fixed parts.
const (
	apiVersion   = "1"
	contactName  = "carbonledger maintainers, Shandong carbon-inclusion programme"
	contactURL   = "https://github.com/shandong-carbon/carbonledger"
	licenceName  = "No licence published yet: all rights reserved by the programme operator"
	problemRef   = "#/components/schemas/Problem"
	headerRef    = "#/components/headers/"
	responsesRef = "#/components/responses/"
)

// tagDescriptions are the document's tags, one per route group.
var tagDescriptions = []struct{ name, desc string }{
	{"service", "health, readiness, metrics, this document and the token keys"},
	{"ledger", "the double-entry engine: accounts, balances, administrative transactions"},
	{"points", "personal carbon accounts (measure 8): methodologies, behaviours, claims, redemptions, donations"},
	{"registry", "certified reductions (SDCER): certification, issuance, holdings, trades, retirements, offsets"},
	{"quota", "two-high emission indices (measures 9 and 11): sources, reserves, applications, allocations"},
	{"audit", "verification of the journal and of each use case's invariants; signed checkpoints"},
}

// openAPI builds the OpenAPI 3.0 document from the route list itself, so a
// route cannot exist without being described.
func (s *Server) openAPI() map[string]any {
	g := newSchemaGen()
	// Response shapes first: a type used both ways keeps its plain name for
	// what the server sends, and its request shape gets the "_request" name.
	outs := make([]map[string]any, len(s.routes))
	for i, rt := range s.routes {
		if rt.Out != nil {
			outs[i] = g.of(reflect.TypeOf(rt.Out), false)
		}
	}
	g.of(reflect.TypeOf(Problem{}), false) // every error response refers to it
	paths := map[string]map[string]any{}
	for i, rt := range s.routes {
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
			"tags":        []string{rt.Tag},
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": pathParamSchema(m[1])})
		}
		for _, q := range rt.declaredQuery() {
			p := map[string]any{"name": q.Name, "in": "query", "schema": q.schema()}
			if q.Description != "" {
				p["description"] = q.Description
			}
			if q.Required {
				p["required"] = true
			}
			params = append(params, p)
		}
		if rt.Method == http.MethodPost {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "required": true,
				"schema":      map[string]any{"type": "string", "minLength": 1, "maxLength": ledger.IdempotencyKeyBytesMax},
				"description": "the same key with the same body returns the first result (200, Idempotent-Replayed); with a different body it is idempotency_conflict"})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if body := requestBody(rt, g); body != nil {
			op["requestBody"] = body
		}
		op["responses"] = s.responses(rt, outs[i])
		desc := rt.Summary + "."
		if len(rt.Produces) > 1 {
			desc += " Send Accept: text/csv for the CSV rendering."
		}
		if rt.Public && rt.TokenOptional {
			// Anonymous, or as the caller when a token is sent.
			op["security"] = []any{map[string]any{}, map[string]any{"bearer": []string{}}}
			op["x-roles"] = []string{}
			desc += " Public: no token needed; with one, as its caller."
		} else if rt.Public {
			op["security"] = []any{}
			op["x-roles"] = []string{}
			desc += " Public: no token."
		} else {
			roles := rt.Roles
			if roles == nil {
				roles = allRoles()
			}
			op["x-roles"] = roles
			desc += " Roles: " + strings.Join(roles, ", ") + "."
		}
		if ex, ok := journeyExamples[rt.Method+" "+rt.Path]; ok {
			desc += " " + ex.note
		}
		op["description"] = desc
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	tags := make([]map[string]string, 0, len(tagDescriptions))
	for _, t := range tagDescriptions {
		tags = append(tags, map[string]string{"name": t.name, "description": t.desc})
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "carbonledger", "version": apiVersion,
			"description": "Shandong carbon-inclusion ledger (山东碳普惠账本). Amounts, points and grams are decimal strings " +
				"with the asset's fixed scale. Every POST takes an Idempotency-Key. Errors are application/problem+json " +
				"with a stable code (Problem.code lists them all). Each operation's x-roles lists the token roles that may call it.",
			"contact": map[string]string{"name": contactName, "url": contactURL},
			"license": map[string]string{"name": licenceName},
		},
		"servers": []map[string]string{
			{"url": "/", "description": "this server"},
		},
		"tags":  tags,
		"paths": paths,
		"components": map[string]any{
			"schemas":         g.schemas,
			"headers":         headerComponents(),
			"responses":       responseComponents(),
			"securitySchemes": map[string]any{"bearer": map[string]string{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
		"security": []any{map[string]any{"bearer": []string{}}},
	}
}

// allRoles are the token roles, for a route open to any of them.
func allRoles() []string {
	return []string{ledger.RoleCitizen, ledger.RoleOperator, ledger.RoleVerifier, ledger.RoleEnterprise,
		ledger.RoleCity, ledger.RoleProvince, ledger.RoleAuditor}
}

// pathParamSchema is the schema of a path parameter: {id} is a UUID
// where the handler parses one; unknown values are 404 either way, so the
// document states only that it is a non-empty string.
func pathParamSchema(name string) map[string]any {
	if name == "year" {
		return map[string]any{"type": "string", "pattern": `^[0-9]{4}$`}
	}
	return map[string]any{"type": "string", "minLength": 1}
}

// requestBody is the route's body: its In shape, required unless the
// handler accepts none; a POST without an In shape takes an optional {}.
func requestBody(rt route, g *schemaGen) map[string]any {
	if rt.In == nil {
		if rt.Method != http.MethodPost {
			return nil
		}
		return map[string]any{"required": false, "description": "none, or an empty object", "content": map[string]any{
			"application/json": map[string]any{"schema": g.of(reflect.TypeOf(emptyRequest{}), true)}}}
	}
	media := map[string]any{"schema": g.of(reflect.TypeOf(rt.In), true)}
	if ex, ok := journeyExamples[rt.Method+" "+rt.Path]; ok && ex.request != nil {
		media["example"] = ex.request
	}
	return map[string]any{"required": !rt.BodyOptional, "content": map[string]any{"application/json": media}}
}

// responses are the route's success responses and the error responses
// its properties imply (see routeErrors), each with its codes.
func (s *Server) responses(rt route, out map[string]any) map[string]any {
	content := map[string]any{}
	produces := rt.Produces
	if len(produces) == 0 {
		produces = []string{"application/json"}
	}
	for _, ct := range produces {
		c := map[string]any{}
		switch {
		case ct == "application/json" && out != nil:
			c["schema"] = out
		case ct == "application/json":
			c["schema"] = map[string]any{"type": "object", "additionalProperties": true, "description": "a document defined elsewhere (OpenAPI 3.0 or JWKS)"}
		default:
			c["schema"] = map[string]any{"type": "string"}
		}
		content[ct] = c
	}
	okHeaders := map[string]any{"X-Request-Id": map[string]string{"$ref": headerRef + "X-Request-Id"}}
	if rt.Public && rt.Method == http.MethodGet && publicCached[rt.Path] {
		okHeaders["Cache-Control"] = map[string]string{"$ref": headerRef + "Cache-Control"}
	}
	if len(rt.Produces) > 1 {
		okHeaders["Content-Disposition"] = map[string]string{"$ref": headerRef + "Content-Disposition"}
	}
	okStatus := "200"
	if rt.Method == http.MethodPost {
		okStatus = "201"
	}
	res := map[string]any{okStatus: map[string]any{"description": "success", "headers": okHeaders, "content": content}}
	if rt.Method == http.MethodPost {
		replayed := any(map[string]string{"$ref": headerRef + "Idempotent-Replayed"})
		desc := "replay of an earlier request with the same Idempotency-Key"
		if rt.Path == "/v1/accounts" {
			// Also 200, without the header: a new key for an account that
			// already exists as asked.
			replayed = map[string]any{"description": "true on a replay; absent when a new key found the account already open",
				"schema": map[string]any{"type": "string", "enum": []string{"true"}}}
			desc += ", or a new key for an account that already exists as asked"
		}
		replay := map[string]any{"X-Request-Id": okHeaders["X-Request-Id"], "Idempotent-Replayed": replayed}
		res["200"] = map[string]any{"description": desc, "headers": replay, "content": content}
	}
	byStatus := map[int][]string{}
	for _, c := range routeErrors(rt) {
		st := statusOf(c)
		byStatus[st] = append(byStatus[st], string(c))
	}
	for st, codes := range byStatus {
		sort.Strings(codes)
		headers := map[string]any{"X-Request-Id": map[string]string{"$ref": headerRef + "X-Request-Id"}}
		if st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable {
			headers["Retry-After"] = map[string]string{"$ref": headerRef + "Retry-After"}
		}
		res[strconv.Itoa(st)] = map[string]any{
			"description": http.StatusText(st) + "; code " + strings.Join(codes, ", "),
			"x-codes":     codes,
			"headers":     headers,
			"content":     map[string]any{"application/problem+json": map[string]any{"schema": map[string]string{"$ref": problemRef}}},
		}
	}
	res["default"] = map[string]string{"$ref": responsesRef + "Problem"}
	return res
}

// publicCached are the public reads that set Cache-Control.
var publicCached = map[string]bool{
	"/.well-known/jwks.json": true, "/v1/retirements/{id}": true,
	"/v1/public/checkpoints": true, "/v1/public/checkpoints/latest": true,
}

// routeErrors are the error codes a route can answer, derived from what
// the route list says of it (token, roles, body, idempotency key, path
// and query parameters, rate class), from what every data route can meet
// (the database unavailable, a server fault) and, for a write, from the
// engine's rules and its use case's codes (codes.go). The harness checks
// every error response against the codes listed for its status.
func routeErrors(rt route) []ledger.Code {
	codes := []ledger.Code{ledger.CodeInternal}
	if rt.Path != "/healthz" && rt.Path != "/metrics" && rt.Path != "/openapi.json" && rt.Path != "/.well-known/jwks.json" {
		codes = append(codes, ledger.CodeUnavailable)
	}
	if !rt.Public {
		codes = append(codes, codeUnauthorized, codeRateLimited)
		if rt.Roles != nil {
			codes = append(codes, ledger.CodeForbidden)
		}
	}
	if strings.Contains(rt.Path, "{") {
		codes = append(codes, ledger.CodeNotFound)
	}
	if rt.Paged || len(rt.Query) > 0 {
		codes = append(codes, ledger.CodeInvalidRequest)
	}
	if rt.Method == http.MethodPost {
		codes = append(codes, ledger.CodeInvalidRequest, ledger.CodeIdempotencyKeyMissing, ledger.CodeIdempotencyConflict,
			codeBodyTooLarge, codeUnsupportedMedia, ledger.CodeCommitUnknown)
		// A write meets the engine's rules and those of its use case.
		codes = append(codes, engineWriteCodes...)
		codes = append(codes, useCaseCodes[rt.Tag]...)
	}
	seen := map[ledger.Code]bool{}
	out := codes[:0]
	for _, c := range codes {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func headerComponents() map[string]any {
	str := map[string]any{"type": "string"}
	return map[string]any{
		"X-Request-Id": map[string]any{"required": true, "description": "the request's id: the client's X-Request-Id when it is a valid identifier of at most " +
			strconv.Itoa(requestIDBytesMax) + " bytes, else a new one; it names the request in the server log",
			"schema": map[string]any{"type": "string", "minLength": 1, "maxLength": requestIDBytesMax}},
		"Idempotent-Replayed": map[string]any{"required": true, "description": "true: the response replays the stored result of an earlier request with the same key",
			"schema": map[string]any{"type": "string", "enum": []string{"true"}}},
		"Retry-After":         map[string]any{"required": true, "description": "seconds to wait before retrying", "schema": map[string]any{"type": "string", "pattern": "^[0-9]+$"}},
		"Cache-Control":       map[string]any{"description": "how long a public answer may be cached", "schema": str},
		"Content-Disposition": map[string]any{"description": "the file name of a CSV download", "schema": str},
	}
}

func responseComponents() map[string]any {
	return map[string]any{"Problem": map[string]any{
		"description": "error: an RFC 9457 problem with a stable code (Problem.code)",
		"headers":     map[string]any{"X-Request-Id": map[string]string{"$ref": headerRef + "X-Request-Id"}},
		"content":     map[string]any{"application/problem+json": map[string]any{"schema": map[string]string{"$ref": problemRef}}},
	}}
}

func operationID(rt route) string {
	p := pathParam.ReplaceAllString(rt.Path, "by_$1")
	p = strings.NewReplacer("/", "_", ".", "_", "-", "_").Replace(strings.Trim(p, "/"))
	return strings.ToLower(rt.Method) + "_" + p
}

var (
	timeType    = reflect.TypeOf(time.Time{})
	decimalType = reflect.TypeOf(decimal.Decimal{})
	uuidType    = reflect.TypeOf(uuid.UUID{})
	rawJSONType = reflect.TypeOf(json.RawMessage{})
)

// schemaGen describes Go types as JSON schemas, registering named structs
// under components.schemas: once as the server sends them (required and
// nullable fields stated), and once as a client sends them (required
// fields, and no unknown ones: the decoder refuses them).
type schemaGen struct {
	schemas map[string]any
	outName map[reflect.Type]string
	inName  map[reflect.Type]string
}

func newSchemaGen() *schemaGen {
	return &schemaGen{schemas: map[string]any{}, outName: map[reflect.Type]string{}, inName: map[reflect.Type]string{}}
}

// of is the schema of t; in: as a request body (or part of one).
func (g *schemaGen) of(t reflect.Type, in bool) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case decimalType:
		return map[string]any{"type": "string", "pattern": patternDecimal}
	case uuidType:
		return map[string]any{"type": "string", "format": "uuid"}
	case rawJSONType:
		// Recorded bodies (trail events) are JSON objects of their own shape.
		return map[string]any{"type": "object", "additionalProperties": true, "description": "a JSON object as recorded"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s := map[string]any{"type": "integer"}
		if t.Kind() == reflect.Int64 || t.Kind() == reflect.Int || t.Kind() == reflect.Uint64 || t.Kind() == reflect.Uint {
			s["format"] = "int64"
		} else {
			s["format"] = "int32"
		}
		return s
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.of(t.Elem(), in)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem(), in)}
	case reflect.Struct:
		names := g.outName
		name := schemaName(t)
		if in {
			names = g.inName
			if _, both := g.outName[t]; both {
				name += "_request"
			}
		}
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if _, ok := names[t]; ok {
			return ref
		}
		names[t] = name
		g.schemas[name] = map[string]any{} // placeholder breaks recursion
		props := map[string]any{}
		var required []string
		g.addFields(t, name, in, props, &required)
		sch := map[string]any{"type": "object", "properties": props}
		if in {
			sch["additionalProperties"] = false
		}
		if len(required) > 0 {
			sort.Strings(required)
			sch["required"] = required
		}
		if d, ok := schemaDescriptions[name]; ok {
			sch["description"] = d
		}
		g.schemas[name] = sch
		return ref
	}
	// Every type on the wire is one of the above; a new kind must be
	// described before it ships (TestOpenAPIExact fails on {}).
	return map[string]any{}
}

// jsonField is a struct field as encoding/json sees it.
type jsonField struct {
	name      string
	omitEmpty bool // omitempty that takes effect, or omitzero
	asString  bool // the ",string" option
}

func parseJSONTag(f reflect.StructField) (jsonField, bool) {
	jf := jsonField{name: f.Name}
	tag, ok := f.Tag.Lookup("json")
	if !ok {
		return jf, true
	}
	parts := strings.Split(tag, ",")
	if parts[0] == "-" && len(parts) == 1 {
		return jf, false
	}
	if parts[0] != "" {
		jf.name = parts[0]
	}
	t := f.Type
	for _, o := range parts[1:] {
		switch o {
		case "omitzero":
			jf.omitEmpty = true
		case "omitempty":
			// encoding/json never omits a struct value.
			if t.Kind() != reflect.Struct {
				jf.omitEmpty = true
			}
		case "string":
			switch t.Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
				reflect.Float32, reflect.Float64, reflect.Bool, reflect.String:
				jf.asString = true
			}
		}
	}
	return jf, true
}

func (g *schemaGen) addFields(t reflect.Type, parent string, in bool, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		jf, ok := parseJSONTag(f)
		if !ok {
			continue
		}
		if f.Anonymous && f.Tag.Get("json") == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.addFields(ft, parent, in, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		var s map[string]any
		switch {
		case jf.asString && f.Type.Kind() == reflect.Bool:
			s = map[string]any{"type": "string", "enum": []string{"true", "false"}}
		case jf.asString && f.Type.Kind() != reflect.String:
			s = map[string]any{"type": "string", "pattern": patternInteger, "description": "a whole number, as a decimal string"}
		default:
			s = g.of(f.Type, in)
		}
		base := strings.TrimSuffix(parent, "_request")
		s = refine(base, jf.name, s, in)
		nullable := f.Type.Kind() == reflect.Pointer && !jf.omitEmpty
		if nullable || (!in && nullableFields[base+"."+jf.name]) {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}, "nullable": true}
			} else {
				s["nullable"] = true
			}
		}
		props[jf.name] = s
		// Present whenever the server sends the type; for a request, a
		// field without omitempty is one the client must send, unless the
		// handler defaults it (optionalInputs).
		if !jf.omitEmpty && !(in && optionalInputs[base+"."+jf.name]) {
			*required = append(*required, jf.name)
		}
	}
}

// schemaName names a component schema; types of the use-case packages
// carry their package, so that quota.Transfer and registry.Transfer do
// not collide.
func schemaName(t reflect.Type) string {
	n := t.Name()
	if pkg := t.PkgPath(); pkg != "" && !strings.HasSuffix(pkg, "/api") {
		n = pkg[strings.LastIndex(pkg, "/")+1:] + "_" + n
	}
	if i := strings.Index(n, "["); i >= 0 {
		// Generic instance: pageView[...points.Methodology] -> pageView_points_Methodology
		inner := n[i+1 : len(n)-1]
		if j := strings.LastIndex(inner, "/"); j >= 0 {
			inner = inner[j+1:]
		}
		inner = strings.TrimPrefix(strings.ReplaceAll(inner, ".", "_"), "api_")
		n = n[:i] + "_" + inner
	}
	return n
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request, _ ledger.Actor) error {
	return writeJSON(w, http.StatusOK, s.openAPI())
}

// Document is the OpenAPI document every server serves at /openapi.json,
// indented, as committed in api/openapi.json (a test keeps them equal).
// It depends on the route list only, so it needs no database.
func Document() ([]byte, error) {
	s := &Server{}
	s.routes = s.allRoutes()
	b, err := json.MarshalIndent(s.openAPI(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
