package api

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z_]+)\}`)

// openAPI builds the OpenAPI 3.0 document from the route list itself, so a
// route cannot exist without being described.
func (s *Server) openAPI() map[string]any {
	paths := map[string]map[string]any{}
	schemas := map[string]any{}
	for _, rt := range s.routes {
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
			"tags":        []string{rt.Tag},
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		if rt.Paged {
			params = append(params,
				map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": ledger.PageLimitMax, "default": ledger.PageLimitDefault}},
				map[string]any{"name": "cursor", "in": "query", "schema": map[string]string{"type": "string"}, "description": "next_cursor of the previous page"})
		}
		if rt.Method == http.MethodPost {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "required": true,
				"schema":      map[string]any{"type": "string", "maxLength": ledger.IdempotencyKeyBytesMax},
				"description": "the same key with the same body returns the first result; with a different body it is idempotency_conflict"})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.In != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.In), schemas)}}}
		}
		okStatus := "200"
		if rt.Method == http.MethodPost {
			okStatus = "201"
		}
		content := map[string]any{}
		produces := rt.Produces
		if len(produces) == 0 {
			produces = []string{"application/json"}
		}
		for _, ct := range produces {
			c := map[string]any{}
			if rt.Out != nil && ct == "application/json" {
				c["schema"] = schemaOf(reflect.TypeOf(rt.Out), schemas)
			}
			content[ct] = c
		}
		responses := map[string]any{okStatus: map[string]any{"description": "success", "content": content}}
		if rt.Method == http.MethodPost {
			responses["200"] = map[string]any{"description": "replay of an earlier request with the same Idempotency-Key", "content": content}
		}
		responses["default"] = map[string]any{"description": "error", "content": map[string]any{
			"application/problem+json": map[string]any{"schema": map[string]string{"$ref": "#/components/schemas/Problem"}}}}
		op["responses"] = responses
		if rt.Public {
			op["security"] = []any{}
		} else if rt.Roles != nil {
			op["description"] = "Roles: " + strings.Join(rt.Roles, ", ")
		}
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	schemaOf(reflect.TypeOf(Problem{}), schemas) // registers Problem, which every error response refers to
	registerEventSchemas(schemas)                // the change feed's event types and bodies (events.go)
	codes := make([]string, 0, len(statusByCode))
	for c := range statusByCode {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "carbonledger", "version": "1",
			"description": "Shandong carbon-inclusion ledger. Amounts are decimal strings with the asset's fixed scale. Errors are application/problem+json with a stable code: " + strings.Join(codes, ", ") + "."},
		"paths": paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]string{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
		"security": []any{map[string]any{"bearer": []string{}}},
	}
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
)

// schemaOf describes a Go type as a JSON schema, registering named
// structs under components.schemas.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case decimalType:
		return map[string]any{"type": "string", "format": "decimal"}
	case uuidType:
		return map[string]any{"type": "string", "format": "uuid"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Struct:
		name := schemaName(t)
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if _, ok := schemas[name]; ok {
			return ref
		}
		schemas[name] = map[string]any{} // placeholder breaks recursion
		props := map[string]any{}
		addFields(t, props, schemas)
		schemas[name] = map[string]any{"type": "object", "properties": props}
		return ref
	}
	return map[string]any{}
}

func addFields(t reflect.Type, props map[string]any, schemas map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			addFields(f.Type, props, schemas)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag := f.Tag.Get("json"); tag != "" {
			n := strings.Split(tag, ",")[0]
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		props[name] = schemaOf(f.Type, schemas)
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
		// Generic instance: pageView[...accountPostingView] -> pageView_accountPostingView
		inner := n[i+1 : len(n)-1]
		if j := strings.LastIndex(inner, "."); j >= 0 {
			inner = inner[j+1:]
		}
		n = n[:i] + "_" + inner
	}
	return n
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request, _ ledger.Actor) error {
	return writeJSON(w, http.StatusOK, s.openAPI())
}
