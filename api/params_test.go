package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryReadsAreDeclared: queryGet records a read of a parameter the
// serving route does not declare, and not one it does (limit and cursor
// come with Paged).
func TestQueryReadsAreDeclared(t *testing.T) {
	rec := &undeclaredReads{}
	rt := route{Method: "GET", Path: "/v1/x", Paged: true, Query: []queryParam{paramString("holder", "")}}
	r := httptest.NewRequest("GET", "/v1/x?holder=a&limit=2&other=1", nil)
	r = r.WithContext(withRouteQuery(r.Context(), newRouteQuery(rt, rec)))
	if queryGet(r, "holder") != "a" || queryGet(r, "limit") != "2" || queryGet(r, "cursor") != "" {
		t.Fatal("declared parameters must read as given")
	}
	if got := rec.list(); len(got) != 0 {
		t.Fatalf("declared reads recorded: %v", got)
	}
	if queryGet(r, "other") != "1" {
		t.Fatal("an undeclared read still answers")
	}
	if got := rec.list(); len(got) != 1 || got[0] != "GET /v1/x ?other" {
		t.Fatalf("undeclared read not recorded: %v", got)
	}
}

// TestHandlersReadQueryOnlyThroughDeclarations: outside params.go no
// non-test file of package api reads the query directly (URL.Query,
// FormValue, Form, RawQuery), so every read goes through queryGet.
func TestHandlersReadQueryOnlyThroughDeclarations(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "params.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "Query", "RawQuery", "FormValue", "PostFormValue", "ParseForm", "Form", "PostForm":
				if x, ok := sel.X.(*ast.SelectorExpr); (ok && x.Sel.Name == "URL") || sel.Sel.Name != "Query" && sel.Sel.Name != "RawQuery" {
					t.Errorf("%s: reads the query directly (%s); use queryGet and declare the parameter on the route", fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}
