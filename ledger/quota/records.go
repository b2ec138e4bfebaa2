package quota

import (
	"bytes"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// An allocation is a record the public relies on: which project got how
// many tonnes from which reserves (and tranches and sources), at what
// price, under which engine transaction (whose actor decided it), when.
// Its record_hash covers exactly the fields that never change after it is
// written; status, closed_tx, closed_at and refunded_cny change
// legitimately on consumption and recovery and are not covered (the
// engine's own transactions record those moves).

// hashBatch bounds the allocations one check or migration step reads.
const hashBatch = 500

// hash is the allocation's record hash over its immutable fields and its
// draws in order.
func (a *Allocation) hash(draws []piece) []byte {
	f := []string{a.ID.String(), a.ApplicationID.String(), a.Project, a.Tonnes, boolText(a.Paid), a.PriceYuanPerTonne, optText(a.PriceVersion),
		a.AmountCNY, a.TxID.String(), a.CreatedAt.UTC().Format(time.RFC3339Nano)}
	for _, d := range draws {
		f = append(f, d.Reserve, d.Tranche.String(), d.Source.String(), tonnesText(d.Tonnes))
	}
	if a.IndexKind != "" && a.IndexKind != KindCEI {
		f = append(f, "index_kind", a.IndexKind) // CEI hashes are those of before kinds
	}
	return ledger.RecordHash("quota.allocation", f...)
}

// drawsOf reads the draws of allocations, in order, by allocation.
func drawsOf(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID][]piece, error) {
	rows, err := tx.Query(ctx, `
		SELECT allocation_id, reserve, tranche_id, source_id, tonnes FROM quota_draws
		WHERE allocation_id = ANY($1) ORDER BY allocation_id, idx`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID][]piece, len(ids))
	for rows.Next() {
		var id uuid.UUID
		var p piece
		if err := rows.Scan(&id, &p.Reserve, &p.Tranche, &p.Source, &p.Tonnes); err != nil {
			return nil, err
		}
		out[id] = append(out[id], p)
	}
	return out, rows.Err()
}

type hashedAllocation struct {
	allocationRow
	draws  []piece
	stored []byte
}

// hashedAllocations reads allocations (the SQL's tail selects them) with
// their draws and stored hashes.
func hashedAllocations(ctx context.Context, tx pgx.Tx, tail string, args ...any) ([]hashedAllocation, error) {
	rows, err := tx.Query(ctx, `SELECT `+allocationColumns+`, record_hash FROM quota_allocations `+tail, args...)
	if err != nil {
		return nil, err
	}
	var out []hashedAllocation
	var ids []uuid.UUID
	for rows.Next() {
		var h hashedAllocation
		if h.allocationRow, err = scanAllocation(rows, &h.stored); err != nil {
			rows.Close()
			return nil, err
		}
		out, ids = append(out, h), append(ids, h.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	draws, err := drawsOf(ctx, tx, ids)
	for i := range out {
		out[i].draws = draws[out[i].ID]
	}
	return out, err
}

// checkAllocationHashes recomputes every allocation's record hash.
func checkAllocationHashes(r *ledger.Reader) ([]ledger.Problem, error) {
	var problems []ledger.Problem
	after := uuid.Nil
	for {
		batch, err := hashedAllocations(r.Ctx(), r.Tx(), `WHERE id > $1 ORDER BY id LIMIT $2`, after, hashBatch)
		if err != nil {
			return nil, err
		}
		for _, a := range batch {
			detail := "the allocation's application, project, tonnes, price, amount, transaction or time, or its draws' reserves, tranches, sources or tonnes, changed"
			if len(a.stored) == 0 {
				detail = "the allocation has no record hash (run carbonledger migrate)"
			}
			if !bytes.Equal(a.stored, a.hash(a.draws)) {
				problems = append(problems, ledger.Problem{Kind: "record_hash", Table: "quota_allocations", Row: a.ID.String(), Detail: detail})
			}
		}
		if len(batch) < hashBatch {
			return problems, nil
		}
		after = batch[len(batch)-1].ID
	}
}

// hashAllocations is the Go-side migration: it hashes the allocations
// written before record_hash existed, a batch per transaction, each row
// locked and still unhashed when it is set, so it is idempotent and safe
// to run on several replicas at once.
func hashAllocations(ctx context.Context, l *ledger.Ledger) error {
	for {
		var n int
		err := l.Update(ctx, func(w *ledger.Writer) error {
			batch, err := hashedAllocations(w.Ctx(), w.Tx(), `WHERE record_hash IS NULL ORDER BY id LIMIT $1 FOR UPDATE`, hashBatch)
			if err != nil {
				return err
			}
			n = len(batch)
			ids, hashes := make([]uuid.UUID, n), make([][]byte, n)
			for i, a := range batch {
				ids[i], hashes[i] = a.ID, a.hash(a.draws)
			}
			_, err = w.Tx().Exec(w.Ctx(), `
				UPDATE quota_allocations SET record_hash = v.h FROM unnest($1::UUID[], $2::BYTEA[]) AS v(id, h)
				WHERE quota_allocations.id = v.id AND quota_allocations.record_hash IS NULL`, ids, hashes)
			return err
		})
		if err != nil || n < hashBatch {
			return err
		}
	}
}
