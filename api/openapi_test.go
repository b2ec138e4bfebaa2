package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/api/apitest"
)

var updateDoc = flag.Bool("update", false, "rewrite api/openapi.json from the route list")

// TestOpenAPIFile: the committed api/openapi.json, from which the Go and
// TypeScript clients are generated and which Redocly lints, is the
// document the server builds. `go test ./api -run TestOpenAPIFile -update`
// (or make generate) rewrites it.
func TestOpenAPIFile(t *testing.T) {
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	if *updateDoc {
		if err := os.WriteFile("openapi.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, committed) {
		t.Fatal("api/openapi.json is stale: run make generate (go test ./api -run TestOpenAPIFile -update, then scripts/contract/check.sh --update) and commit")
	}
}

// TestOpenAPIValid: kin-openapi loads and validates the document with 0
// errors.
func TestOpenAPIValid(t *testing.T) {
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	c, err := apitest.Load(doc)
	if err != nil {
		t.Fatalf("kin-openapi: %v", err)
	}
	t.Logf("kin-openapi: valid, 0 errors; %d paths, %d schemas", c.Doc().Paths.Len(), len(c.Doc().Components.Schemas))
}

// amountLike names string fields that must carry a pattern: amounts,
// balances, points, grams, tonnes, prices.
var amountLike = regexp.MustCompile(`(^|_)(amount|balance|available|pending|tonnes|points|grams|price|cny|units|reserved|emissions|requested|change|stock|quantity)$`)

// TestOpenAPIExact checks the wire types of the document: no schema is
// empty ({}), no component is a bare $ref (Problem once referred to
// itself), amount-like strings have a pattern, Problem.code is the enum of
// every code, and each rule of openapi_types.go names a field that exists.
func TestOpenAPIExact(t *testing.T) {
	raw, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, s := range schemas {
		sm := s.(map[string]any)
		if _, ok := sm["$ref"]; ok || len(sm) == 0 {
			t.Errorf("components.schemas.%s is %v, not a schema of its own", name, sm)
		}
		props, _ := sm["properties"].(map[string]any)
		for field, p := range props {
			pm := p.(map[string]any)
			if len(pm) == 0 {
				t.Errorf("%s.%s: empty schema {}", name, field)
			}
			if pm["type"] == "string" && amountLike.MatchString(field) && pm["pattern"] == nil && pm["enum"] == nil && pm["format"] == nil {
				t.Errorf("%s.%s: an amount-like string without a pattern (add a rule in openapi_types.go)", name, field)
			}
		}
	}
	code := schemas["Problem"].(map[string]any)["properties"].(map[string]any)["code"].(map[string]any)
	var enum []string
	for _, v := range code["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	if !slices.Equal(enum, problemCodes()) {
		t.Errorf("Problem.code enum %v, want %v", enum, problemCodes())
	}
	var unused []string
	for key := range fieldWire {
		schema, field, _ := strings.Cut(key, ".")
		found := false
		for _, name := range []string{schema, schema + "_request"} {
			if s, ok := schemas[name].(map[string]any); ok {
				if props, _ := s["properties"].(map[string]any); props[field] != nil {
					found = true
				}
			}
		}
		if !found {
			unused = append(unused, key)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("rules for fields that no schema has: %v", unused)
	}
}
