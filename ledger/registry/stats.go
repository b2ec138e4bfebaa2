package registry

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

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
	sums, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]unitSum, error) { return sumUnits(r.Journal, `true`) })
	if err != nil {
		return Stats{}, err
	}
	out := Stats{Rows: []StatsRow{}, AsOf: l.Now()}
	var tot, v [6]int64
	col := map[string]int{StatusHeld: 1, StatusRetired: 3, StatusCancelled: 4, StatusSurrendered: 5}
	for i, s := range sums {
		v[0] += s.units
		v[col[s.status]] += s.units
		v[2] += s.reserved
		if i+1 < len(sums) && sums[i+1].vintage == s.vintage && sums[i+1].methodology == s.methodology {
			continue
		}
		r := StatsRow{Vintage: s.vintage, Methodology: s.methodology}
		for k := range v {
			tot[k] += v[k]
		}
		fill(&r, v)
		out.Rows, v = append(out.Rows, r), [6]int64{}
	}
	fill(&out.Totals, tot)
	return out, nil
}

// unitSum is the units of the blocks of one vintage, methodology and
// status, and how many of them open sales reserve.
type unitSum struct {
	vintage         int
	methodology     string
	status          string
	units, reserved int64
}

// sumUnits adds up the blocks where selects by vintage, methodology and
// status, in that order. A reservation counts until the journal resolves
// its pending transaction: one Resolutions call for the whole set.
func sumUnits(j ledger.Journal, where string, args ...any) ([]unitSum, error) {
	rows, err := j.Tx().Query(j.Ctx(), `
		SELECT vintage, methodology, status, reserved_tx, sum(last_unit - first_unit + 1)::BIGINT FROM registry_blocks
		WHERE `+where+` GROUP BY vintage, methodology, status, reserved_tx ORDER BY vintage, methodology, status`, args...)
	if err != nil {
		return nil, err
	}
	type part struct {
		unitSum
		tx *uuid.UUID
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (p part, err error) {
		return p, r.Scan(&p.vintage, &p.methodology, &p.status, &p.tx, &p.units)
	})
	if err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	for _, p := range parts {
		if p.tx != nil {
			ids = append(ids, *p.tx)
		}
	}
	done, err := j.Resolutions(ids)
	var out []unitSum
	for _, p := range parts {
		if n := len(out); n == 0 || out[n-1].vintage != p.vintage || out[n-1].methodology != p.methodology || out[n-1].status != p.status {
			out = append(out, unitSum{vintage: p.vintage, methodology: p.methodology, status: p.status})
		}
		cur := &out[len(out)-1]
		cur.units += p.units
		if p.tx != nil {
			if _, resolved := done[*p.tx]; !resolved {
				cur.reserved += p.units
			}
		}
	}
	return out, err
}

func fill(r *StatsRow, v [6]int64) {
	r.Issued, r.Held, r.Reserved, r.Retired, r.Cancelled, r.Surrendered =
		FormatUnits(v[0]), FormatUnits(v[1]), FormatUnits(v[2]), FormatUnits(v[3]), FormatUnits(v[4]), FormatUnits(v[5])
}
