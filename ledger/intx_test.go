package ledger_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// The tests here run inTx on a real PostgreSQL in both of the ledger's
// engine modes: the CockroachDB mode must keep the same bound and the same
// COMMIT classification. retry_test.go tests the policy itself.

type engine struct {
	name      string
	cockroach bool
}

var engines = []engine{{"postgres", false}, {"cockroach", true}}

func ledgerOn(t *testing.T, pool *pgxpool.Pool, e engine) *ledger.Ledger {
	t.Helper()
	l := ledgertest.Ledger(t, pool, ledger.Options{NoCoalesce: true})
	l.SetCockroach(e.cockroach)
	return l
}

// TestRetryBoundIsTheSameOnBothEngines: a transaction that always meets
// contention runs exactly RetriesMax times in all, whatever the engine,
// and then reports CodeUnavailable. (Nesting cockroach-go's own retry loop
// inside ours once made that about RetriesMax² on CockroachDB.)
func TestRetryBoundIsTheSameOnBothEngines(t *testing.T) {
	pool := ledgertest.Shared(t)
	for _, e := range engines {
		for _, code := range []string{"40001", "40P01"} {
			t.Run(e.name+"/"+code, func(t *testing.T) {
				t.Parallel()
				l := ledgerOn(t, pool, e)
				before := l.Stats().Retries.Load()
				var calls atomic.Int32
				err := l.InTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
					calls.Add(1)
					if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
						return err
					}
					return &pgconn.PgError{Code: code, Message: "scripted contention"}
				})
				if got := int(calls.Load()); got != ledger.RetriesMaxDefault {
					t.Errorf("fn ran %d times, want %d", got, ledger.RetriesMaxDefault)
				}
				if got := l.Stats().Retries.Load() - before; got != int64(ledger.RetriesMaxDefault-1) {
					t.Errorf("Retries counted %d, want %d", got, ledger.RetriesMaxDefault-1)
				}
				if ledger.ErrorCode(err) != ledger.CodeUnavailable {
					t.Errorf("err = %v, want %s", err, ledger.CodeUnavailable)
				}
			})
		}
	}
}

// commitProbe returns a fresh database whose table commit_probe makes
// COMMIT itself fail on demand: a deferred constraint trigger (test-only,
// PostgreSQL-only SQL) runs at COMMIT and raises the SQLSTATE stored in
// the new row's outcome, or sleeps a second when it is 'sleep'.
func commitProbe(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := ledgertest.Fresh(t)
	for _, q := range []string{
		`CREATE TABLE commit_probe (id INT PRIMARY KEY, outcome TEXT)`,
		`CREATE FUNCTION commit_probe_check() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.outcome = 'sleep' THEN
				PERFORM pg_sleep(1);
			ELSIF NEW.outcome IS NOT NULL THEN
				RAISE EXCEPTION 'commit_probe: forced %', NEW.outcome USING ERRCODE = NEW.outcome;
			END IF;
			RETURN NULL;
		END $$`,
		`CREATE CONSTRAINT TRIGGER commit_probe_at_commit AFTER INSERT ON commit_probe
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_probe_check()`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

func probeRows(t *testing.T, pool *pgxpool.Pool, id int) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM commit_probe WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCommitOutcomeOnBothEngines checks attempt's reading of COMMIT's
// result through inTx, with COMMIT really failing: a serialization failure
// there is retried, 40003 is commit_outcome_unknown, other server answers
// are returned as they are, all on both engine paths.
func TestCommitOutcomeOnBothEngines(t *testing.T) {
	pool := commitProbe(t)
	id := 0
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			l := ledgerOn(t, pool, e)

			t.Run("40001 at COMMIT is retried", func(t *testing.T) {
				id++
				calls := 0
				err := l.InTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
					calls++
					outcome := any(nil)
					if calls == 1 {
						outcome = "40001"
					}
					_, err := tx.Exec(ctx, `INSERT INTO commit_probe VALUES ($1, $2)`, id, outcome)
					return err
				})
				if err != nil || calls != 2 {
					t.Fatalf("err=%v calls=%d, want success on the second attempt", err, calls)
				}
				if n := probeRows(t, pool, id); n != 1 {
					t.Fatalf("%d rows committed, want 1", n)
				}
			})

			for _, code := range []string{"40003", "23514"} {
				t.Run(code+" at COMMIT", func(t *testing.T) {
					id++
					calls := 0
					err := l.InTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
						calls++
						_, err := tx.Exec(ctx, `INSERT INTO commit_probe VALUES ($1, $2)`, id, code)
						return err
					})
					if calls != 1 {
						t.Errorf("fn ran %d times, want 1", calls)
					}
					var pgErr *pgconn.PgError
					if !errors.As(err, &pgErr) || pgErr.Code != code {
						t.Fatalf("err = %v, want the COMMIT's own %s", err, code)
					}
					want := ledger.CodeInternal // a known failure, returned as it is
					if code == "40003" {
						want = ledger.CodeCommitUnknown
					}
					if ledger.ErrorCode(err) != want {
						t.Errorf("err = %v (code %s), want code %s", err, ledger.ErrorCode(err), want)
					}
				})
			}

			t.Run("swallowed error rolls back, a known outcome", func(t *testing.T) {
				id++
				calls := 0
				err := l.InTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
					calls++
					if _, err := tx.Exec(ctx, `INSERT INTO commit_probe VALUES ($1, NULL)`, id); err != nil {
						return err
					}
					_, _ = tx.Exec(ctx, `SELECT 1/0`) // fails; fn wrongly carries on
					return nil
				})
				if !errors.Is(err, pgx.ErrTxCommitRollback) || ledger.ErrorCode(err) == ledger.CodeCommitUnknown || calls != 1 {
					t.Fatalf("err=%v calls=%d, want pgx.ErrTxCommitRollback after 1 attempt", err, calls)
				}
				if n := probeRows(t, pool, id); n != 0 {
					t.Fatalf("%d rows committed, want 0", n)
				}
			})
		})
	}
}

// TestCommitIOErrorIsCommitUnknown breaks the client's socket while COMMIT
// is running on the server. The client cannot know whether it committed:
// pgx answers the broken read by sending a cancel request on a new
// connection, which here reaches the server in time and the COMMIT rolls
// back, but on a real network failure the cancel may not get through, or
// may arrive after the commit record is written. So inTx must report
// commit_outcome_unknown and must not run the transaction again, on both
// engine paths.
func TestCommitIOErrorIsCommitUnknown(t *testing.T) {
	pool := commitProbe(t)
	for i, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			l := ledgerOn(t, pool, e)
			id := 100 + i
			calls := 0
			broke := make(chan error, 1)
			err := l.InTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
				calls++
				var pid uint32
				if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO commit_probe VALUES ($1, 'sleep')`, id); err != nil {
					return err
				}
				conn := tx.Conn().PgConn().Conn()
				go func() { broke <- closeDuringCommit(pool, pid, conn.Close) }()
				return nil
			})
			if berr := <-broke; berr != nil {
				t.Fatal(berr)
			}
			if ledger.ErrorCode(err) != ledger.CodeCommitUnknown || calls != 1 {
				t.Fatalf("err=%v calls=%d, want %s after 1 attempt", err, calls, ledger.CodeCommitUnknown)
			}
			// The counter an operator pages on moved, once.
			if n := l.Stats().CommitUnknown.Load(); n != 1 {
				t.Fatalf("CommitUnknown = %d, want 1", n)
			}
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				t.Fatalf("err = %v wraps a server answer; the probe did not break the connection", err)
			}
		})
	}
}

// closeDuringCommit waits until backend pid is running COMMIT (stuck in
// the probe's sleeping trigger), then closes the client's socket.
func closeDuringCommit(pool *pgxpool.Pool, pid uint32, closeConn func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var committing bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE pid = $1 AND state = 'active' AND query ILIKE 'commit%')`, pid).Scan(&committing)
		if err != nil {
			return err
		}
		if committing {
			return closeConn()
		}
		if time.Now().After(deadline) {
			return errors.New("backend never reached COMMIT")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
