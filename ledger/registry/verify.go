package registry

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The registry's invariants (DOMAIN.md §6.3), checked against the journal
// on one snapshot:
//   - blocks of one programme and vintage never overlap and, with no gap,
//     cover exactly the units the serial counter has handed out;
//   - every issuance is covered by blocks of its batch, unit for unit;
//   - for every holder, held blocks = engine balance and reserved blocks =
//     engine pending; blocks of each terminal status = its sink's balance;
//     all blocks = units ever issued (minus the issuer's balance);
//   - every retirement, offset and cancellation is made of exactly its
//     blocks, a retirement of one vintage; surrendered units per obligation
//     = its offsets, within its cap; the obligation in force is its latest
//     record, and its revisions have no gap;
//   - every trade's recorded serial ranges add up to its units;
//   - every recorded transfer is its moves: their units, from and to;
//   - every certificate, issuance and obligation record matches its
//     record hash.
//
// They are UseCase.Checks (so `carbonledger verify` runs them) and, through
// Verify, GET /v1/registry/verify.
var invariants = []struct {
	name string
	run  func(ledger.Journal, *Report) error
}{
	{"blocks", verifyBlocks}, {"issuances", verifyIssuances}, {"holders", verifyHolders}, {"sinks", verifySinks},
	{"consumptions", verifyConsumptions}, {"obligations", verifyObligations}, {"trades", verifyTrades}, {"record_hash", verifyRecords},
	{"transfers", verifyTransfers},
}

// Report is the result of Verify.
type Report struct {
	OK       bool     `json:"ok"`
	Blocks   int64    `json:"blocks"`
	Units    int64    `json:"units"`
	Problems []string `json:"problems"`
	found    []ledger.Problem
}

const verifyProblemsMax = 100

func (r *Report) add(p ledger.Problem) {
	r.OK = false
	r.found = append(r.found, p)
	if len(r.Problems) < verifyProblemsMax {
		r.Problems = append(r.Problems, fmt.Sprintf("%s %s: %s", p.Table, p.Row, p.Detail))
	}
}

// checks are the invariants as the engine runs them, each on its reader.
func checks() []ledger.Check {
	out := make([]ledger.Check, len(invariants))
	for i, inv := range invariants {
		out[i] = ledger.Check{Name: inv.name, Run: func(r *ledger.Reader) ([]ledger.Problem, error) {
			rep := &Report{}
			err := inv.run(r.Journal, rep)
			return rep.found, err
		}}
	}
	return out
}

// Verify runs every invariant on one snapshot, for the registry's own
// audit route; a failed read fails it, a broken invariant is reported.
func Verify(ctx context.Context, l *ledger.Ledger) (*Report, error) {
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (*Report, error) {
		rep := &Report{OK: true, Problems: []string{}}
		for _, inv := range invariants {
			if err := inv.run(r.Journal, rep); err != nil {
				return nil, err
			}
		}
		return rep, nil
	})
}

// verifyBlocks: overlap and coverage. Blocks are read in unit order per
// programme and vintage, so each must start right after the highest unit
// seen so far, and the last must end where the serial counter stopped.
func verifyBlocks(j ledger.Journal, rep *Report) error {
	counters := map[string]int64{}
	err := eachRow(j, `SELECT programme, vintage, next_unit FROM registry_serial_counters`, func(r pgx.Rows) error {
		var p string
		var v int
		var next int64
		err := r.Scan(&p, &v, &next)
		counters[fmt.Sprintf("%s/%d", p, v)] = next
		return err
	})
	if err != nil {
		return err
	}
	lastOf := map[string]int64{}
	err = eachRow(j, `SELECT id, programme, vintage, first_unit, last_unit FROM registry_blocks ORDER BY programme, vintage, first_unit`, func(r pgx.Rows) error {
		var id uuid.UUID
		var p string
		var v int
		var f, la int64
		if err := r.Scan(&id, &p, &v, &f, &la); err != nil {
			return err
		}
		rep.Blocks++
		rep.Units += la - f + 1
		k := fmt.Sprintf("%s/%d", p, v)
		prev := lastOf[k]
		switch {
		case f <= prev:
			rep.add(ledger.Problem{Kind: "block_overlap", Table: "registry_blocks", Row: id.String(), Detail: fmt.Sprintf("%s: block %d–%d overlaps the block ending at %d", k, f, la, prev)})
		case f > prev+1:
			rep.add(ledger.Problem{Kind: "block_gap", Table: "registry_blocks", Row: id.String(), Detail: fmt.Sprintf("%s: units %d–%d are in no block", k, prev+1, f-1)})
		}
		lastOf[k] = max(prev, la)
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(counters)) {
		if lastOf[k] != counters[k]-1 {
			rep.add(ledger.Problem{Kind: "serial_counter", Table: "registry_serial_counters", Row: k,
				Detail: fmt.Sprintf("the counter handed out units up to %d but blocks end at %d", counters[k]-1, lastOf[k])})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(lastOf)) {
		if _, ok := counters[k]; !ok {
			rep.add(ledger.Problem{Kind: "serial_counter", Table: "registry_serial_counters", Row: k, Detail: "blocks without a serial counter"})
		}
	}
	return nil
}

// verifyIssuances: every issuance is covered by the blocks of its batch,
// unit for unit.
func verifyIssuances(j ledger.Journal, rep *Report) error {
	return eachRow(j, `
		SELECT i.batch_id, i.serial_number, i.last_unit - i.first_unit + 1, COALESCE(sum(b.last_unit - b.first_unit + 1), 0)::BIGINT,
		       COALESCE(min(b.first_unit), 0), COALESCE(max(b.last_unit), 0), i.first_unit, i.last_unit, COALESCE(max(bt.issued_units), 0)
		FROM registry_issuances i
		JOIN registry_batches bt ON bt.id = i.batch_id
		LEFT JOIN registry_blocks b ON b.batch_id = i.batch_id
		GROUP BY i.batch_id, i.serial_number, i.first_unit, i.last_unit`, func(r pgx.Rows) error {
		var id uuid.UUID
		var serial string
		var units, inBlocks, minF, maxL, f, la, batchUnits int64
		if err := r.Scan(&id, &serial, &units, &inBlocks, &minF, &maxL, &f, &la, &batchUnits); err != nil {
			return err
		}
		if units != inBlocks || minF != f || maxL != la || batchUnits != units {
			rep.add(ledger.Problem{Kind: "issuance_blocks", Table: "registry_issuances", Row: id.String(),
				Detail: fmt.Sprintf("issuance %s: %d units issued, %d in blocks spanning %d–%d, batch says %d", serial, units, inBlocks, minF, maxL, batchUnits)})
		}
		return nil
	})
}

// verifyHolders: for every holder, held blocks = balance and reserved
// blocks = pending (a reservation counts until the journal resolves its
// hold), both ways: a holding with no held blocks must be empty, and held
// blocks of a holder with no account are reported too. Holder accounts
// the registry knows nothing of must hold nothing: the totals of all
// holder accounts equal the sum over the registry's holders.
func verifyHolders(j ledger.Journal, rep *Report) error {
	type part struct {
		holder string
		tx     *uuid.UUID
		units  int64
	}
	var parts []part
	err := eachRow(j, `
		SELECT holder, reserved_tx, sum(last_unit - first_unit + 1)::BIGINT FROM registry_blocks WHERE status = 'held' GROUP BY holder, reserved_tx
		UNION ALL SELECT id, NULL, 0 FROM registry_holders`, func(r pgx.Rows) error {
		var p part
		err := r.Scan(&p.holder, &p.tx, &p.units)
		parts = append(parts, p)
		return err
	})
	if err != nil {
		return err
	}
	var reserved []uuid.UUID
	for _, p := range parts {
		if p.tx != nil {
			reserved = append(reserved, *p.tx)
		}
	}
	done, err := j.Resolutions(reserved)
	if err != nil {
		return err
	}
	blocks := map[string][2]int64{} // holder: held, reserved
	for _, p := range parts {
		b := blocks[p.holder]
		b[0] += p.units
		if p.tx != nil {
			if _, resolved := done[*p.tx]; !resolved {
				b[1] += p.units
			}
		}
		blocks[p.holder] = b
	}
	holders := slices.Sorted(maps.Keys(blocks))
	ids := make([]string, len(holders))
	for i, h := range holders {
		ids[i] = ledger.HolderAccount(h)
	}
	accts, err := j.Accounts(ids)
	if err != nil {
		return err
	}
	var bal, pend decimal.Decimal
	for i, h := range holders {
		a, b := accts[ids[i]], blocks[h]
		bal, pend = bal.Add(a.Balance), pend.Add(a.Pending)
		if !a.Balance.Equal(decimal.NewFromInt(b[0])) || !a.Pending.Equal(decimal.NewFromInt(b[1])) {
			rep.add(ledger.Problem{Kind: "holder_balance", Table: "registry_holders", Row: h, Account: ids[i],
				Detail: fmt.Sprintf("%s: balance %s pending %s, but blocks hold %d with %d reserved", ids[i], a.Balance, a.Pending, b[0], b[1])})
		}
	}
	all, err := j.Totals(ledger.AccountFilter{Asset: ledger.AssetSDCER, IDPrefix: "holder:"})
	if err == nil && (!all.Balance.Equal(bal) || !all.Pending.Equal(pend)) {
		rep.add(ledger.Problem{Kind: "holder_balance", Table: "registry_holders", Row: "holder:*:SDCER",
			Detail: fmt.Sprintf("holder accounts without a registry holding hold %s with %s pending, but have no blocks", all.Balance.Sub(bal), all.Pending.Sub(pend))})
	}
	return err
}

// verifySinks: the blocks of each terminal status against its sink's
// balance, and all blocks against the units the issuer handed out.
func verifySinks(j ledger.Journal, rep *Report) error {
	units := map[string]int64{}
	err := eachRow(j, `SELECT status, sum(last_unit - first_unit + 1)::BIGINT FROM registry_blocks GROUP BY status`, func(r pgx.Rows) error {
		var status string
		var n int64
		err := r.Scan(&status, &n)
		units[status], units["all"] = n, units["all"]+n
		return err
	})
	if err != nil {
		return err
	}
	const issuer = "registry:SDCER:issuance"
	accts, err := j.Accounts([]string{issuer, RetiredAccount, CancelledAccount, SurrenderedAccount})
	if err != nil {
		return err
	}
	for _, c := range []struct {
		status, account string
		bal             decimal.Decimal
	}{{"all", issuer, accts[issuer].Balance.Neg()}, {StatusRetired, RetiredAccount, accts[RetiredAccount].Balance},
		{StatusCancelled, CancelledAccount, accts[CancelledAccount].Balance}, {StatusSurrendered, SurrenderedAccount, accts[SurrenderedAccount].Balance}} {
		if !c.bal.Equal(decimal.NewFromInt(units[c.status])) {
			rep.add(ledger.Problem{Kind: "sink_balance", Table: "registry_blocks", Row: "status=" + c.status, Account: c.account,
				Detail: fmt.Sprintf("%s: journal says %s, blocks say %d", c.account, c.bal, units[c.status])})
		}
	}
	return nil
}

// verifyConsumptions: every retirement, offset and cancellation is made of
// exactly its blocks, a retirement of one vintage.
func verifyConsumptions(j ledger.Journal, rep *Report) error {
	return eachRow(j, `
		SELECT c.kind, c.id::TEXT, c.units, c.vintage, COALESCE(sum(b.last_unit - b.first_unit + 1), 0)::BIGINT,
		       count(DISTINCT b.vintage), COALESCE(min(b.vintage), 0), count(DISTINCT b.status), COALESCE(min(b.status), '')
		FROM (SELECT 'retirements' AS kind, id, units, vintage, 'retired' AS status FROM registry_retirements
		      UNION ALL SELECT 'offsets', id, units, 0, 'surrendered' FROM registry_offsets
		      UNION ALL SELECT 'cancellations', id, units, 0, 'cancelled' FROM registry_cancellations) c
		LEFT JOIN registry_blocks b ON b.consumed_ref = c.id
		GROUP BY c.kind, c.id, c.units, c.vintage, c.status`, func(r pgx.Rows) error {
		var kind, id, status string
		var units, inBlocks, vintages, statuses int64
		var vintage, blockVintage int
		if err := r.Scan(&kind, &id, &units, &vintage, &inBlocks, &vintages, &blockVintage, &statuses, &status); err != nil {
			return err
		}
		p := ledger.Problem{Kind: "consumption_blocks", Table: "registry_" + kind, Row: id}
		if units != inBlocks || statuses != 1 {
			p.Detail = fmt.Sprintf("%d units recorded, %d in its blocks (%d statuses)", units, inBlocks, statuses)
			rep.add(p)
		}
		if kind == "retirements" && (vintages != 1 || blockVintage != vintage) {
			p.Detail = fmt.Sprintf("the retirement covers %d vintages, not exactly %d", vintages, vintage)
			rep.add(p)
		}
		return nil
	})
}

// verifyObligations: surrendered units per obligation = its offsets,
// within its cap; the row's figures are those of its record at the
// revision in force, which is the latest, and no revision is missing.
func verifyObligations(j ledger.Journal, rep *Report) error {
	err := eachRow(j, `
		SELECT o.enterprise, o.compliance_year, o.revision, o.cap_units, o.surrendered_units,
		       (SELECT COALESCE(sum(f.units), 0) FROM registry_offsets f WHERE f.enterprise = o.enterprise AND f.compliance_year = o.compliance_year)::BIGINT,
		       COALESCE(r.obligation_tonnes = o.obligation_tonnes AND r.cap_share = o.cap_share AND r.cap_units = o.cap_units
		           AND r.policy_id = o.policy_id, false),
		       (SELECT count(*) FROM registry_obligation_records x WHERE x.enterprise = o.enterprise AND x.compliance_year = o.compliance_year),
		       (SELECT COALESCE(min(x.revision), -1) FROM registry_obligation_records x WHERE x.enterprise = o.enterprise AND x.compliance_year = o.compliance_year),
		       (SELECT COALESCE(max(x.revision), -1) FROM registry_obligation_records x WHERE x.enterprise = o.enterprise AND x.compliance_year = o.compliance_year)
		FROM registry_obligations o
		LEFT JOIN registry_obligation_records r ON r.enterprise = o.enterprise AND r.compliance_year = o.compliance_year AND r.revision = o.revision`,
		func(r pgx.Rows) error {
			var ent string
			var year int
			var rev, capUnits, recorded, summed, n, lo, hi int64
			var matches bool
			if err := r.Scan(&ent, &year, &rev, &capUnits, &recorded, &summed, &matches, &n, &lo, &hi); err != nil {
				return err
			}
			row := fmt.Sprintf("%s/%d", ent, year)
			if recorded != summed || summed > capUnits {
				rep.add(ledger.Problem{Kind: "obligation_sum", Table: "registry_obligations", Row: row,
					Detail: fmt.Sprintf("%d surrendered recorded, %d in offsets, cap %d", recorded, summed, capUnits)})
			}
			switch {
			case !matches:
				rep.add(ledger.Problem{Kind: "obligation_record", Table: "registry_obligations", Row: row,
					Detail: fmt.Sprintf("the figures in force (revision %d) are not those of its record", rev)})
			case hi != rev || lo > 1 || n != hi-lo+1:
				rep.add(ledger.Problem{Kind: "obligation_record", Table: "registry_obligation_records", Row: row,
					Detail: fmt.Sprintf("revision %d is in force, but the records run %d–%d with %d rows: a revision was removed or rolled back", rev, lo, hi, n)})
			}
			return nil
		})
	if err != nil {
		return err
	}
	return eachRow(j, `
		SELECT DISTINCT r.enterprise, r.compliance_year FROM registry_obligation_records r
		WHERE NOT EXISTS (SELECT 1 FROM registry_obligations o WHERE o.enterprise = r.enterprise AND o.compliance_year = r.compliance_year)`,
		func(r pgx.Rows) error {
			var ent string
			var year int
			err := r.Scan(&ent, &year)
			rep.add(ledger.Problem{Kind: "obligation_record", Table: "registry_obligations", Row: fmt.Sprintf("%s/%d", ent, year),
				Detail: "the obligation has records but no row: it was removed"})
			return err
		})
}

// verifyTrades: the serial ranges recorded with a trade add up to its
// units.
func verifyTrades(j ledger.Journal, rep *Report) error {
	return eachRow(j, `
		SELECT t.id, t.units, COALESCE(sum(r.last_unit - r.first_unit + 1), 0)::BIGINT
		FROM registry_trades t LEFT JOIN registry_trade_ranges r ON r.trade_id = t.id
		WHERE t.ranges_recorded GROUP BY t.id, t.units`, func(r pgx.Rows) error {
		var id uuid.UUID
		var units, ranged int64
		if err := r.Scan(&id, &units, &ranged); err != nil {
			return err
		}
		if units != ranged {
			rep.add(ledger.Problem{Kind: "trade_ranges", Table: "registry_trades", Row: id.String(),
				Detail: fmt.Sprintf("the trade is for %d units but its recorded serial ranges hold %d", units, ranged)})
		}
		return nil
	})
}

// verifyTransfers checks that the record of each transfer (the list of
// transfers reads it) says what its moves did.
func verifyTransfers(j ledger.Journal, rep *Report) error {
	return eachRow(j, `
		SELECT t.tx_id, t.units, COALESCE(sum(m.last_unit - m.first_unit + 1), 0)::BIGINT,
		       count(*) FILTER (WHERE m.from_holder <> t.from_holder OR m.to_holder <> t.to_holder)
		FROM registry_transfers t LEFT JOIN registry_moves m ON m.tx_id = t.tx_id
		GROUP BY t.tx_id, t.units`, func(r pgx.Rows) error {
		var id uuid.UUID
		var units, moved, astray int64
		if err := r.Scan(&id, &units, &moved, &astray); err != nil {
			return err
		}
		if units != moved || astray != 0 {
			rep.add(ledger.Problem{Kind: "transfer_record", Table: "registry_transfers", Row: id.String(),
				Detail: fmt.Sprintf("the transfer records %d units but its moves hold %d (%d of another holder)", units, moved, astray)})
		}
		return nil
	})
}

// eachRow runs fn on every row of a query.
func eachRow(j ledger.Journal, sql string, fn func(pgx.Rows) error, args ...any) error {
	rows, err := j.Tx().Query(j.Ctx(), sql, args...)
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
