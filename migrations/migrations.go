// Package migrations holds the schema as embedded SQL files and a small
// runner that applies them on PostgreSQL and CockroachDB alike.
//
// Why not golang-migrate or tern: both lock with pg_advisory_lock, which
// CockroachDB only stubs. This runner takes a lease row instead, executes one
// statement at a time (CockroachDB runs one schema change per implicit
// transaction), records a checksum per file and refuses to run when an
// applied file has changed. Every statement is idempotent DDL, so a crash in
// the middle of a file is repaired by running again.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed *.sql
var files embed.FS

// The lease: a runner holds it for leaseDuration and renews it every
// leaseRenewEvery while its migrations run, so a long migration keeps it
// and a runner that died loses it within leaseDuration. (Variables so a
// test can shorten them.)
var (
	leaseDuration   = 2 * time.Minute
	leaseRenewEvery = 30 * time.Second
	leaseWaitMax    = 3 * time.Minute
	leasePollPeriod = 250 * time.Millisecond
)

// Migration is one embedded file, with the statements to run on the engine.
type Migration struct {
	Version    string // file name without .sql, e.g. "0001_core"
	Checksum   string
	Statements []string
}

// Load returns the migrations in order. On CockroachDB a file
// NNNN_name.crdb.sql, when present, replaces NNNN_name.sql.
func Load(cockroach bool) ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".sql") && !strings.HasSuffix(n, ".crdb.sql") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, n := range names {
		version := strings.TrimSuffix(n, ".sql")
		path := n
		if cockroach {
			if _, err := fs.Stat(files, version+".crdb.sql"); err == nil {
				path = version + ".crdb.sql"
			}
		}
		body, err := fs.ReadFile(files, path)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		out = append(out, Migration{Version: version, Checksum: hex.EncodeToString(sum[:]), Statements: SplitStatements(string(body))})
	}
	return out, nil
}

// SplitStatements splits a file on semicolons that end a line, after
// removing -- comments. Our files keep semicolons out of string literals.
func SplitStatements(body string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			s := strings.TrimSpace(cur.String())
			stmts = append(stmts, strings.TrimSuffix(s, ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

// IsCockroach reports whether the pool talks to CockroachDB.
func IsCockroach(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var v string
	if err := pool.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return false, err
	}
	return strings.Contains(v, "CockroachDB"), nil
}

// Up applies every pending migration and returns the versions it applied.
func Up(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	crdb, err := IsCockroach(ctx, pool)
	if err != nil {
		return nil, err
	}
	migs, err := Load(crdb)
	if err != nil {
		return nil, err
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		`CREATE TABLE IF NOT EXISTS schema_migration_lease (id INT PRIMARY KEY, holder TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL)`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("migrations: bootstrap: %w", err)
		}
	}
	holder := leaseHolder()
	if err := acquireLease(ctx, pool, holder); err != nil {
		return nil, err
	}
	// Statements run under the lease: when it cannot be renewed (another
	// runner took it after it expired, or the database is gone) they stop.
	ctx, stopRenewing := keepLease(ctx, pool, holder)
	defer func() {
		stopRenewing()
		// Release with a fresh context: the caller's may be cancelled.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = pool.Exec(rctx, `DELETE FROM schema_migration_lease WHERE id = 1 AND holder = $1`, holder)
	}()

	applied := map[string]string{}
	rows, err := pool.Query(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var v, c string
		if err := rows.Scan(&v, &c); err != nil {
			return nil, err
		}
		applied[v] = c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	var done []string
	for _, m := range migs {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return done, fmt.Errorf("migrations: %s was changed after it was applied (checksum %.12s, file %.12s); add a new migration instead", m.Version, sum, m.Checksum)
			}
			continue
		}
		for i, stmt := range m.Statements {
			if _, err := pool.Exec(ctx, stmt); err != nil {
				if ctx.Err() != nil {
					err = context.Cause(ctx) // the lease's reason, not "context canceled"
				}
				return done, fmt.Errorf("migrations: %s statement %d: %w", m.Version, i+1, err)
			}
		}
		if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)`, m.Version, m.Checksum); err != nil {
			return done, err
		}
		done = append(done, m.Version)
	}
	return done, nil
}

func leaseHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano())
}

// keepLease renews holder's lease every leaseRenewEvery until stop is
// called. The context it returns is cancelled, with the reason as its
// cause, when a renewal finds the lease no longer holder's or fails.
func keepLease(ctx context.Context, pool *pgxpool.Pool, holder string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done, exited := make(chan struct{}), make(chan struct{})
	every, length := leaseRenewEvery, fmt.Sprintf("%d milliseconds", leaseDuration.Milliseconds())
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			tag, err := pool.Exec(ctx, `UPDATE schema_migration_lease SET expires_at = now() + $2::INTERVAL WHERE id = 1 AND holder = $1`,
				holder, length)
			switch {
			case err != nil:
				cancel(fmt.Errorf("migrations: renewing the lease: %w", err))
				return
			case tag.RowsAffected() != 1:
				cancel(errors.New("migrations: the lease was lost to another runner; stopped"))
				return
			}
		}
	}()
	var once sync.Once
	// stop waits for the keeper to exit, so no renewal runs after it.
	return ctx, func() { once.Do(func() { close(done); <-exited; cancel(nil) }) }
}

// acquireLease takes the single lease row, waiting while another runner
// holds an unexpired lease.
func acquireLease(ctx context.Context, pool *pgxpool.Pool, holder string) error {
	deadline := time.Now().Add(leaseWaitMax)
	for {
		var got string
		err := pool.QueryRow(ctx, `
			INSERT INTO schema_migration_lease (id, holder, expires_at) VALUES (1, $1, now() + $2::INTERVAL)
			ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE schema_migration_lease.expires_at < now()
			RETURNING holder`, holder, fmt.Sprintf("%d milliseconds", leaseDuration.Milliseconds())).Scan(&got)
		if err == nil && got == holder {
			return nil
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("migrations: lease: %w", err)
		}
		if time.Now().After(deadline) {
			return errors.New("migrations: another runner holds the lease; gave up waiting")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leasePollPeriod):
		}
	}
}
