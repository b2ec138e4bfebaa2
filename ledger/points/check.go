package points

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The use case's own invariants, next to the engine's: for every citizen,
// the pending account holds exactly the unclaimed credits and the
// available account exactly the lots' remaining points; each lot's moves
// explain what it lost and its immutable fields still match its record
// hash; each day's total counter equals the credits of that day; the
// redeemed sink and each donation pool hold exactly the redemptions and
// donations; every duplicate names the counted record it duplicates.
// Each is a ledger.Check (UseCase.Checks), run by VerifyAll.

// CheckReport lists violations of the points invariants.
type CheckReport struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
}

// Check runs the use case's checks alone, on one snapshot.
func Check(ctx context.Context, l *ledger.Ledger) (CheckReport, error) {
	rep := CheckReport{Problems: []string{}}
	err := l.Read(ctx, func(r *ledger.Reader) error {
		for _, c := range UseCase.Checks {
			ps, err := c.Run(r)
			if err != nil {
				return err
			}
			for _, p := range ps {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s %s: %s", c.Name, p.Table, p.Row, p.Detail))
			}
		}
		return nil
	})
	rep.OK = len(rep.Problems) == 0
	return rep, err
}

// holding is what one account the use case feeds must hold, by the use
// case's own rows: table names the rows, row the citizen or pool.
type holding struct {
	table, row string
	want       int64
}

func (h holding) account() string {
	switch h.table {
	case "points_behaviours": // unclaimed credits
		return ledger.CitizenPendingAccount(h.row)
	case "points_lots": // the lots' remaining points
		return ledger.CitizenAvailableAccount(h.row)
	case "points_donation_pools":
		return DonationPoolAccount(h.row)
	}
	return ProgrammeRedeemed
}

// accountsPerCheckRead bounds the accounts one read of checkBalances asks
// the engine for.
const accountsPerCheckRead = 1000

// checkBalances holds every citizen's two accounts, the redeemed sink and
// each donation pool to the use case's rows. An account not opened holds 0.
// The per-citizen sums are grouped in one pass, never a subquery per
// citizen (daily_totals says why).
func checkBalances(r *ledger.Reader) ([]ledger.Problem, error) {
	rows, err := r.Tx().Query(r.Ctx(), `
		SELECT 'points_behaviours', c.id, COALESCE(b.s, 0)::BIGINT
		FROM points_citizens c
		LEFT JOIN (SELECT citizen_id, sum(grams) AS s FROM points_behaviours WHERE claim_state = 'pending' GROUP BY citizen_id) b ON b.citizen_id = c.id
		UNION ALL
		SELECT 'points_lots', c.id, COALESCE(l.s, 0)::BIGINT
		FROM points_citizens c
		LEFT JOIN (SELECT citizen_id, sum(remaining) AS s FROM points_lots GROUP BY citizen_id) l ON l.citizen_id = c.id
		UNION ALL
		SELECT 'points_redemptions', $1::TEXT, (SELECT COALESCE(sum(points), 0) FROM points_redemptions)::BIGINT
		UNION ALL
		SELECT 'points_donation_pools', p.id, (SELECT COALESCE(sum(d.points), 0) FROM points_donations d WHERE d.pool_id = p.id)::BIGINT
		FROM points_donation_pools p`, ProgrammeRedeemed)
	if err != nil {
		return nil, err
	}
	hs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (holding, error) {
		var h holding
		return h, row.Scan(&h.table, &h.row, &h.want)
	})
	var ps []ledger.Problem
	for lo := 0; err == nil && lo < len(hs); lo += accountsPerCheckRead {
		chunk := hs[lo:min(lo+accountsPerCheckRead, len(hs))]
		ids := make([]string, len(chunk))
		for i, h := range chunk {
			ids[i] = h.account()
		}
		var accts map[string]ledger.AccountView
		if accts, err = r.Accounts(ids); err != nil {
			break
		}
		for _, h := range chunk {
			if a := accts[h.account()]; a.Balance.IntPart() != h.want {
				ps = append(ps, ledger.Problem{Table: h.table, Row: h.row, Account: h.account(),
					Detail: fmt.Sprintf("%s holds %s, the use case's rows total %d", h.account(), a.Balance, h.want)})
			}
		}
	}
	return ps, err
}

// rowCheck is a check whose SQL returns the keys of the rows at fault.
func rowCheck(name, table, detail, sql string) ledger.Check {
	return ledger.Check{Name: name, Run: func(r *ledger.Reader) ([]ledger.Problem, error) {
		rows, err := r.Tx().Query(r.Ctx(), sql)
		if err != nil {
			return nil, err
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		ps := make([]ledger.Problem, len(keys))
		for i, k := range keys {
			ps[i] = ledger.Problem{Table: table, Row: k, Detail: detail}
		}
		return ps, err
	}}
}

var rowChecks = []ledger.Check{
	rowCheck("lot_moves", "points_lots", "the lot's moves do not add up to what it lost", `
		SELECT l.id::TEXT FROM points_lots l
		WHERE l.points - l.remaining <> (SELECT COALESCE(sum(m.points), 0) FROM points_lot_moves m WHERE m.lot_id = l.id)`),
	// Set-based (one pass over each table), not a subquery per row: with
	// only a (day) index to probe, a subquery per citizen-day read the whole
	// day's behaviours each time, and at 1,000,000 citizens the check ran
	// past verification's five-minute statement limit (issue 11).
	rowCheck("daily_totals", "points_daily_usage", "the day's counters differ from its behaviours", `
		SELECT u.citizen_id || ' ' || u.day::TEXT FROM points_daily_usage u
		LEFT JOIN (
			SELECT citizen_id, day, sum(CASE WHEN status = 'credited' THEN grams ELSE 0 END) AS grams,
			       sum(CASE WHEN status <> 'duplicate' THEN 1 ELSE 0 END) AS records
			FROM points_behaviours GROUP BY citizen_id, day) b ON b.citizen_id = u.citizen_id AND b.day = u.day
		WHERE u.grams <> COALESCE(b.grams, 0) OR u.records <> COALESCE(b.records, 0)`),
	// A duplicate, or a day's total topping up a smaller one, names a
	// counted record of the same citizen: the one credited instead.
	rowCheck("duplicates", "points_behaviours", "the record it duplicates is missing, another citizen's, or itself a duplicate", `
		SELECT d.id::TEXT FROM points_behaviours d LEFT JOIN points_behaviours o ON o.id = d.duplicate_of
		WHERE d.duplicate_of IS NOT NULL AND (o.id IS NULL OR o.citizen_id <> d.citizen_id OR o.status = 'duplicate')`),
	rowCheck("credits_without_transaction", "points_behaviours", "a credit names no ledger transaction",
		`SELECT id::TEXT FROM points_behaviours WHERE status = 'credited' AND tx_id IS NULL`),
	rowCheck("rewards", "points_rewards", "negative stock", `SELECT id FROM points_rewards WHERE stock < 0`),
}
