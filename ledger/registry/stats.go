package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// readSnapshot reads one consistent snapshot without blocking writers.
var readSnapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// StatsRow counts units of one vintage and methodology (or all, in Totals).
type StatsRow struct {
	Vintage     int    `json:"vintage,omitempty"`
	Methodology string `json:"methodology,omitempty"`
	Issued      string `json:"issued"`
	Held        string `json:"held"` // includes units reserved by open sales
	Reserved    string `json:"reserved"`
	Retired     string `json:"retired"`
	Cancelled   string `json:"cancelled"`
	Surrendered string `json:"surrendered"`
}

// Stats are the registry's public totals.
type Stats struct {
	Totals StatsRow   `json:"totals"`
	Rows   []StatsRow `json:"by_vintage_and_methodology"`
	AsOf   time.Time  `json:"as_of"`
}

// GetStats counts issued, held, retired, cancelled and surrendered units
// by vintage and methodology. Public.
func GetStats(ctx context.Context, l *ledger.Ledger) (Stats, error) {
	rows, err := l.Pool().Query(ctx, `
		SELECT vintage, methodology,
		       sum(units)::BIGINT,
		       sum(CASE WHEN status = 'held' THEN units ELSE 0 END)::BIGINT,
		       sum(CASE WHEN status = 'held' AND NOT free THEN units ELSE 0 END)::BIGINT,
		       sum(CASE WHEN status = 'retired' THEN units ELSE 0 END)::BIGINT,
		       sum(CASE WHEN status = 'cancelled' THEN units ELSE 0 END)::BIGINT,
		       sum(CASE WHEN status = 'surrendered' THEN units ELSE 0 END)::BIGINT
		FROM (SELECT b.vintage, b.methodology, b.status, b.last_unit - b.first_unit + 1 AS units,
		             (b.reserved_tx IS NULL OR EXISTS (SELECT 1 FROM transactions r WHERE r.resolves = b.reserved_tx)) AS free
		      FROM registry_blocks b) s
		GROUP BY vintage, methodology ORDER BY vintage, methodology`)
	if err != nil {
		return Stats{}, err
	}
	out := Stats{Rows: []StatsRow{}, AsOf: l.Now()}
	var tot [6]int64
	for rows.Next() {
		var r StatsRow
		var v [6]int64
		if err := rows.Scan(&r.Vintage, &r.Methodology, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]); err != nil {
			rows.Close()
			return Stats{}, err
		}
		for i := range v {
			tot[i] += v[i]
		}
		fill(&r, v)
		out.Rows = append(out.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return Stats{}, err
	}
	fill(&out.Totals, tot)
	return out, nil
}

func fill(r *StatsRow, v [6]int64) {
	r.Issued, r.Held, r.Reserved, r.Retired, r.Cancelled, r.Surrendered =
		FormatUnits(v[0]), FormatUnits(v[1]), FormatUnits(v[2]), FormatUnits(v[3]), FormatUnits(v[4]), FormatUnits(v[5])
}

// Report is the result of Verify.
type Report struct {
	OK       bool     `json:"ok"`
	Blocks   int64    `json:"blocks"`
	Units    int64    `json:"units"`
	Problems []string `json:"problems"`
}

const verifyProblemsMax = 100

func (r *Report) add(format string, args ...any) {
	r.OK = false
	if len(r.Problems) < verifyProblemsMax {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Verify checks the registry's invariants (DOMAIN.md §6.3) against the
// journal, on one snapshot:
//   - blocks of one programme and vintage never overlap and, with no gap,
//     cover exactly the units the serial counter has handed out;
//   - every issuance is covered by blocks of its batch, unit for unit;
//   - for every holder, held blocks = engine balance and reserved blocks =
//     engine pending; blocks of each terminal status = its sink's balance;
//     all blocks = units ever issued (minus the issuer's balance);
//   - every retirement, offset and cancellation is made of exactly its
//     blocks, a retirement of one vintage; surrendered units per obligation
//     = its offsets, within its cap.
//
// It reads the engine's accounts and issuer_shards tables (read-only) so
// that balances and blocks come from the same snapshot.
func Verify(ctx context.Context, l *ledger.Ledger) (*Report, error) {
	tx, err := l.Pool().BeginTx(ctx, readSnapshot)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	rep := &Report{OK: true, Problems: []string{}}

	// One stage per invariant, in this order, all on the snapshot tx; a
	// stage that fails to read fails Verify, a broken invariant only adds
	// to the report.
	for _, stage := range []func(context.Context, pgx.Tx, *Report) error{
		verifyBlocks, verifyIssuances, verifyHolders, verifySinks, verifyConsumptions, verifyObligations,
	} {
		if err := stage(ctx, tx, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// verifyBlocks is stage 1: overlap and coverage. Blocks are read in unit
// order per programme and vintage, so each must start right after the
// highest unit seen so far, and the last must end where the serial
// counter stopped.
func verifyBlocks(ctx context.Context, tx pgx.Tx, rep *Report) error {
	counters := map[string]int64{}
	rows, err := tx.Query(ctx, `SELECT programme, vintage, next_unit FROM registry_serial_counters`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var p string
		var v int
		var next int64
		if err := rows.Scan(&p, &v, &next); err != nil {
			rows.Close()
			return err
		}
		counters[fmt.Sprintf("%s/%d", p, v)] = next
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `SELECT programme, vintage, first_unit, last_unit FROM registry_blocks ORDER BY programme, vintage, first_unit`)
	if err != nil {
		return err
	}
	lastOf := map[string]int64{}
	for rows.Next() {
		var p string
		var v int
		var f, la int64
		if err := rows.Scan(&p, &v, &f, &la); err != nil {
			rows.Close()
			return err
		}
		rep.Blocks++
		rep.Units += la - f + 1
		k := fmt.Sprintf("%s/%d", p, v)
		prev := lastOf[k]
		switch {
		case f <= prev:
			rep.add("%s: block %d–%d overlaps the block ending at %d", k, f, la, prev)
		case f > prev+1:
			rep.add("%s: units %d–%d are in no block", k, prev+1, f-1)
		}
		lastOf[k] = max(prev, la)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for k, next := range counters {
		if lastOf[k] != next-1 {
			rep.add("%s: the counter handed out units up to %d but blocks end at %d", k, next-1, lastOf[k])
		}
	}
	for k := range lastOf {
		if _, ok := counters[k]; !ok {
			rep.add("%s: blocks without a serial counter", k)
		}
	}
	return nil
}

// verifyIssuances is stage 2: every issuance is covered by the blocks of
// its batch, unit for unit.
func verifyIssuances(ctx context.Context, tx pgx.Tx, rep *Report) error {
	return verifyEach(ctx, tx, rep, `
		SELECT i.serial_number, i.last_unit - i.first_unit + 1, COALESCE(sum(b.last_unit - b.first_unit + 1), 0)::BIGINT,
		       COALESCE(min(b.first_unit), 0), COALESCE(max(b.last_unit), 0), i.first_unit, i.last_unit, COALESCE(max(bt.issued_units), 0)
		FROM registry_issuances i
		JOIN registry_batches bt ON bt.id = i.batch_id
		LEFT JOIN registry_blocks b ON b.batch_id = i.batch_id
		GROUP BY i.batch_id, i.serial_number, i.first_unit, i.last_unit`, func(r pgx.Rows) error {
		var serial string
		var units, inBlocks, minF, maxL, f, la, batchUnits int64
		if err := r.Scan(&serial, &units, &inBlocks, &minF, &maxL, &f, &la, &batchUnits); err != nil {
			return err
		}
		if units != inBlocks || minF != f || maxL != la || batchUnits != units {
			rep.add("issuance %s: %d units issued, %d in blocks spanning %d–%d, batch says %d", serial, units, inBlocks, minF, maxL, batchUnits)
		}
		return nil
	})
}

// verifyHolders is stage 3: for every holder, held blocks = balance and
// reserved blocks = pending. The full join compares both ways: a holder
// account with no held blocks must be empty, and held blocks of a holder
// with no account are reported too.
func verifyHolders(ctx context.Context, tx pgx.Tx, rep *Report) error {
	return verifyEach(ctx, tx, rep, `
		WITH h AS (
			SELECT 'holder:' || b.holder || ':SDCER' AS acct,
			       sum(b.last_unit - b.first_unit + 1)::BIGINT AS held,
			       sum(CASE WHEN b.reserved_tx IS NOT NULL AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.resolves = b.reserved_tx)
			                THEN b.last_unit - b.first_unit + 1 ELSE 0 END)::BIGINT AS reserved
			FROM registry_blocks b WHERE b.status = 'held' GROUP BY b.holder)
		SELECT COALESCE(a.id, h.acct), COALESCE(a.balance, 0), COALESCE(a.pending_debits, 0), COALESCE(h.held, 0), COALESCE(h.reserved, 0)
		FROM (SELECT id, balance, pending_debits FROM accounts WHERE id LIKE 'holder:%:SDCER') a
		FULL JOIN h ON h.acct = a.id`, func(r pgx.Rows) error {
		var acct string
		var bal, pend decimal.Decimal
		var held, reserved int64
		if err := r.Scan(&acct, &bal, &pend, &held, &reserved); err != nil {
			return err
		}
		if !bal.Equal(decimal.NewFromInt(held)) || !pend.Equal(decimal.NewFromInt(reserved)) {
			rep.add("%s: balance %s pending %s, but blocks hold %d with %d reserved", acct, bal, pend, held, reserved)
		}
		return nil
	})
}

// verifySinks is stage 4: the blocks of each terminal status against its
// sink's balance, and all blocks against the units the issuer handed out.
func verifySinks(ctx context.Context, tx pgx.Tx, rep *Report) error {
	var issued, retired, cancelled, surrendered int64
	var issuerBal, retiredBal, cancelledBal, surrenderedBal decimal.Decimal
	if err := tx.QueryRow(ctx, `
		SELECT COALESCE(sum(last_unit - first_unit + 1), 0)::BIGINT,
		       COALESCE(sum(CASE WHEN status = 'retired' THEN last_unit - first_unit + 1 ELSE 0 END), 0)::BIGINT,
		       COALESCE(sum(CASE WHEN status = 'cancelled' THEN last_unit - first_unit + 1 ELSE 0 END), 0)::BIGINT,
		       COALESCE(sum(CASE WHEN status = 'surrendered' THEN last_unit - first_unit + 1 ELSE 0 END), 0)::BIGINT,
		       (SELECT COALESCE(sum(balance), 0) FROM issuer_shards WHERE account_id = 'registry:SDCER:issuance'),
		       (SELECT COALESCE(sum(balance), 0) FROM accounts WHERE id = 'registry:SDCER:retired'),
		       (SELECT COALESCE(sum(balance), 0) FROM accounts WHERE id = 'registry:SDCER:cancelled'),
		       (SELECT COALESCE(sum(balance), 0) FROM accounts WHERE id = 'registry:SDCER:surrendered')
		FROM registry_blocks`).Scan(&issued, &retired, &cancelled, &surrendered, &issuerBal, &retiredBal, &cancelledBal, &surrenderedBal); err != nil {
		return err
	}
	for _, c := range []struct {
		name  string
		units int64
		bal   decimal.Decimal
	}{{"units ever issued (-registry:SDCER:issuance)", issued, issuerBal.Neg()}, {RetiredAccount, retired, retiredBal},
		{CancelledAccount, cancelled, cancelledBal}, {SurrenderedAccount, surrendered, surrenderedBal}} {
		if !c.bal.Equal(decimal.NewFromInt(c.units)) {
			rep.add("%s: journal says %s, blocks say %d", c.name, c.bal, c.units)
		}
	}
	return nil
}

// verifyConsumptions is stage 5: every retirement, offset and cancellation
// is made of exactly its blocks, a retirement of one vintage.
func verifyConsumptions(ctx context.Context, tx pgx.Tx, rep *Report) error {
	return verifyEach(ctx, tx, rep, `
		SELECT c.kind, c.id::TEXT, c.units, c.vintage, COALESCE(sum(b.last_unit - b.first_unit + 1), 0)::BIGINT,
		       count(DISTINCT b.vintage), COALESCE(min(b.vintage), 0), count(DISTINCT b.status), COALESCE(min(b.status), '')
		FROM (SELECT 'retirement' AS kind, id, units, vintage, 'retired' AS status FROM registry_retirements
		      UNION ALL SELECT 'offset', id, units, 0, 'surrendered' FROM registry_offsets
		      UNION ALL SELECT 'cancellation', id, units, 0, 'cancelled' FROM registry_cancellations) c
		LEFT JOIN registry_blocks b ON b.consumed_ref = c.id
		GROUP BY c.kind, c.id, c.units, c.vintage, c.status`, func(r pgx.Rows) error {
		var kind, id, status string
		var units, inBlocks, vintages, statuses int64
		var vintage, blockVintage int
		if err := r.Scan(&kind, &id, &units, &vintage, &inBlocks, &vintages, &blockVintage, &statuses, &status); err != nil {
			return err
		}
		if units != inBlocks || statuses != 1 {
			rep.add("%s %s: %d units recorded, %d in its blocks (%d statuses)", kind, id, units, inBlocks, statuses)
		}
		if kind == "retirement" && (vintages != 1 || blockVintage != vintage) {
			rep.add("retirement %s covers %d vintages, not exactly %d", id, vintages, vintage)
		}
		return nil
	})
}

// verifyObligations is stage 6: surrendered units per obligation = its
// offsets, within its cap.
func verifyObligations(ctx context.Context, tx pgx.Tx, rep *Report) error {
	return verifyEach(ctx, tx, rep, `
		SELECT o.enterprise, o.compliance_year, o.cap_units, o.surrendered_units, COALESCE(sum(f.units), 0)::BIGINT
		FROM registry_obligations o LEFT JOIN registry_offsets f ON f.enterprise = o.enterprise AND f.compliance_year = o.compliance_year
		GROUP BY o.enterprise, o.compliance_year, o.cap_units, o.surrendered_units`, func(r pgx.Rows) error {
		var ent string
		var year int
		var capUnits, recorded, summed int64
		if err := r.Scan(&ent, &year, &capUnits, &recorded, &summed); err != nil {
			return err
		}
		if recorded != summed || summed > capUnits {
			rep.add("obligation %s/%d: %d surrendered recorded, %d in offsets, cap %d", ent, year, recorded, summed, capUnits)
		}
		return nil
	})
}

func verifyEach(ctx context.Context, tx pgx.Tx, rep *Report, sql string, fn func(pgx.Rows) error) error {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
