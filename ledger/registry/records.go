package registry

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The records the public relies on — retirement certificates (a
// neutrality claim cites one) and issuance blocks (a serial's origin) —
// carry a record hash (ledger.RecordHash) over everything they show, set
// when they are written. verifyRecords recomputes it, so an edit of a
// covered field behind the registry's back is found and named.

// hashTime is a time as the database keeps it (UTC, microseconds), so the
// hash made at write time is the one recomputed from the stored row.
func hashTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
}

// recordHash covers everything the certificate shows.
func (c Certificate) recordHash() []byte {
	return ledger.RecordHash("registry.retirement", c.ID.String(), c.Holder, c.Beneficiary, c.Purpose, c.Note, strconv.Itoa(c.Vintage),
		c.Tonnes, strings.Join(slices.Sorted(slices.Values(c.Serials)), ","), c.TransactionID.String(), hashTime(c.RetiredAt))
}

// eachCertificate streams the certificates of the retirements r that
// where selects, with their serials and stored hash. fn must not use the
// transaction: the rows are still being read.
func eachCertificate(j ledger.Journal, where string, fn func(c Certificate, hash []byte) error, args ...any) error {
	rows, err := j.Tx().Query(j.Ctx(), `
		SELECT r.id, r.holder, r.beneficiary, r.purpose, r.note, r.vintage, r.units, r.tx_id, r.retired_at, r.record_hash,
		       COALESCE(b.region, ''), COALESCE(b.programme, ''), COALESCE(b.sector, ''), COALESCE(b.project, ''),
		       COALESCE(b.vintage, 0), COALESCE(b.first_unit, 0), COALESCE(b.last_unit, 0)
		FROM registry_retirements r LEFT JOIN registry_blocks b ON b.consumed_ref = r.id
		WHERE `+where+` ORDER BY r.id, b.vintage, b.first_unit`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var c Certificate
	var hash []byte
	for rows.Next() {
		var r Certificate
		var units int64
		var h []byte
		var s Serial
		if err := rows.Scan(&r.ID, &r.Holder, &r.Beneficiary, &r.Purpose, &r.Note, &r.Vintage, &units, &r.TransactionID, &r.RetiredAt, &h,
			&s.Region, &s.Programme, &s.Sector, &s.Project, &s.Vintage, &s.First, &s.Last); err != nil {
			return err
		}
		if r.ID != c.ID {
			if c.ID != uuid.Nil {
				if err := fn(c, hash); err != nil {
					return err
				}
			}
			c, hash = r, h
			c.Tonnes, c.RetiredAt, c.Serials = FormatUnits(units), r.RetiredAt.UTC(), []string{}
		}
		if s.First > 0 { // a retirement with no block shows none (and fails the consumption check)
			c.Serials = append(c.Serials, s.String())
		}
	}
	if err := rows.Err(); err != nil || c.ID == uuid.Nil {
		return err
	}
	return fn(c, hash)
}

// issuance is the serial block a batch was issued as.
type issuance struct {
	BatchID           uuid.UUID
	Programme, Serial string
	Vintage           int
	First, Last       int64
	TxID              uuid.UUID
	IssuedAt          time.Time
	hash              []byte
}

// recordHash covers the issuance's batch, serial, unit range and units,
// vintage, transaction and time.
func (i issuance) recordHash() []byte {
	return ledger.RecordHash("registry.issuance", i.BatchID.String(), i.Programme, strconv.Itoa(i.Vintage), strconv.FormatInt(i.First, 10),
		strconv.FormatInt(i.Last, 10), FormatUnits(i.Last-i.First+1), i.Serial, i.TxID.String(), hashTime(i.IssuedAt))
}

// eachIssuance streams the issuances; tail (WHERE …, ORDER BY …) narrows
// them. fn must not use the transaction.
func eachIssuance(j ledger.Journal, tail string, fn func(i issuance) error, args ...any) error {
	rows, err := j.Tx().Query(j.Ctx(), `
		SELECT batch_id, programme, serial_number, vintage, first_unit, last_unit, tx_id, issued_at, record_hash
		FROM registry_issuances `+tail, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i issuance
		if err := rows.Scan(&i.BatchID, &i.Programme, &i.Serial, &i.Vintage, &i.First, &i.Last, &i.TxID, &i.IssuedAt, &i.hash); err != nil {
			return err
		}
		if err := fn(i); err != nil {
			return err
		}
	}
	return rows.Err()
}

// verifyRecords recomputes the record hash of every certificate and
// every issuance.
func verifyRecords(j ledger.Journal, rep *Report) error {
	check := func(table string, row uuid.UUID, stored, want []byte) {
		detail := "the stored record hash does not match the row: covered field(s) changed"
		if stored == nil {
			detail = "the row has no record hash: run `carbonledger migrate`, or the hash was removed"
		}
		if !bytes.Equal(stored, want) {
			rep.add(ledger.Problem{Kind: "record_hash", Table: table, Row: row.String(), Detail: detail})
		}
	}
	if err := eachCertificate(j, `true`, func(c Certificate, h []byte) error {
		check("registry_retirements", c.ID, h, c.recordHash())
		return nil
	}); err != nil {
		return err
	}
	if err := eachIssuance(j, ``, func(i issuance) error {
		check("registry_issuances", i.BatchID, i.hash, i.recordHash())
		return nil
	}); err != nil {
		return err
	}
	return eachObligationRecord(j, `true`, func(r obligationRecord) error {
		if !bytes.Equal(r.hash, r.recordHash()) {
			detail := "the stored record hash does not match the row: covered field(s) changed"
			if r.hash == nil {
				detail = "the row has no record hash: run `carbonledger migrate`, or the hash was removed"
			}
			rep.add(ledger.Problem{Kind: "record_hash", Table: "registry_obligation_records",
				Row: fmt.Sprintf("%s/%d#%d", r.enterprise, r.year, r.Revision), Detail: detail})
		}
		return nil
	})
}

// eachObligationRecord streams the obligation records where selects. fn
// must not use the transaction.
func eachObligationRecord(j ledger.Journal, where string, fn func(r obligationRecord) error, args ...any) error {
	rows, err := j.Tx().Query(j.Ctx(), `SELECT `+obligationCols+` FROM registry_obligation_records r WHERE `+where+
		` ORDER BY r.enterprise, r.compliance_year, r.revision`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanObligation(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// hashRecords hashes the certificates, issuances and declared
// obligations written before they carried a record hash, at most 500 rows
// of each per transaction, until none is left. It touches only rows
// without a hash, so it is idempotent and safe next to running writers.
func hashRecords(ctx context.Context, l *ledger.Ledger) error {
	for {
		n := 0
		err := l.Update(ctx, func(w *ledger.Writer) error {
			b := &pgx.Batch{}
			err := eachCertificate(w.Journal, `r.id IN (SELECT id FROM registry_retirements WHERE record_hash IS NULL ORDER BY id LIMIT 500)`,
				func(c Certificate, _ []byte) error {
					b.Queue(`UPDATE registry_retirements SET record_hash = $2 WHERE id = $1 AND record_hash IS NULL`, c.ID, c.recordHash())
					return nil
				})
			if err == nil {
				err = eachIssuance(w.Journal, `WHERE record_hash IS NULL ORDER BY batch_id LIMIT 500`, func(i issuance) error {
					b.Queue(`UPDATE registry_issuances SET record_hash = $2 WHERE batch_id = $1 AND record_hash IS NULL`, i.BatchID, i.recordHash())
					return nil
				})
			}
			if err == nil {
				// Declarations moved into the records by migration 0012.
				err = eachObligationRecord(w.Journal, `(r.enterprise, r.compliance_year, r.revision) IN (
						SELECT enterprise, compliance_year, revision FROM registry_obligation_records
						WHERE record_hash IS NULL AND revision = 0 ORDER BY enterprise, compliance_year LIMIT 500)`, func(r obligationRecord) error {
					b.Queue(`UPDATE registry_obligation_records SET record_hash = $4 WHERE enterprise = $1 AND compliance_year = $2 AND revision = $3 AND record_hash IS NULL`,
						r.enterprise, r.year, r.Revision, r.recordHash())
					return nil
				})
			}
			if n = b.Len(); err != nil || n == 0 {
				return err
			}
			return w.Tx().SendBatch(w.Ctx(), b).Close()
		})
		if err != nil || n == 0 {
			return err
		}
	}
}

// migrate (UseCase.Migrate) is the registry's Go-side data migration.
func migrate(ctx context.Context, l *ledger.Ledger) error {
	if err := hashRecords(ctx, l); err != nil {
		return err
	}
	return recordLegacyRanges(ctx, l)
}

// recordLegacyRanges gives trades offered before migration 0012 the serial
// ranges they offered, where the blocks still tell: an open (or expired,
// not yet tidied) offer's blocks still name its hold, a settled trade's
// ranges are the moves of its settlement. A trade whose units were
// released and tidied keeps none (ranges_recorded stays false). Each trade
// is visited once per run, 200 per transaction.
func recordLegacyRanges(ctx context.Context, l *ledger.Ledger) error {
	after := uuid.Nil
	for {
		n := 0
		err := l.Update(ctx, func(w *ledger.Writer) error {
			type legacy struct {
				id, pending uuid.UUID
				units       int64
			}
			rows, err := w.Tx().Query(w.Ctx(), `SELECT id, pending_tx, units FROM registry_trades WHERE NOT ranges_recorded AND id > $1 ORDER BY id LIMIT 200`, after)
			if err != nil {
				return err
			}
			trades, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (t legacy, err error) { return t, r.Scan(&t.id, &t.pending, &t.units) })
			if n = len(trades); err != nil || n == 0 {
				return err
			}
			for _, t := range trades {
				blocks, err := legacyRanges(w.Journal, t.pending)
				if err != nil {
					return err
				}
				var units int64
				for _, b := range blocks {
					units += b.Last - b.First + 1
				}
				if units != t.units {
					continue
				}
				tag, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_trades SET ranges_recorded = true WHERE id = $1 AND NOT ranges_recorded`, t.id)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					views := make([]Block, len(blocks))
					for i, b := range blocks {
						views[i] = b.view()
					}
					if err := recordRanges(w.Journal, t.id, views); err != nil {
						return err
					}
				}
			}
			after = trades[n-1].id
			return nil
		})
		if err != nil || n == 0 {
			return err
		}
	}
}

// legacyRanges are the ranges an old offer reserved, as far as the blocks
// still tell.
func legacyRanges(j ledger.Journal, pending uuid.UUID) ([]blockRow, error) {
	done, err := j.Resolutions([]uuid.UUID{pending})
	if err != nil {
		return nil, err
	}
	if by, ok := done[pending]; ok {
		res, err := j.Transaction(by)
		if err != nil {
			return nil, err
		}
		if res.Kind == ledger.KindPendingPost {
			return settledBlocks(j, by)
		}
	}
	return loadBlocks(j, `SELECT `+blockCols+` FROM registry_blocks b WHERE b.reserved_tx = $1 ORDER BY b.vintage, b.first_unit`, pending)
}
