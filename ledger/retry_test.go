package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// These tests drive retryLoop with scripted error sequences, so the retry
// policy (what is retried, how often, what the caller sees) is checked
// without a database. intx_test.go checks on a real database that inTx
// and attempt hand it the errors assumed here, on both engine paths.

func pgErr(code, constraint string) *pgconn.PgError {
	return &pgconn.PgError{Code: code, ConstraintName: constraint, Message: "scripted " + code}
}

func TestRetryLoop(t *testing.T) {
	const attemptsMax = 5
	var (
		serialization = pgErr("40001", "")
		deadlock      = pgErr("40P01", "")
		ioErr         = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
		plain         = errors.New("boom")
	)
	cases := []struct {
		name string
		// errs are what successive attempts return; once they run out, the
		// last one repeats.
		errs         []error
		wantAttempts int
		wantCode     Code  // "" means success
		wantIs       error // must be in the returned chain when set
	}{
		{name: "40001 then success", errs: []error{serialization, nil}, wantAttempts: 2},
		{name: "40P01 then success", errs: []error{deadlock, nil}, wantAttempts: 2},
		{name: "wrapped 40001 then success", errs: []error{fmt.Errorf("lock accounts: %w", serialization), nil}, wantAttempts: 2},
		{name: "40001 at COMMIT then success", errs: []error{commitError(serialization), nil}, wantAttempts: 2},
		{name: "40P01 beyond the bound", errs: []error{deadlock}, wantAttempts: attemptsMax, wantCode: CodeUnavailable},
		{name: "40001 beyond the bound", errs: []error{serialization}, wantAttempts: attemptsMax, wantCode: CodeUnavailable},
		{name: "mixed contention beyond the bound", errs: []error{serialization, deadlock, errRetry}, wantAttempts: attemptsMax, wantCode: CodeUnavailable},
		{name: "errRetry then success", errs: []error{errRetry, errRetry, nil}, wantAttempts: 3},
		{name: "errRetry beyond the bound", errs: []error{errRetry}, wantAttempts: attemptsMax, wantCode: CodeUnavailable},
		{name: "resolves_once race retried", errs: []error{pgErr("23505", "transactions_resolves_once"), nil}, wantAttempts: 2},
		{name: "reversed_once race retried", errs: []error{pgErr("23505", "transactions_reversed_once"), nil}, wantAttempts: 2},
		{name: "idempotency key race retried", errs: []error{pgErr("23505", "idempotency_keys_pkey"), nil}, wantAttempts: 2},
		{name: "other unique violation not retried", errs: []error{pgErr("23505", "accounts_pkey")}, wantAttempts: 1, wantCode: CodeInternal},
		{name: "overdraft translated", errs: []error{pgErr("23514", "accounts_no_overdraft")}, wantAttempts: 1, wantCode: CodeInsufficientBalance},
		{name: "statement timeout translated", errs: []error{pgErr("57014", "")}, wantAttempts: 1, wantCode: CodeUnavailable},
		{name: "plain error passed through", errs: []error{plain}, wantAttempts: 1, wantCode: CodeInternal, wantIs: plain},
		{name: "domain error passed through", errs: []error{Errf(CodeAccountFrozen, "frozen")}, wantAttempts: 1, wantCode: CodeAccountFrozen},
		{name: "I/O error during COMMIT", errs: []error{commitError(ioErr)}, wantAttempts: 1, wantCode: CodeCommitUnknown, wantIs: syscall.ECONNRESET},
		{name: "EOF during COMMIT", errs: []error{commitError(io.ErrUnexpectedEOF)}, wantAttempts: 1, wantCode: CodeCommitUnknown, wantIs: io.ErrUnexpectedEOF},
		{name: "40003 at COMMIT", errs: []error{commitError(pgErr("40003", ""))}, wantAttempts: 1, wantCode: CodeCommitUnknown},
		{name: "rolled back at COMMIT is a known outcome", errs: []error{commitError(pgx.ErrTxCommitRollback)}, wantAttempts: 1, wantCode: CodeInternal, wantIs: pgx.ErrTxCommitRollback},
		{name: "server error at COMMIT is a known outcome", errs: []error{commitError(pgErr("23514", ""))}, wantAttempts: 1, wantCode: CodeInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls, waits := 0, 0
			attempts, err := retryLoop(context.Background(), attemptsMax,
				func(_ context.Context, failed int) error {
					waits++
					if failed != calls {
						t.Errorf("wait after attempt %d was told %d", calls, failed)
					}
					return nil
				},
				func() error {
					calls++
					return c.errs[min(calls, len(c.errs))-1]
				})
			if attempts != c.wantAttempts || calls != c.wantAttempts {
				t.Errorf("attempts = %d (try called %d times), want %d", attempts, calls, c.wantAttempts)
			}
			if waits != calls-1 {
				t.Errorf("waited %d times between %d attempts", waits, calls)
			}
			switch {
			case c.wantCode == "" && err != nil:
				t.Errorf("err = %v, want success", err)
			case c.wantCode != "" && ErrorCode(err) != c.wantCode:
				t.Errorf("err = %v (code %s), want code %s", err, ErrorCode(err), c.wantCode)
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Errorf("err = %v, want it to wrap %v", err, c.wantIs)
			}
		})
	}
}

// The default bound is the documented one: RetriesMax attempts in all.
func TestRetryLoopDefaultBound(t *testing.T) {
	calls := 0
	attempts, err := retryLoop(context.Background(), retriesMaxDefault,
		func(context.Context, int) error { return nil },
		func() error { calls++; return pgErr("40001", "") })
	if attempts != retriesMaxDefault || calls != retriesMaxDefault || ErrorCode(err) != CodeUnavailable {
		t.Fatalf("attempts=%d calls=%d err=%v, want %d attempts and %s", attempts, calls, err, retriesMaxDefault, CodeUnavailable)
	}
}

// A context that ends during the backoff stops the loop at once with
// CodeUnavailable, and the attempt that was waited for never runs.
func TestRetryLoopContextCancelledMidBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	attempts, err := retryLoop(ctx, 5,
		func(ctx context.Context, _ int) error {
			cancel()
			return sleepCtx(ctx, time.Hour)
		},
		func() error { calls++; return pgErr("40001", "") })
	if attempts != 1 || calls != 1 {
		t.Errorf("attempts=%d calls=%d, want 1", attempts, calls)
	}
	if ErrorCode(err) != CodeUnavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want %s wrapping context.Canceled", err, CodeUnavailable)
	}
}

// A context that has already ended is not retried even if the error is a
// retryable one: the next attempt could only fail.
func TestRetryLoopContextEndedBeforeRetry(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	attempts, err := retryLoop(ctx, 5,
		func(context.Context, int) error { t.Error("waited on an ended context"); return nil },
		func() error { calls++; cancel(); return pgErr("40P01", "") })
	if attempts != 1 || calls != 1 || ErrorCode(err) != CodeUnavailable {
		t.Errorf("attempts=%d calls=%d err=%v, want 1 attempt and %s", attempts, calls, err, CodeUnavailable)
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx on a cancelled context = %v, want context.Canceled", err)
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleepCtx(1ms) = %v", err)
	}
}

// The backoff is jittered within (0, min(base<<failed, max)].
func TestRetryBackoffIsBoundedAndJittered(t *testing.T) {
	for failed := 1; failed <= 2*retriesMaxDefault; failed++ {
		ceiling := min(retryBackoffBase<<min(failed, 8), retryBackoffMax)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := retryBackoff(failed)
			if d <= 0 || d > ceiling {
				t.Fatalf("retryBackoff(%d) = %v, want in (0, %v]", failed, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("retryBackoff(%d) gave the same %d values: no jitter", failed, len(seen))
		}
	}
}
