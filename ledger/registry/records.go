package registry

import (
	"bytes"
	"context"
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
	return eachIssuance(j, ``, func(i issuance) error {
		check("registry_issuances", i.BatchID, i.hash, i.recordHash())
		return nil
	})
}

// hashRecords (UseCase.Migrate) hashes the certificates and issuances
// written before they carried a record hash, at most 500 rows of each per
// transaction, until none is left. It touches only rows without a hash,
// so it is idempotent and safe next to running writers.
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
