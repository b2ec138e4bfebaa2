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
// donations. Each is a ledger.Check (UseCase.Checks), run by VerifyAll.

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

// citizensPerCheckRead bounds the accounts one read of checkBalances asks
// the engine for.
const citizensPerCheckRead = 500

// checkBalances holds each citizen's two accounts to the use case's rows.
func checkBalances(r *ledger.Reader) ([]ledger.Problem, error) {
	rows, err := r.Tx().Query(r.Ctx(), `
		SELECT c.id,
			(SELECT COALESCE(sum(grams), 0) FROM points_behaviours b WHERE b.citizen_id = c.id AND b.claim_state = 'pending')::BIGINT,
			(SELECT COALESCE(sum(remaining), 0) FROM points_lots l WHERE l.citizen_id = c.id)::BIGINT
		FROM points_citizens c ORDER BY c.id`)
	if err != nil {
		return nil, err
	}
	type sums struct {
		id         string
		pend, lots int64
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sums, error) {
		var s sums
		return s, row.Scan(&s.id, &s.pend, &s.lots)
	})
	var ps []ledger.Problem
	for lo := 0; err == nil && lo < len(cs); lo += citizensPerCheckRead {
		chunk := cs[lo:min(lo+citizensPerCheckRead, len(cs))]
		ids := make([]string, 0, 2*len(chunk))
		for _, c := range chunk {
			ids = append(ids, ledger.CitizenPendingAccount(c.id), ledger.CitizenAvailableAccount(c.id))
		}
		var accts map[string]ledger.AccountView
		if accts, err = r.Accounts(ids); err != nil {
			break
		}
		for _, c := range chunk {
			p, a := accts[ledger.CitizenPendingAccount(c.id)], accts[ledger.CitizenAvailableAccount(c.id)]
			if p.Balance.IntPart() != c.pend {
				ps = append(ps, ledger.Problem{Table: "points_behaviours", Row: c.id, Account: ledger.CitizenPendingAccount(c.id),
					Detail: fmt.Sprintf("pending balance %s, unclaimed credits %d", p.Balance, c.pend)})
			}
			if a.Balance.IntPart() != c.lots {
				ps = append(ps, ledger.Problem{Table: "points_lots", Row: c.id, Account: ledger.CitizenAvailableAccount(c.id),
					Detail: fmt.Sprintf("available balance %s, lots remaining %d", a.Balance, c.lots)})
			}
		}
	}
	return ps, err
}

// checkSinks holds the redeemed sink and each donation pool to the
// redemptions and donations.
func checkSinks(r *ledger.Reader) ([]ledger.Problem, error) {
	rows, err := r.Tx().Query(r.Ctx(), `
		SELECT 'points_redemptions', $1::TEXT, (SELECT COALESCE(sum(points), 0) FROM points_redemptions)::BIGINT
		UNION ALL
		SELECT 'points_donation_pools', p.id, (SELECT COALESCE(sum(d.points), 0) FROM points_donations d WHERE d.pool_id = p.id)::BIGINT
		FROM points_donation_pools p`, ProgrammeRedeemed)
	if err != nil {
		return nil, err
	}
	type sink struct {
		table, row, account string
		sum                 int64
	}
	sinks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sink, error) {
		var s sink
		err := row.Scan(&s.table, &s.row, &s.sum)
		if s.account = s.row; s.table == "points_donation_pools" {
			s.account = DonationPoolAccount(s.row)
		}
		return s, err
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(sinks))
	for i, s := range sinks {
		ids[i] = s.account
	}
	accts, err := r.Accounts(ids)
	var ps []ledger.Problem
	for _, s := range sinks {
		if a := accts[s.account]; a.Balance.IntPart() != s.sum { // an account not opened holds 0
			ps = append(ps, ledger.Problem{Table: s.table, Row: s.row, Account: s.account,
				Detail: fmt.Sprintf("%s holds %s, the rows total %d", s.account, a.Balance, s.sum)})
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
	rowCheck("daily_totals", "points_daily_usage", "the day's counters differ from its behaviours", `
		SELECT u.citizen_id || ' ' || u.day::TEXT FROM points_daily_usage u
		WHERE u.grams <> (SELECT COALESCE(sum(b.grams), 0) FROM points_behaviours b
			WHERE b.citizen_id = u.citizen_id AND b.day = u.day AND b.status = 'credited')
		   OR u.records <> (SELECT count(*) FROM points_behaviours b WHERE b.citizen_id = u.citizen_id AND b.day = u.day)`),
	rowCheck("credits_without_transaction", "points_behaviours", "a credit names no ledger transaction",
		`SELECT id::TEXT FROM points_behaviours WHERE status = 'credited' AND tx_id IS NULL`),
	rowCheck("rewards", "points_rewards", "negative stock", `SELECT id FROM points_rewards WHERE stock < 0`),
}
