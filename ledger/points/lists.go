package points

import (
	"cmp"
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The points lists (issue 9): an operator's records with each result, and
// the programme's statistics.

// OperatorRecord is a behaviour record as its operator sent it, with the
// result it got. Records refused outright (rejected: not entrusted, out of
// the reporting window, …) are answered in the batch's result and not
// stored, so they are not listed.
type OperatorRecord struct {
	BehaviourID   uuid.UUID  `json:"behaviour_id"`
	Operator      string     `json:"operator"`
	RecordID      string     `json:"record_id"`
	Citizen       string     `json:"citizen"`
	Kind          string     `json:"kind"`
	Unit          string     `json:"unit"`
	Quantity      string     `json:"quantity"`
	OccurredAt    time.Time  `json:"occurred_at"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	Day           string     `json:"day"` // CST
	Methodology   string     `json:"methodology"`
	Status        string     `json:"status"`           // credited, cap_reached, duplicate
	Reason        string     `json:"reason,omitempty"` // the cap that limited a credit
	ComputedGrams int64      `json:"computed_grams,string"`
	Grams         int64      `json:"grams,string"`
	TransactionID *uuid.UUID `json:"transaction_id,omitempty"`
	ClaimState    string     `json:"claim_state,omitempty"` // pending, claimed, lapsed, reversed
	ClaimDeadline *time.Time `json:"claim_deadline,omitempty"`
	DuplicateOf   *uuid.UUID `json:"duplicate_of,omitempty"`
	ClawedBack    bool       `json:"clawed_back"`
	ReceivedAt    time.Time  `json:"received_at"`
}

// StoredRecordStatuses are the results a stored record may have (a
// rejected record is not stored).
var StoredRecordStatuses = []string{StatusCredited, StatusCapReached, StatusDuplicate}

// RecordFilter narrows GET /v1/behaviours.
type RecordFilter struct {
	Operator     string // province and auditors; an operator always lists its own
	RecordID     string // the operator's own record id
	Citizen      string
	Kind         string
	Status       string
	Since, Until *time.Time // occurred_at in [Since, Until)
	Limit        int
	Cursor       string
}

// ListRecords pages behaviour records with their results, newest first:
// an operator its own (by its record id, or a time range), the province
// and auditors any operator's.
func ListRecords(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, f RecordFilter) (ledger.Page[OperatorRecord], error) {
	if !actor.SeesAll() {
		op, err := operatorOf(actor)
		if err != nil {
			return ledger.Page[OperatorRecord]{}, err
		}
		if f.Operator != "" && f.Operator != op {
			return ledger.Page[OperatorRecord]{Items: []OperatorRecord{}}, nil
		}
		f.Operator = op
	}
	if err := cmp.Or(ledger.FilterIdent("operator", f.Operator), textFilter("record_id", f.RecordID), textFilter("citizen", f.Citizen),
		ledger.FilterIdent("kind", f.Kind), ledger.FilterOneOf("status", f.Status, StoredRecordStatuses...), ledger.FilterRange(f.Since, f.Until)); err != nil {
		return ledger.Page[OperatorRecord]{}, err
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(o OperatorRecord) uuid.UUID { return o.BehaviourID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]OperatorRecord, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT id, operator_id, operator_record_id, citizen_id, kind, unit, quantity, occurred_at, ended_at, day, methodology_id, status, cap_reason,
			       computed_grams, grams, tx_id, COALESCE(claim_state, ''), claim_deadline, duplicate_of, reversed_by IS NOT NULL, received_at
			FROM points_behaviours
			WHERE ($1 = '' OR operator_id = $1) AND ($2 = '' OR operator_record_id = $2) AND ($3 = '' OR citizen_id = $3) AND ($4 = '' OR kind = $4)
			  AND ($5 = '' OR status = $5) AND ($6::TIMESTAMPTZ IS NULL OR occurred_at >= $6) AND ($7::TIMESTAMPTZ IS NULL OR occurred_at < $7)
			  AND ($8::UUID IS NULL OR id < $8)
			ORDER BY id DESC LIMIT $9`, f.Operator, f.RecordID, f.Citizen, f.Kind, f.Status, f.Since, f.Until, after, n)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(row pgx.CollectableRow) (OperatorRecord, error) {
				var o OperatorRecord
				var qty decimal.Decimal
				var day time.Time
				err := row.Scan(&o.BehaviourID, &o.Operator, &o.RecordID, &o.Citizen, &o.Kind, &o.Unit, &qty, &o.OccurredAt, &o.EndedAt, &day, &o.Methodology,
					&o.Status, &o.Reason, &o.ComputedGrams, &o.Grams, &o.TransactionID, &o.ClaimState, &o.ClaimDeadline, &o.DuplicateOf, &o.ClawedBack, &o.ReceivedAt)
				o.Quantity, o.Day = qty.String(), day.Format("2006-01-02")
				o.OccurredAt, o.ReceivedAt, o.EndedAt, o.ClaimDeadline = o.OccurredAt.UTC(), o.ReceivedAt.UTC(), utcPtr(o.EndedAt), utcPtr(o.ClaimDeadline)
				return o, err
			})
		})
}

func textFilter(param, v string) error {
	if len(v) > 128 || !ledger.CleanText(v) {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s must be text of at most 128 bytes", param).At(param)
	}
	return nil
}

// Statistics measures, in points (1 point = 1 g).
const (
	MeasureCredited   = "credited"    // reductions credited as pending points
	MeasureClaimed    = "claimed"     // of those, claimed by the citizen
	MeasureLapsed     = "lapsed"      // of those, not claimed in the window
	MeasureClawedBack = "clawed_back" // of those, clawed back by the province
	MeasureExpired    = "expired"     // lot points that expired unspent
	MeasureRedeemed   = "redeemed"    // lot points spent on rewards
	MeasureDonated    = "donated"     // lot points given to a donation pool
)

// Measures lists the statistics' measures, in the order rows show them.
var Measures = []string{MeasureCredited, MeasureClaimed, MeasureLapsed, MeasureClawedBack, MeasureExpired, MeasureRedeemed, MeasureDonated}

// Statistics groupings of time.
const (
	GroupDay   = "day"
	GroupMonth = "month"
)

// StatsGroups are the time groupings.
var StatsGroups = []string{GroupDay, GroupMonth}

// Named limits of the statistics.
const (
	StatsDaysMax = 366    // the widest range, in days
	StatsRowsMax = 20_000 // rows one answer may hold
)

// StatsQuery selects the statistics.
type StatsQuery struct {
	Group       string `json:"group"` // day (default) or month
	From        string `json:"from"`  // first day, YYYY-MM-DD (CST), inclusive
	To          string `json:"to"`    // last day, inclusive
	Operator    string `json:"operator,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Methodology string `json:"methodology,omitempty"`
}

// StatsRow is one measure of one period and, for the measures of
// credits, one operator, kind and methodology version. Credits are counted
// on the day of the behaviour (CST), and what became of them (claimed,
// lapsed, clawed back) on the same day, so a row says what happened to
// that day's credits. Expired, redeemed and donated points are spent from
// lots, which merge a citizen's credits of many operators: they are counted
// on the day they left the lot, with operator, kind and methodology empty,
// and only the province and auditors see them.
type StatsRow struct {
	Period      string `json:"period"` // YYYY-MM-DD or YYYY-MM
	Operator    string `json:"operator"`
	Kind        string `json:"kind"`
	Methodology string `json:"methodology"`
	Measure     string `json:"measure"`
	Points      int64  `json:"points,string"`
	Records     int64  `json:"records,string"` // behaviour records, or lot movements
}

// Stats answers GET /v1/points/stats.
type Stats struct {
	Query StatsQuery `json:"query"`
	Rows  []StatsRow `json:"rows"`
}

// GetStats computes the programme's statistics: the province and auditors
// all; an operator its own credits (operator is then always its own).
func GetStats(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, q StatsQuery) (Stats, error) {
	lots := true
	if !actor.SeesAll() {
		op, err := operatorOf(actor)
		if err != nil {
			return Stats{}, err
		}
		if q.Operator != "" && q.Operator != op {
			return Stats{}, ledger.Errf(ledger.CodeForbidden, "an operator reads only its own statistics").At("operator")
		}
		q.Operator, lots = op, false
	}
	if q.Group == "" {
		q.Group = GroupDay
	}
	if err := cmp.Or(ledger.FilterOneOf("group", q.Group, StatsGroups...), ledger.FilterIdent("operator", q.Operator), ledger.FilterIdent("kind", q.Kind),
		ledger.FilterIdent("methodology", q.Methodology)); err != nil {
		return Stats{}, err
	}
	from, to, err := statsRange(q, l.Now())
	if err != nil {
		return Stats{}, err
	}
	q.From, q.To = from.Format("2006-01-02"), to.Format("2006-01-02")
	if q.Kind != "" || q.Methodology != "" {
		lots = false // lot movements have no kind or methodology
	}
	width := 10
	if q.Group == GroupMonth {
		width = 7
	}
	out := Stats{Query: q, Rows: []StatsRow{}}
	err = l.Read(ctx, func(r *ledger.Reader) error {
		rows, err := r.Tx().Query(ctx, `
			SELECT substr(day::TEXT, 1, $1) AS period, operator_id, kind, methodology_id,
			       COALESCE(sum(grams) FILTER (WHERE status = 'credited'), 0)::BIGINT, count(*) FILTER (WHERE status = 'credited'),
			       COALESCE(sum(grams) FILTER (WHERE claim_state = 'claimed'), 0)::BIGINT, count(*) FILTER (WHERE claim_state = 'claimed'),
			       COALESCE(sum(grams) FILTER (WHERE claim_state = 'lapsed'), 0)::BIGINT, count(*) FILTER (WHERE claim_state = 'lapsed'),
			       COALESCE(sum(grams) FILTER (WHERE reversed_by IS NOT NULL), 0)::BIGINT, count(*) FILTER (WHERE reversed_by IS NOT NULL)
			FROM points_behaviours
			WHERE day >= $2::DATE AND day <= $3::DATE AND ($4 = '' OR operator_id = $4) AND ($5 = '' OR kind = $5) AND ($6 = '' OR methodology_id = $6)
			GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 LIMIT $7`, width, q.From, q.To, q.Operator, q.Kind, q.Methodology, StatsRowsMax+1)
		if err != nil {
			return err
		}
		var row StatsRow
		var v [8]int64
		if _, err := pgx.ForEachRow(rows, []any{&row.Period, &row.Operator, &row.Kind, &row.Methodology, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]}, func() error {
			for i, m := range []string{MeasureCredited, MeasureClaimed, MeasureLapsed, MeasureClawedBack} {
				if v[2*i] == 0 && v[2*i+1] == 0 {
					continue
				}
				x := row
				x.Measure, x.Points, x.Records = m, v[2*i], v[2*i+1]
				out.Rows = append(out.Rows, x)
			}
			return nil
		}); err != nil {
			return err
		}
		if !lots || q.Operator != "" {
			return nil
		}
		// Lot movements, on their CST day: created_at + 8 h as a date.
		rows, err = r.Tx().Query(ctx, `
			SELECT substr(((created_at AT TIME ZONE 'UTC') + INTERVAL '8 hours')::DATE::TEXT, 1, $1) AS period, reason, COALESCE(sum(points), 0)::BIGINT, count(*)
			FROM points_lot_moves
			WHERE reason IN ('expired', 'redeemed', 'donated') AND created_at >= $2 AND created_at < $3
			GROUP BY 1, 2 ORDER BY 1, 2 LIMIT $4`, width, from.Add(-8*time.Hour), to.Add(16*time.Hour), StatsRowsMax+1)
		if err != nil {
			return err
		}
		var lot StatsRow
		_, err = pgx.ForEachRow(rows, []any{&lot.Period, &lot.Measure, &lot.Points, &lot.Records}, func() error {
			out.Rows = append(out.Rows, lot)
			return nil
		})
		return err
	})
	if err != nil {
		return Stats{}, err
	}
	if len(out.Rows) > StatsRowsMax {
		return Stats{}, ledger.Errf(ledger.CodeLimitExceeded, "more than %d rows; narrow the range or filter by operator, kind or methodology", StatsRowsMax)
	}
	return out, nil
}

// statsRange reads from and to (CST days, inclusive); the default is the
// last 30 days up to today.
func statsRange(q StatsQuery, now time.Time) (time.Time, time.Time, error) {
	parse := func(s, field string, def time.Time) (time.Time, error) {
		if s == "" {
			return def, nil
		}
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return d, ledger.Errf(ledger.CodeInvalidRequest, "%s must be a day, YYYY-MM-DD", field).At(field)
		}
		return d, nil
	}
	today, _ := time.Parse("2006-01-02", Day(now))
	to, err := parse(q.To, "to", today)
	if err != nil {
		return to, to, err
	}
	from, err := parse(q.From, "from", to.AddDate(0, 0, -29))
	if err != nil {
		return from, to, err
	}
	if to.Before(from) {
		return from, to, ledger.Errf(ledger.CodeInvalidRequest, "to must not be before from").At("to")
	}
	if to.Sub(from) > StatsDaysMax*24*time.Hour {
		return from, to, ledger.Errf(ledger.CodeInvalidRequest, "a range covers at most %d days", StatsDaysMax).At("from")
	}
	return from, to, nil
}

// WriteStatsCSV writes the statistics as CSV, one row per measure.
func WriteStatsCSV(w io.Writer, s Stats) error {
	c := csv.NewWriter(w)
	if err := c.Write([]string{"period", "operator", "kind", "methodology", "measure", "points", "records"}); err != nil {
		return err
	}
	for _, r := range s.Rows {
		if err := c.Write([]string{r.Period, r.Operator, r.Kind, r.Methodology, r.Measure, strconv.FormatInt(r.Points, 10), strconv.FormatInt(r.Records, 10)}); err != nil {
			return err
		}
	}
	c.Flush()
	return c.Error()
}
