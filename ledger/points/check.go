package points

import (
	"context"
	"fmt"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// CheckReport lists violations of the points invariants.
type CheckReport struct {
	OK       bool     `json:"ok"`
	Citizens int      `json:"citizens"`
	Problems []string `json:"problems"`
}

// Check asserts the use case's own invariants next to the engine's
// l.Verify: for every citizen, the pending account holds exactly the
// unclaimed credits and the available account exactly the lots' remaining
// points; each lot's moves explain what it lost; each day's total counter
// equals the credits of that day; the redeemed sink and each donation pool
// hold exactly the redemptions and donations. It reads every citizen's
// accounts one by one: for tests and small audits.
func Check(ctx context.Context, l *ledger.Ledger) (CheckReport, error) {
	rep := CheckReport{Problems: []string{}}
	q := l.Pool()
	rows, err := q.Query(ctx, `
		SELECT c.id,
			(SELECT COALESCE(sum(grams), 0) FROM points_behaviours b WHERE b.citizen_id = c.id AND b.claim_state = 'pending')::BIGINT,
			(SELECT COALESCE(sum(remaining), 0) FROM points_lots l WHERE l.citizen_id = c.id)::BIGINT
		FROM points_citizens c ORDER BY c.id`)
	if err != nil {
		return rep, err
	}
	type row struct {
		id         string
		pend, lots int64
	}
	var cs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.pend, &r.lots); err != nil {
			rows.Close()
			return rep, err
		}
		cs = append(cs, r)
	}
	if err := rows.Err(); err != nil {
		return rep, err
	}
	rep.Citizens = len(cs)
	for _, c := range cs {
		p, err := l.GetAccount(ctx, ledger.CitizenPendingAccount(c.id))
		if err != nil {
			return rep, err
		}
		a, err := l.GetAccount(ctx, ledger.CitizenAvailableAccount(c.id))
		if err != nil {
			return rep, err
		}
		if p.Balance.IntPart() != c.pend {
			rep.Problems = append(rep.Problems, fmt.Sprintf("citizen %s: pending balance %s, unclaimed credits %d", c.id, p.Balance, c.pend))
		}
		if a.Balance.IntPart() != c.lots {
			rep.Problems = append(rep.Problems, fmt.Sprintf("citizen %s: available balance %s, lots remaining %d", c.id, a.Balance, c.lots))
		}
	}
	for _, chk := range []struct{ name, sql string }{
		{"lot moves", `
			SELECT l.id::TEXT FROM points_lots l
			WHERE l.points - l.remaining <> (SELECT COALESCE(sum(m.points), 0) FROM points_lot_moves m WHERE m.lot_id = l.id)`},
		{"daily totals", `
			SELECT u.citizen_id || ' ' || u.day::TEXT FROM points_daily_usage u
			WHERE u.grams <> (SELECT COALESCE(sum(b.grams), 0) FROM points_behaviours b
				WHERE b.citizen_id = u.citizen_id AND b.day = u.day AND b.status = 'credited')
			   OR u.records <> (SELECT count(*) FROM points_behaviours b WHERE b.citizen_id = u.citizen_id AND b.day = u.day)`},
		{"credits without transaction", `SELECT id::TEXT FROM points_behaviours WHERE status = 'credited' AND tx_id IS NULL`},
		{"rewards", `SELECT id FROM points_rewards WHERE stock < 0`},
	} {
		rows, err := q.Query(ctx, chk.sql)
		if err != nil {
			return rep, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return rep, err
			}
			rep.Problems = append(rep.Problems, chk.name+": "+s)
		}
		if err := rows.Err(); err != nil {
			return rep, err
		}
	}
	var redeemed int64
	if err := q.QueryRow(ctx, `SELECT COALESCE(sum(points), 0)::BIGINT FROM points_redemptions`).Scan(&redeemed); err != nil {
		return rep, err
	}
	if a, err := l.GetAccount(ctx, ProgrammeRedeemed); err == nil && a.Balance.IntPart() != redeemed {
		rep.Problems = append(rep.Problems, fmt.Sprintf("redeemed sink holds %s, redemptions total %d", a.Balance, redeemed))
	}
	pools, err := q.Query(ctx, `SELECT p.id, (SELECT COALESCE(sum(d.points), 0) FROM points_donations d WHERE d.pool_id = p.id)::BIGINT FROM points_donation_pools p`)
	if err != nil {
		return rep, err
	}
	type pr struct {
		id  string
		sum int64
	}
	var ps []pr
	for pools.Next() {
		var p pr
		if err := pools.Scan(&p.id, &p.sum); err != nil {
			pools.Close()
			return rep, err
		}
		ps = append(ps, p)
	}
	if err := pools.Err(); err != nil {
		return rep, err
	}
	for _, p := range ps {
		a, err := l.GetAccount(ctx, DonationPoolAccount(p.id))
		if err != nil {
			return rep, err
		}
		if a.Balance.IntPart() != p.sum {
			rep.Problems = append(rep.Problems, fmt.Sprintf("pool %s holds %s, donations total %d", p.id, a.Balance, p.sum))
		}
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}
