package points

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// UseCase registers personal carbon accounts with the engine: the seed,
// the invariants VerifyAll checks, the expiry job and the migration that
// hashes the lots written before lots carried a record hash.
var UseCase = ledger.UseCase{
	Name:    "points",
	Migrate: hashLots,
	Seed:    Seed,
	Checks: append([]ledger.Check{
		{Name: "balances", Run: checkBalances},
		{Name: "record_hash", Run: checkLotHashes},
	}, rowChecks...),
	// Lapse unclaimed credits and expire lots: safe on every replica at
	// once (see ExpireDue).
	Jobs: []ledger.Job{{Name: "expire-points", Every: time.Minute, Run: func(ctx context.Context, l *ledger.Ledger) (int, error) {
		return ExpireDue(ctx, l, ledger.JobBatchMax)
	}, Lag: OverdueExpiry}},
}

// A lot's record hash covers what the citizen relies on: whose points, how
// many, when they were earned and the lot made, when they expire, and the
// claim transaction behind them. remaining changes with every spend; the
// balances check holds it to the journal instead.
type lotRecord struct {
	id, claimTx              uuid.UUID
	citizen                  string
	points                   int64
	earned, expires, created time.Time
	hash                     []byte
}

const lotRecordColumns = `id, citizen_id, points, earned_at, expires_at, claim_tx, created_at, record_hash`

func (l *lotRecord) dest() []any {
	return []any{&l.id, &l.citizen, &l.points, &l.earned, &l.expires, &l.claimTx, &l.created, &l.hash}
}

// digest is the lot's record hash. Times are hashed in microseconds, the
// precision the database keeps.
func (l *lotRecord) digest() []byte {
	us := func(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
	return ledger.RecordHash("points.lot", l.id.String(), l.citizen, strconv.FormatInt(l.points, 10),
		us(l.earned), us(l.expires), l.claimTx.String(), us(l.created))
}

// checkLotHashes recomputes every lot's record hash.
func checkLotHashes(r *ledger.Reader) ([]ledger.Problem, error) {
	rows, err := r.Tx().Query(r.Ctx(), `SELECT `+lotRecordColumns+` FROM points_lots ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var ps []ledger.Problem
	var l lotRecord
	_, err = pgx.ForEachRow(rows, l.dest(), func() error {
		if !bytes.Equal(l.hash, l.digest()) {
			detail := "citizen_id, points, earned_at, expires_at, claim_tx or created_at changed"
			if l.hash == nil {
				detail = "the lot has no record hash (run carbonledger migrate)"
			}
			ps = append(ps, ledger.Problem{Kind: "record_hash", Table: "points_lots", Row: l.id.String(), Detail: detail})
		}
		return nil
	})
	return ps, err
}

// hashLots sets the record hash of the lots written before there was one,
// a bounded batch per transaction. Idempotent: it only fills NULLs.
func hashLots(ctx context.Context, l *ledger.Ledger) error {
	for {
		var ids []uuid.UUID
		var hashes [][]byte
		err := l.Update(ctx, func(w *ledger.Writer) error {
			ids, hashes = nil, nil
			rows, err := w.Tx().Query(w.Ctx(), `SELECT `+lotRecordColumns+` FROM points_lots WHERE record_hash IS NULL ORDER BY id LIMIT $1`, ledger.JobBatchMax)
			if err != nil {
				return err
			}
			var lot lotRecord
			if _, err := pgx.ForEachRow(rows, lot.dest(), func() error {
				ids, hashes = append(ids, lot.id), append(hashes, lot.digest())
				return nil
			}); err != nil {
				return err
			}
			_, err = w.Tx().Exec(w.Ctx(), `
				UPDATE points_lots l SET record_hash = v.h FROM unnest($1::UUID[], $2::BYTEA[]) AS v(id, h)
				WHERE l.id = v.id AND l.record_hash IS NULL`, ids, hashes)
			return err
		})
		if err != nil || len(ids) < ledger.JobBatchMax {
			return err
		}
	}
}
