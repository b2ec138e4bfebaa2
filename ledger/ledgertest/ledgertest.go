// Package ledgertest gives tests a real, migrated database. There is no
// mock: a test that needs a database and cannot get one fails, unless it
// runs under -short, where it is skipped.
package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/migrations"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server the tests create their databases on.
func AdminURL() string {
	for _, k := range []string{"CARBONLEDGER_TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return defaultURL
}

var (
	sweepOnce  sync.Once
	sharedOnce sync.Once
	sharedURL  string
	sharedErr  error
)

// Shared returns a pool on a database created once per test binary. Tests
// that share it must use their own account ids (see ID).
func Shared(t testing.TB) *pgxpool.Pool {
	t.Helper()
	skipShort(t)
	sharedOnce.Do(func() { sharedURL, sharedErr = createNamedDB(sharedName()) })
	if sharedErr != nil {
		t.Fatalf("no database for tests (set CARBONLEDGER_TEST_DATABASE_URL or run `make test`): %v", sharedErr)
	}
	return connect(t, sharedURL)
}

// Fresh returns a pool on a new database of its own, dropped at cleanup.
// Use it for tests that tamper with rows or count global totals.
func Fresh(t testing.TB) *pgxpool.Pool {
	t.Helper()
	skipShort(t)
	u, err := createDB()
	if err != nil {
		t.Fatalf("no database for tests (set CARBONLEDGER_TEST_DATABASE_URL or run `make test`): %v", err)
	}
	pool := connect(t, u)
	t.Cleanup(func() { dropDB(u) })
	return pool
}

// FreshURL is Fresh for code that needs the URL (a server process).
func FreshURL(t testing.TB) string {
	t.Helper()
	skipShort(t)
	u, err := createDB()
	if err != nil {
		t.Fatalf("no database for tests: %v", err)
	}
	t.Cleanup(func() { dropDB(u) })
	return u
}

// Ledger returns a ledger on a pool.
func Ledger(t testing.TB, pool *pgxpool.Pool, opts ledger.Options) *ledger.Ledger {
	t.Helper()
	l, err := ledger.New(context.Background(), pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// ID returns a unique identifier segment with a readable prefix.
func ID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func skipShort(t testing.TB) {
	if testing.Short() {
		t.Skip("needs a database; skipped under -short")
	}
}

func connect(t testing.TB, u string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := ledger.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Test databases are named cltest_<what>_<unix seconds>_<random>: unique
// per test binary run, so two runs on one server (two `make test`s, two
// developers) never touch each other's databases. A run drops its Fresh
// databases at cleanup; the shared one of a binary, and anything a killed
// run left, is swept by a later run once it is older than staleAfter.
const staleAfter = 12 * time.Hour

var testDBName = regexp.MustCompile(`^cltest_[a-z0-9_]*_([0-9]{10})_[0-9a-f]{10}$`)

// sharedName is one database per test binary run.
func sharedName() string {
	base := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(base))
	return uniqueName("shared_" + clean)
}

func uniqueName(what string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("cltest_%s_%d_%s", what, time.Now().Unix(), hex.EncodeToString(b[:]))
}

func createDB() (string, error) { return createNamedDB(uniqueName("fresh")) }

// sweepStale drops test databases older than staleAfter (by the time in
// their name): the shared databases of earlier runs and leftovers of runs
// that were killed. Errors are ignored: a sweep is housekeeping.
func sweepStale(ctx context.Context, pool *pgxpool.Pool) {
	rows, err := pool.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'cltest\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		m := testDBName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		if sec, err := strconv.ParseInt(m[1], 10, 64); err == nil && time.Since(time.Unix(sec, 0)) > staleAfter {
			_, _ = pool.Exec(ctx, dropStatement(ctx, pool, n))
		}
	}
}

func createNamedDB(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := AdminURL()
	pool, err := ledger.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	sweepOnce.Do(func() { sweepStale(ctx, pool) })
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	dbURL := u.String()
	p2, err := ledger.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer p2.Close()
	if _, err := migrations.Up(ctx, p2); err != nil {
		return "", err
	}
	return dbURL, nil
}

func dropDB(dbURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(dbURL)
	if err != nil {
		return
	}
	name := strings.TrimPrefix(u.Path, "/")
	pool, err := ledger.Connect(ctx, AdminURL())
	if err != nil {
		return
	}
	defer pool.Close()
	_, _ = pool.Exec(ctx, dropStatement(ctx, pool, name))
}

// dropStatement drops a test database and whatever still uses it:
// PostgreSQL's WITH (FORCE) ends its sessions; CockroachDB has no such
// option (the statement fails there) and needs CASCADE for a database
// that holds tables.
func dropStatement(ctx context.Context, pool *pgxpool.Pool, name string) string {
	if crdb, err := migrations.IsCockroach(ctx, pool); err == nil && crdb {
		return "DROP DATABASE IF EXISTS " + name + " CASCADE"
	}
	return "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
}

// Clock is a test's ledger clock: it stands still until the test moves
// it, so tests advance time instead of sleeping. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass it as ledger.Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Bundle is one test's world: a ledger on a database of its own, the
// clock it runs on, and the use cases under test.
type Bundle struct {
	L        *ledger.Ledger
	Pool     *pgxpool.Pool
	Clock    *Clock
	UseCases []ledger.UseCase
}

// Setup gives a test a fresh, migrated database (so verification and
// global totals cover only its own scenario), a ledger whose clock stands
// at start, and the use cases seeded — twice, since seeds must be
// idempotent.
func Setup(t testing.TB, start time.Time, ucs ...ledger.UseCase) *Bundle {
	t.Helper()
	pool := Fresh(t)
	clk := NewClock(start)
	l := Ledger(t, pool, ledger.Options{Now: clk.Now})
	for range 2 {
		if err := ledger.SeedAll(context.Background(), l, ucs); err != nil {
			t.Fatal(err)
		}
	}
	return &Bundle{L: l, Pool: pool, Clock: clk, UseCases: ucs}
}

// Verify asserts the invariants of docs/domain.md §6 as the running
// system checks them: the engine's verification, every trail chain and
// every check of the bundle's use cases.
func (b *Bundle) Verify(t testing.TB) {
	t.Helper()
	rep, err := b.L.VerifyAll(context.Background(), b.UseCases)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify found %d problem(s): %+v", rep.ProblemsTotal, rep.Problems)
	}
}
