package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The front door's rule, enforced: the SQL of a use case (every package
// under ledger/ but ledgertest) names only its own tables — those whose
// name starts with the package's name and "_". The journal (accounts,
// postings, transactions, issuer shards, idempotency keys, the trail) is
// read through Journal and written through Writer, so its locking, error
// translation and hash chains apply to every use case, and a change of
// the engine's schema cannot break a use case silently.

// createTable finds the tables the migrations create.
var createTable = regexp.MustCompile(`(?i)CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)`)

// sqlish picks the string literals that are SQL or fragments of it.
var sqlish = regexp.MustCompile(`(?i)\b(SELECT|INSERT|UPDATE|DELETE|FROM|JOIN)\b`)

func knownTables(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	tables := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range createTable.FindAllStringSubmatch(string(b), -1) {
			tables[strings.ToLower(m[1])] = true
		}
	}
	return tables
}

// tablesNamed returns the identifiers that stand where a table does: after
// FROM, JOIN, INTO, UPDATE or TABLE, and after a comma inside a FROM list.
// A name followed by "(" is a function (unnest, lower), not a table.
func tablesNamed(sql string, tables map[string]bool) []string {
	tok := regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*|\S`).FindAllString(sql, -1)
	var out []string
	inFrom, expect := false, false
	for i, w := range tok {
		up := strings.ToUpper(w)
		switch up {
		case "FROM", "JOIN", "INTO", "UPDATE", "TABLE":
			expect, inFrom = true, up == "FROM" || up == "JOIN"
			continue
		case "WHERE", "ON", "GROUP", "ORDER", "LIMIT", "SET", "VALUES", "RETURNING", "USING", "HAVING", ")":
			inFrom, expect = false, false
			continue
		case ",":
			expect = inFrom
			continue
		case "ONLY", "LATERAL", "EXISTS", "NOT", "IF":
			continue
		}
		if !expect {
			continue
		}
		expect = false
		if i+1 < len(tok) && tok[i+1] == "(" {
			continue // a function or a column list: INSERT INTO t (…) has t before "("
		}
		if tables[strings.ToLower(w)] {
			out = append(out, strings.ToLower(w))
		}
	}
	// INSERT INTO t (cols): the name before "(" is still a table.
	for i, w := range tok {
		if i > 0 && strings.EqualFold(tok[i-1], "INTO") && tables[strings.ToLower(w)] && i+1 < len(tok) && tok[i+1] == "(" {
			out = append(out, strings.ToLower(w))
		}
	}
	return out
}

func TestTablesNamedFindsEveryPosition(t *testing.T) {
	tables := map[string]bool{"accounts": true, "postings": true, "points_lots": true, "transactions": true}
	cases := []struct {
		sql  string
		want string
	}{
		{`SELECT balance FROM accounts WHERE id = $1`, "accounts"},
		{`SELECT 1 FROM points_lots l JOIN postings p ON p.tx_id = l.tx_id`, "points_lots postings"},
		{`(b.reserved_tx IS NULL OR EXISTS (SELECT 1 FROM transactions r WHERE r.resolves = b.reserved_tx))`, "transactions"},
		{`SELECT x FROM points_lots l, accounts a WHERE a.id = l.account`, "points_lots accounts"},
		{`INSERT INTO accounts (id) VALUES ($1)`, "accounts"},
		{`UPDATE accounts SET status = 'frozen'`, "accounts"},
		{`SELECT * FROM unnest($1::TEXT[]) AS v(id) LEFT JOIN points_lots l ON l.id = v.id`, "points_lots"},
		{`SELECT a.accounts, lg.postings FROM points_lots`, "points_lots"}, // columns are not tables
	}
	for _, c := range cases {
		if got := strings.Join(tablesNamed(c.sql, tables), " "); got != c.want {
			t.Errorf("%s\n got %q, want %q", c.sql, got, c.want)
		}
	}
}

func TestUseCaseSQLNamesNoEngineTable(t *testing.T) {
	tables := knownTables(t)
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "ledgertest" || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		pkg := d.Name()
		files, _ := filepath.Glob(filepath.Join(pkg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue // tests may tamper with engine rows to prove detection
			}
			checked += checkFile(t, f, pkg, tables)
		}
	}
	if checked == 0 {
		t.Fatal("no SQL found in the use-case packages: the test is looking in the wrong place")
	}
}

// checkFile reports every SQL literal of file that names a table that is
// not the package's own; it returns how many SQL literals it read.
func checkFile(t *testing.T, file, pkg string, tables map[string]bool) int {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		lit, ok := node.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil || !sqlish.MatchString(s) {
			return true
		}
		n++
		for _, tbl := range tablesNamed(s, tables) {
			if !strings.HasPrefix(tbl, pkg+"_") {
				t.Errorf("%s: SQL of use case %q names table %q, which is not its own: read the journal through ledger.Journal, write it through ledger.Writer",
					fset.Position(lit.Pos()), pkg, tbl)
			}
		}
		return true
	})
	return n
}
