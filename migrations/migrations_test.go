package migrations_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/migrations"
)

func TestSplitStatements(t *testing.T) {
	got := migrations.SplitStatements("-- a comment; with a semicolon\nCREATE TABLE a (x INT); -- trailing\n\nCREATE INDEX i\n  ON a (x);\nINSERT INTO a VALUES (1)")
	if len(got) != 3 || !strings.HasPrefix(got[1], "CREATE INDEX i") || got[2] != "INSERT INTO a VALUES (1)" {
		t.Fatalf("%q", got)
	}
}

// Migrating an up-to-date database changes nothing; an applied file whose
// text changed is refused rather than silently skipped.
func TestUpIsIdempotentAndDetectsEditedFiles(t *testing.T) {
	ctx := context.Background()
	pool := ledgertest.Fresh(t) // already migrated once, with its data
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (id, asset, owner, type, head_hash) VALUES ('org:m1:CNY', 'CNY', 'org:m1', 'org', '')`); err != nil {
		t.Fatal(err)
	}
	done, err := migrations.Up(ctx, pool)
	if err != nil || len(done) != 0 {
		t.Fatalf("second run applied %v: %v", done, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE id = 'org:m1:CNY'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("data lost: %d %v", n, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0001_core'`); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Up(ctx, pool); err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
		t.Fatalf("edited migration not detected: %v", err)
	}
	// Every statement is portable: none of the constructs CockroachDB lacks
	// (keywords are upper case in our files; a column may be called serial).
	migs, err := migrations.Load(false)
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`\b(SERIAL|BIGSERIAL|CREATE SEQUENCE|CREATE TRIGGER|PLPGSQL|PG_ADVISORY\w*|DEFERRABLE|EXCLUDE USING|UPSERT|USING HASH|LISTEN|NOTIFY)\b`)
	for _, m := range migs {
		for _, s := range m.Statements {
			if w := bad.FindString(s); w != "" {
				t.Errorf("%s uses %s: %s", m.Version, w, s)
			}
		}
	}
}
