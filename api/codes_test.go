package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestProblemCodesComplete: every error code the code base defines or
// uses — a constant of type Code, a Code("…") conversion, a literal given
// to Errf/errorf or set as an Error's Code — is in Problem.code's enum
// (errorCodes), and every code of the status table is too.
func TestProblemCodesComplete(t *testing.T) {
	enum := problemCodes()
	found := map[string]string{} // code -> where
	fset := token.NewFileSet()
	for _, root := range []string{".", "../ledger"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != root && (d.Name() == "apitest" || d.Name() == "client" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			collectCodes(fset, f, found)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found) < 40 {
		t.Fatalf("found only %d codes in the source; the scan is broken", len(found))
	}
	for code, where := range found {
		if !slices.Contains(enum, code) {
			t.Errorf("code %q (%s) is missing from errorCodes (api/codes.go), so from Problem.code's enum", code, where)
		}
	}
	for c := range statusByCode {
		if !slices.Contains(enum, string(c)) {
			t.Errorf("statusByCode lists %q, which errorCodes lacks", c)
		}
	}
	t.Logf("%d codes in the source, %d in the enum", len(found), len(enum))
}

func isCodeType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "Code"
	case *ast.SelectorExpr:
		return x.Sel.Name == "Code"
	}
	return false
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func collectCodes(fset *token.FileSet, f *ast.File, found map[string]string) {
	add := func(e ast.Expr, pos token.Pos) {
		if s, ok := stringLit(e); ok {
			found[s] = fset.Position(pos).String()
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.ValueSpec:
			if x.Type != nil && isCodeType(x.Type) {
				for _, v := range x.Values {
					add(v, v.Pos())
				}
			}
		case *ast.CallExpr:
			name := ""
			switch fn := x.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			if (name == "Errf" || name == "errorf" || name == "Code") && len(x.Args) > 0 {
				add(x.Args[0], x.Pos())
			}
		case *ast.CompositeLit:
			isError := false
			switch ty := x.Type.(type) {
			case *ast.Ident:
				isError = ty.Name == "Error"
			case *ast.SelectorExpr:
				isError = ty.Sel.Name == "Error"
			}
			for _, el := range x.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok && isError {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Code" {
						add(kv.Value, kv.Pos())
					}
				}
			}
		}
		return true
	})
}
