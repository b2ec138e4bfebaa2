package quota

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Check is the post-flight half of the package's invariants (the Go checks
// before writing are the other half). It compares, in one snapshot, the
// workflow tables with the engine's balances:
//
//   - each reserve's open tranches sum to the reserve account's balance;
//   - each enterprise's unstockpiled recognised tonnes sum to its source account;
//   - each project's open allocations sum to its allocated account;
//   - consumed allocations sum to province:CEI:consumed;
//   - recognised tonnes (with corrections) equal what the recognition issuer created;
//   - each allocation's draws sum to its tonnes.
//
// It reads the engine's accounts and issuer_shards tables directly (read
// only) so that both sides come from the same snapshot. It returns one line
// per problem; none means consistent.
func Check(ctx context.Context, l *ledger.Ledger) ([]string, error) {
	tx, err := l.Pool().BeginTx(ctx, readSnapshot)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	var problems []string
	type pair struct {
		key       string
		ours, eng decimal.Decimal
	}
	compare := func(what, sql string, args ...any) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
			var p pair
			return p, r.Scan(&p.key, &p.ours, &p.eng)
		})
		if err != nil {
			return err
		}
		for _, p := range items {
			if !p.ours.Equal(p.eng) {
				problems = append(problems, fmt.Sprintf("%s %s: workflow says %s, engine says %s", what, p.key, p.ours, p.eng))
			}
		}
		return nil
	}
	checks := []struct{ what, sql string }{
		{"reserve", `
			SELECT r.name, COALESCE((SELECT sum(t.remaining) FROM quota_tranches t WHERE t.reserve = r.name), 0), COALESCE(a.balance, 0)
			FROM quota_reserves r LEFT JOIN accounts a ON a.id = r.account`},
		{"enterprise source", `
			SELECT a.id, COALESCE((SELECT sum(s.unstockpiled) FROM quota_sources s WHERE s.status = 'recognised' AND 'enterprise:' || s.enterprise || ':CEI:source' = a.id), 0), a.balance
			FROM accounts a WHERE a.asset = 'CEI' AND a.type = 'source'`},
		{"project", `
			SELECT a.id, COALESCE((SELECT sum(x.tonnes) FROM quota_allocations x WHERE x.status = 'allocated' AND 'project:' || x.project || ':CEI:allocated' = a.id), 0), a.balance
			FROM accounts a WHERE a.asset = 'CEI' AND a.type = 'allocated'`},
		{"consumed", `
			SELECT a.id, COALESCE((SELECT sum(x.tonnes) FROM quota_allocations x WHERE x.status = 'consumed'), 0), a.balance
			FROM accounts a WHERE a.id = 'province:CEI:consumed'`},
		{"recognition", `
			SELECT a.id, COALESCE((SELECT sum(s.tonnes + s.corrected) FROM quota_sources s WHERE s.status = 'recognised'), 0),
			       -COALESCE((SELECT sum(sh.balance) FROM issuer_shards sh WHERE sh.account_id = a.id), 0)
			FROM accounts a WHERE a.id = 'province:CEI:recognition'`},
		{"allocation draws", `
			SELECT x.id::TEXT, x.tonnes, COALESCE((SELECT sum(d.tonnes) FROM quota_draws d WHERE d.allocation_id = x.id), 0)
			FROM quota_allocations x`},
	}
	for _, c := range checks {
		if err := compare(c.what, c.sql); err != nil {
			return nil, err
		}
	}
	return problems, nil
}
