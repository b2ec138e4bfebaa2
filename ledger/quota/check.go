package quota

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The post-flight half of the package's invariants (the Go checks before
// writing are the other half), run by VerifyAll on one snapshot: the
// workflow tables against each other and against the engine's balances,
// read through the Journal so both sides come from the same snapshot.

// balanceRule is one mirror of the engine in the workflow tables: its SQL
// yields, per row of the package's own tables, the row's key, the account
// it mirrors and the workflow's tonnes there.
type balanceRule struct {
	what, table, sql string
	// chartType: every CEI account of this type must be some row's, so the
	// type's total must equal the rows' accounts' sum ("" = not checked).
	chartType string
	issuer    bool // the account is an issuer: the engine's balance is the negative
}

var balanceRules = []balanceRule{
	{what: "reserve", table: "quota_tranches", chartType: "reserve", sql: `
		SELECT r.name, r.account, COALESCE(sum(t.remaining), 0) FROM quota_reserves r LEFT JOIN quota_tranches t ON t.reserve = r.name
		GROUP BY r.name, r.account`},
	{what: "enterprise source", table: "quota_sources", chartType: "source", sql: `
		SELECT enterprise || CASE WHEN index_kind = 'CEI' THEN '' ELSE '/' || index_kind END, 'enterprise:' || enterprise || ':' || index_kind || ':source', sum(CASE WHEN status = 'recognised' THEN unstockpiled ELSE 0 END)
		FROM quota_sources GROUP BY enterprise, index_kind`},
	{what: "project", table: "quota_allocations", chartType: "allocated", sql: `
		SELECT p.id || CASE WHEN k.code = 'CEI' THEN '' ELSE '/' || k.code END, 'project:' || p.id || ':' || k.code || ':allocated', COALESCE(sum(CASE WHEN x.status = 'allocated' THEN x.tonnes ELSE 0 END), 0)
		FROM quota_projects p CROSS JOIN quota_index_kinds k LEFT JOIN quota_allocations x ON x.project = p.id AND x.index_kind = k.code GROUP BY p.id, k.code`},
	{what: "consumed", table: "quota_allocations", chartType: "consumed", sql: `
		SELECT 'consumed' || CASE WHEN k.code = 'CEI' THEN '' ELSE '/' || k.code END, 'province:' || k.code || ':consumed', COALESCE(sum(x.tonnes), 0)
		FROM quota_index_kinds k LEFT JOIN quota_allocations x ON x.index_kind = k.code AND x.status = 'consumed' GROUP BY k.code`},
	{what: "recognition", table: "quota_sources", chartType: "recognition", issuer: true, sql: `
		SELECT 'recognised' || CASE WHEN k.code = 'CEI' THEN '' ELSE '/' || k.code END, 'province:' || k.code || ':recognition', COALESCE(sum(s.tonnes + s.corrected), 0)
		FROM quota_index_kinds k LEFT JOIN quota_sources s ON s.index_kind = k.code AND s.status = 'recognised' GROUP BY k.code`},
}

// checkBalances compares each rule's rows with the engine's accounts.
func checkBalances(r *ledger.Reader) ([]ledger.Problem, error) {
	var problems []ledger.Problem
	for _, rule := range balanceRules {
		ps, err := rule.check(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rule.what, err)
		}
		problems = append(problems, ps...)
	}
	return problems, nil
}

func (rule balanceRule) check(r *ledger.Reader) ([]ledger.Problem, error) {
	rows, err := r.Tx().Query(r.Ctx(), rule.sql)
	if err != nil {
		return nil, err
	}
	type mirror struct {
		key, account string
		ours         decimal.Decimal
	}
	var ms []mirror
	var ids []string
	for rows.Next() {
		var m mirror
		if err := rows.Scan(&m.key, &m.account, &m.ours); err != nil {
			rows.Close()
			return nil, err
		}
		ms, ids = append(ms, m), append(ids, m.account)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	accounts, err := r.Accounts(ids)
	if err != nil {
		return nil, err
	}
	var problems []ledger.Problem
	covered := decimal.Zero
	for _, m := range ms {
		eng := accounts[m.account].Balance // an account never opened holds nothing
		if rule.issuer {
			eng = eng.Neg()
		}
		covered = covered.Add(eng)
		if !m.ours.Equal(eng) {
			problems = append(problems, ledger.Problem{Kind: "balance", Table: rule.table, Row: m.key, Account: m.account,
				Detail: fmt.Sprintf("%s %s: workflow says %s, engine says %s", rule.what, m.key, m.ours, eng)})
		}
	}
	if rule.chartType == "" {
		return problems, nil
	}
	// Accounts of the type that no row mirrors would escape the loop:
	// summed over every configured kind (each its own asset).
	kinds, err := kindsOf(r.Journal, nil)
	if err != nil {
		return nil, err
	}
	total := decimal.Zero
	for _, k := range kinds {
		t, err := r.Totals(ledger.AccountFilter{Asset: ledger.Asset(k.Code), Type: rule.chartType})
		if err != nil {
			return nil, err
		}
		total = total.Add(t.Balance)
	}
	if rule.issuer {
		total = total.Neg()
	}
	if !total.Equal(covered) {
		problems = append(problems, ledger.Problem{Kind: "balance", Table: rule.table, Row: "*",
			Detail: fmt.Sprintf("%s accounts of every index kind hold %s t in all, %s t of it in accounts the workflow knows", rule.chartType, total, covered)})
	}
	return problems, nil
}

// checkDraws: each allocation's draws sum to its tonnes.
func checkDraws(r *ledger.Reader) ([]ledger.Problem, error) {
	rows, err := r.Tx().Query(r.Ctx(), `
		SELECT x.id::TEXT, x.tonnes, COALESCE(sum(d.tonnes), 0)
		FROM quota_allocations x LEFT JOIN quota_draws d ON d.allocation_id = x.id GROUP BY x.id, x.tonnes`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []ledger.Problem
	for rows.Next() {
		var id string
		var tonnes, drawn decimal.Decimal
		if err := rows.Scan(&id, &tonnes, &drawn); err != nil {
			return nil, err
		}
		if !tonnes.Equal(drawn) {
			problems = append(problems, ledger.Problem{Kind: "allocation_draws", Table: "quota_draws", Row: id,
				Detail: fmt.Sprintf("allocation %s is of %s t; its draws sum to %s t", id, tonnes, drawn)})
		}
	}
	return problems, rows.Err()
}

// checkMoveSettlements: each transfer that settled a project's move moved
// exactly what its settlement rows say it repaid, between the reserves
// they name.
func checkMoveSettlements(r *ledger.Reader) ([]ledger.Problem, error) {
	rows, err := r.Tx().Query(r.Ctx(), `
		SELECT t.id::TEXT, t.tonnes, sum(s.tonnes), count(*) FILTER (WHERE s.payer <> t.from_reserve OR s.payee <> t.to_reserve)
		FROM quota_transfers t JOIN quota_move_settlements s ON s.transfer_id = t.id
		GROUP BY t.id, t.tonnes`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []ledger.Problem
	for rows.Next() {
		var id string
		var moved, settled decimal.Decimal
		var crossed int64
		if err := rows.Scan(&id, &moved, &settled, &crossed); err != nil {
			return nil, err
		}
		if !moved.Equal(settled) || crossed > 0 {
			problems = append(problems, ledger.Problem{Kind: "move_settlement", Table: "quota_move_settlements", Row: id,
				Detail: fmt.Sprintf("transfer %s moved %s t; its settlement rows repay %s t (%d between other reserves)", id, moved, settled, crossed)})
		}
	}
	return problems, rows.Err()
}
