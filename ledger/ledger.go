// Package ledger is the double-entry core of carbonledger and the use cases
// built on it. It owns the SQL and the database transactions; it knows
// nothing of HTTP or tokens.
package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/migrations"
)

const (
	retriesMaxDefault      = 12
	retryBackoffBase       = 2 * time.Millisecond
	retryBackoffMax        = 250 * time.Millisecond
	poolMaxConnsDefault    = 48
	statementTimeoutMillis = 15000
	connectTimeoutDefault  = 5 * time.Second // per host of the URL (Connect)
)

// Options configure a Ledger. Zero values take the documented defaults.
type Options struct {
	RetriesMax int              // whole-transaction retries on 40001/40P01; default 12
	Now        func() time.Time // clock; default time.Now (tests move it)
	NoCoalesce bool             // write each Post in its own database transaction
	// ReadOnly makes a ledger for reads on a standby (a read replica):
	// New writes nothing (no sealing of legacy trail events, no adoption
	// of legacy statuses; the primary's server does those) and starts no
	// coalescer. A write through it fails as unavailable (25006).
	ReadOnly bool
	// CheckpointKeys are the public keys, by kid, that VerifyAll checks
	// checkpoint signatures with; nil checks everything else about them.
	CheckpointKeys map[string]ed25519.PublicKey
	// FeedRetention is how long stamped events are kept before the
	// retention job may delete them; default FeedRetentionDefault.
	FeedRetention time.Duration
	// IdempotencyRetention is how long an idempotency key is kept; the
	// prune-idempotency-keys job deletes older ones, after which the same
	// key is a new request. Default IdempotencyRetentionDefault.
	IdempotencyRetention time.Duration
}

// Ledger is the entry point to the engine and the use cases.
type Ledger struct {
	pool      *pgxpool.Pool
	cockroach bool
	opts      Options
	stats     Stats
	coalescer *coalescer
	// assets are the scales of every row of the assets table, read once at
	// New and never changed: index kinds (family 'index') are rows, so a
	// migration adds a kind and the next process start knows it.
	assets map[Asset]int32
	// legacyKeysBefore is when the idempotency scheme of whole-principal
	// scopes began, if keys stored before it exist (idempotency.go).
	legacyKeysBefore time.Time
	feed             feedSignal // wakes long-polling feed readers after a relay run
}

// Connect opens a pool with the decimal type registered and a statement
// timeout, so a stuck query cannot hold locks for ever.
//
// The URL may name several hosts (postgres://u@a:5432,b:5432/db?
// target_session_attrs=read-write): every new connection tries them in
// order and keeps the first that accepts writes, so after a failover the
// pool's new connections go to the promoted standby by themselves. A
// connection to the dead primary fails its next use (503 unavailable) and
// the pool drops it; one idle for more than a second is pinged before
// use. Each host gets connectTimeoutDefault unless the URL says otherwise
// (connect_timeout), so a host that does not answer at all (a dead
// machine) cannot use up a request's whole deadline before the next host
// is tried.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) { return connect(ctx, url, false) }

// ConnectReadOnly is Connect for a standby that serves reads: every
// session is default_transaction_read_only, set on the parsed
// configuration, so any URL form works (a keyword string as well as a
// URL, with or without a query).
func ConnectReadOnly(ctx context.Context, url string) (*pgxpool.Pool, error) {
	return connect(ctx, url, true)
}

func connect(ctx context.Context, url string, readOnly bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = poolMaxConnsDefault
	}
	if !strings.Contains(url, "connect_timeout") && os.Getenv("PGCONNECT_TIMEOUT") == "" {
		cfg.ConnConfig.ConnectTimeout = connectTimeoutDefault
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(statementTimeoutMillis)
	}
	if readOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		pgxdecimal.Register(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return pool, nil
}

// New wraps a pool. The schema must be migrated.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Ledger, error) {
	if opts.RetriesMax <= 0 {
		opts.RetriesMax = retriesMaxDefault
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	crdb, err := migrations.IsCockroach(ctx, pool)
	if err != nil {
		return nil, err
	}
	l := &Ledger{pool: pool, cockroach: crdb, opts: opts}
	if l.assets, err = loadAssets(ctx, pool); err != nil {
		return nil, err
	}
	if l.legacyKeysBefore, err = loadLegacyKeysBefore(ctx, pool); err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		return l, nil
	}
	// Events moved from the use cases' old trail tables are chained
	// once, before anything new is appended to their subjects.
	if err := l.sealLegacyTrail(ctx); err != nil {
		return nil, err
	}
	// Accounts frozen or closed before status decisions were recorded get
	// their status adopted, once per database (integrity.go).
	if err := l.adoptLegacyStatuses(ctx); err != nil {
		return nil, err
	}
	if !opts.NoCoalesce {
		l.startCoalescer()
	}
	return l, nil
}

// loadAssets reads the assets table. Before the first migration there is
// none, and the engine's own assets (Asset.Scale) are all there is.
func loadAssets(ctx context.Context, pool *pgxpool.Pool) (map[Asset]int32, error) {
	rows, err := pool.Query(ctx, `SELECT code, scale FROM assets`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return map[Asset]int32{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[Asset]int32{}
	for rows.Next() {
		var code string
		var scale int64
		if err := rows.Scan(&code, &scale); err != nil {
			rows.Close()
			return nil, err
		}
		out[Asset(code)] = int32(scale)
	}
	return out, rows.Err()
}

// AssetScale is the scale of an asset of this ledger: the engine's own
// assets and every asset of the assets table as it was at New.
func (l *Ledger) AssetScale(a Asset) (int32, bool) {
	if s, ok := a.Scale(); ok {
		return s, true
	}
	s, ok := l.assets[a]
	return s, ok
}

// IndexKindLoaded reports whether the ledger knows the index asset a.
func (l *Ledger) IndexKindLoaded(a Asset) bool {
	_, ok := l.AssetScale(a)
	return ok && ValidIndexAsset(string(a))
}

// Pool exposes the pool for readiness checks and tests.
func (l *Ledger) Pool() *pgxpool.Pool { return l.pool }

// Stats returns the live counters.
func (l *Ledger) Stats() *Stats { return &l.stats }

func (l *Ledger) now() time.Time { return l.opts.Now().UTC().Truncate(time.Microsecond) }

// errRetry asks inTx to run the whole transaction again: a concurrent
// writer won a race that the next attempt will see.
var errRetry = errors.New("ledger: retry transaction")

// inTx runs fn in one database transaction and retries the whole
// transaction on serialization failures (40001) and deadlocks (40P01) with
// bounded, jittered backoff: RetriesMax attempts in all. It returns the
// COMMIT error, and reports an unknown commit outcome (I/O error during
// COMMIT, CockroachDB 40003) as CodeCommitUnknown, which the caller
// resolves by replaying with the same idempotency key.
//
// It runs the same loop on both engines. It deliberately does not use
// crdbpgx.ExecuteTx: on PostgreSQL that helper retries through a savepoint,
// which keeps the old snapshot, and it ignores the COMMIT result (see
// ENGINEERING.md §3). On CockroachDB the helper would be correct, but it
// cannot restart the transaction for our own races (errRetry, once-only
// unique indexes), so it needs this loop around it; nested, the two bounds
// multiply (about RetriesMax² attempts), and its ambiguous RELEASE comes
// back as its own error type instead of CodeCommitUnknown. A
// whole-transaction restart (ROLLBACK, new BEGIN) is a correct retry of
// 40001 on CockroachDB too, and gives one bound, one backoff and one
// reading of COMMIT on both engines.
//
// An availability error it returns states the outcome (WriteOutcome):
// unavailable is not_committed (the transaction rolled back or never
// began), commit_outcome_unknown is unknown.
func (l *Ledger) inTx(ctx context.Context, iso pgx.TxIsoLevel, fn func(pgx.Tx) error) error {
	var last error
	wait := func(ctx context.Context, failed int) error {
		l.stats.countRetry(last)
		return sleepCtx(ctx, retryBackoff(failed))
	}
	_, err := retryLoop(ctx, l.opts.RetriesMax, wait, func() error {
		last = l.attempt(ctx, iso, fn)
		return last
	})
	if ErrorCode(err) == CodeCommitUnknown {
		l.stats.CommitUnknown.Add(1)
	}
	return withOutcome(err)
}

// retryLoop calls try until it succeeds, fails with an error retryable
// rejects, or has been called attemptsMax times, and translates the last
// error. Between attempts it calls wait with the number of the attempt that
// failed; wait returns ctx's error if ctx ends first. It knows nothing of
// databases, so the retry policy is tested without one.
func retryLoop(ctx context.Context, attemptsMax int, wait func(ctx context.Context, failed int) error, try func() error) (attempts int, err error) {
	for attempts = 1; ; attempts++ {
		err = try()
		if err == nil {
			return attempts, nil
		}
		if !retryable(err) || attempts >= attemptsMax || ctx.Err() != nil {
			if retryable(err) {
				return attempts, Errf(CodeUnavailable, "gave up after %d attempts under contention; retry later", attempts)
			}
			return attempts, translate(err)
		}
		if err := wait(ctx, attempts); err != nil {
			return attempts, translate(err)
		}
	}
}

// sleepCtx sleeps for d or until ctx ends, whichever comes first, and
// returns ctx's error in the second case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryBackoff is a full-jitter exponential backoff: uniform in
// (0, min(retryBackoffBase<<failed, retryBackoffMax)], so the worst-case
// total wait of a transaction stays bounded by RetriesMax×retryBackoffMax.
func retryBackoff(failed int) time.Duration {
	backoff := retryBackoffBase << min(failed, 8)
	if backoff > retryBackoffMax {
		backoff = retryBackoffMax
	}
	return time.Duration(rand.Int64N(int64(backoff)) + 1)
}

func (l *Ledger) attempt(ctx context.Context, iso pgx.TxIsoLevel, fn func(pgx.Tx) error) error {
	begun, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: iso})
	if err != nil {
		return err
	}
	tx := &tallyTx{Tx: begun}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := commitError(tx.Commit(ctx)); err != nil {
		return err
	}
	l.stats.commit(&tx.tally)
	return nil
}

// commitError classifies the error of COMMIT. A server error is an answer:
// the transaction did not commit (40001 there is retried by the caller),
// except CockroachDB's 40003, which says the outcome is unknown.
// pgx.ErrTxCommitRollback is an answer too: the server rolled back a
// transaction that had already failed. Any other failure (an I/O error, a
// cancelled context) leaves the outcome unknown: COMMIT may have been
// applied without its answer reaching us.
func commitError(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "40003" {
			return &Error{Code: CodeCommitUnknown, Msg: "the commit outcome is unknown; replay with the same idempotency key", cause: err}
		}
		return err
	}
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		return err
	}
	return &Error{Code: CodeCommitUnknown, Msg: "the commit outcome is unknown; replay with the same idempotency key", cause: err}
}

func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01":
			return true
		case "23505":
			// A concurrent writer resolved the same pending transaction or
			// claimed the same key first; the next attempt sees it and
			// answers with the proper domain error or stored result.
			return pgErr.ConstraintName == "transactions_resolves_once" ||
				pgErr.ConstraintName == "transactions_reversed_once" ||
				pgErr.ConstraintName == "idempotency_keys_pkey"
		}
	}
	return false
}

// translate maps driver errors to domain errors in one place. Named
// constraints are the second line of defence behind the checks in Go.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := AsError(err); ok {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{Code: CodeUnavailable, Msg: "request cancelled or timed out", cause: err}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.ConstraintName {
		case "accounts_no_overdraft":
			return &Error{Code: CodeInsufficientBalance, Msg: "insufficient available balance", cause: err}
		case "transactions_resolves_once":
			return &Error{Code: CodePendingResolved, Msg: "the pending transaction was already posted or voided", cause: err}
		case "transactions_reversed_once":
			return &Error{Code: CodeAlreadyReversed, Msg: "the transaction was already reversed", cause: err}
		}
		switch {
		case pgErr.Code == "57014":
			return &Error{Code: CodeUnavailable, Msg: "statement timed out", cause: err}
		case pgErr.Code == "55P03":
			return &Error{Code: CodeUnavailable, Msg: "lock wait timed out", cause: err}
		case pgErr.Code == "40001", pgErr.Code == "40P01":
			return &Error{Code: CodeUnavailable, Msg: "contention; retry later", cause: err}
		case pgErr.Code == "25006":
			// read_only_sql_transaction: this connection's server does not
			// take writes (a standby, or a primary fenced read-only during
			// a failover); the write did nothing, and a later try may reach
			// the new primary.
			return &Error{Code: CodeUnavailable, Msg: "database is read-only (failover in progress?); retry later", cause: err}
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources: too many connections, out of memory, disk full
			strings.HasPrefix(pgErr.Code, "57P"), // the server is shutting down, crashed or not yet accepting connections
			pgErr.Code == "58030":                // I/O error on the server
			return &Error{Code: CodeUnavailable, Msg: "database unavailable", cause: err}
		}
		return err
	}
	if connectionLost(err) {
		return &Error{Code: CodeUnavailable, Msg: "database unreachable", cause: err}
	}
	return err
}

// connectionLost reports whether err says the database could not be
// reached or the connection broke: the dial failed, the socket closed or
// timed out, the pool is closed. These are the outage's errors, which a
// client answers by retrying later, not programming errors.
func connectionLost(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgxpool's "closed pool" (puddle.ErrClosedPool) is not exported by
	// pgx; its text is stable.
	return strings.Contains(err.Error(), "closed pool")
}

// Outcome of a failed write, for the client: OutcomeNotCommitted means the
// database transaction did not commit (nothing changed; sending the same
// request again is safe with any key), OutcomeUnknown that it may have
// (replay with the same idempotency key to learn which).
const (
	OutcomeNotCommitted = "not_committed"
	OutcomeUnknown      = "unknown"
)

// withOutcome marks an unavailable error of a write with its outcome, in a
// copy (errors may be shared).
func withOutcome(err error) error {
	e, ok := AsError(err)
	if !ok {
		return err
	}
	outcome := ""
	switch e.Code {
	case CodeUnavailable:
		outcome = OutcomeNotCommitted
	case CodeCommitUnknown:
		outcome = OutcomeUnknown
	default:
		return err
	}
	if e.Detail["outcome"] != "" {
		return err
	}
	c := *e
	c.Detail = map[string]string{"outcome": outcome}
	for k, v := range e.Detail {
		c.Detail[k] = v
	}
	return &c
}

// WriteOutcome is the outcome a failed write's error states: not_committed,
// unknown, or "" when it is not an availability error.
func WriteOutcome(err error) string {
	if e, ok := AsError(err); ok {
		return e.Detail["outcome"]
	}
	return ""
}
