package ledger

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Each retried error is counted under its reason, wrapped or not
// (carbonledger_tx_retries_total{reason}).
func TestRetryReasons(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&pgconn.PgError{Code: "40001"}, "serialization_failure"},
		{fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40001"}), "serialization_failure"},
		{&pgconn.PgError{Code: "40P01"}, "deadlock"},
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}), "unique_race"},
		{errRetry, "write_race"},
	} {
		if got := RetryReasons[retryReasonIndex(c.err)]; got != c.want {
			t.Errorf("%v: reason %q, want %q", c.err, got, c.want)
		}
	}
	var s Stats
	s.countRetry(&pgconn.PgError{Code: "40P01"})
	if by := s.RetriesByReason(); by["deadlock"] != 1 || by["serialization_failure"] != 0 || s.Retries.Load() != 1 {
		t.Fatalf("after one deadlock: %v, total %d", by, s.Retries.Load())
	}
}
