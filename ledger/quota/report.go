package quota

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Reports are read by the province, cities and auditors; enterprises see
// their own applications instead.
var reportRoles = []string{ledger.RoleProvince, ledger.RoleCity, ledger.RoleAuditor}

// readerRoles read sources and applications, each in its own scope.
var readerRoles = []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity, ledger.RoleEnterprise}

// ReserveRow is one reserve's position: what is in it now, what it has
// allocated to projects that are not commissioned yet, what its
// allocations consumed, and the flows that built it up.
type ReserveRow struct {
	Reserve        string `json:"reserve"` // "province", a city code, or "total"
	Name           string `json:"name"`
	Account        string `json:"account,omitempty"`
	InReserve      string `json:"in_reserve"`
	Allocated      string `json:"allocated"`
	Consumed       string `json:"consumed"`
	Stockpiled     string `json:"stockpiled"`
	TransferredIn  string `json:"transferred_in"`
	TransferredOut string `json:"transferred_out"`
	Recovered      string `json:"recovered"`
	CorrectedUp    string `json:"corrected_up"`
	CorrectedDown  string `json:"corrected_down"`
}

// ReservesReport lists the province and every city, then the total, for
// one index kind.
type ReservesReport struct {
	IndexKind string       `json:"index_kind"`
	AsOf      time.Time    `json:"as_of"`
	Rows      []ReserveRow `json:"rows"`
	Total     ReserveRow   `json:"total"`
}

type reserveSums struct {
	inReserve, allocated, consumed decimal.Decimal
	flows                          map[string]decimal.Decimal
}

func (s *reserveSums) row(reserve, name, account string) ReserveRow {
	f := func(k string) string { return tonnesText(s.flows[k]) }
	return ReserveRow{Reserve: reserve, Name: name, Account: account, InReserve: tonnesText(s.inReserve), Allocated: tonnesText(s.allocated),
		Consumed: tonnesText(s.consumed), Stockpiled: f(flowStockpiled), TransferredIn: f(flowTransferredIn), TransferredOut: f(flowTransferredOut),
		Recovered: f(flowRecovered), CorrectedUp: f(flowCorrectedUp), CorrectedDown: f(flowCorrectedDown)}
}

// Reserves reports every CEI reserve (the route of before kinds).
func Reserves(ctx context.Context, l *ledger.Ledger, actor ledger.Actor) (ReservesReport, error) {
	return ReservesOf(ctx, l, actor, KindCEI)
}

// ReservesOf reports every reserve of one index kind ("" is CEI) from one
// consistent snapshot.
func ReservesOf(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, indexKind string) (ReservesReport, error) {
	if err := actor.Require(reportRoles...); err != nil {
		return ReservesReport{}, err
	}
	kind, err := checkKind(l, indexKind, "index_kind")
	if err != nil {
		return ReservesReport{}, err
	}
	names := ReserveNames()
	keys := kindReserveKeys(kind)
	if actor.Is(ledger.RoleCity) {
		// A city reads its own reserve only: the total is its own too.
		names, keys = ownReserve(names, keys, actor.City)
	}
	sums, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) (reserveSumsMap, error) { return readReserveSums(r, keys) })
	if err != nil {
		return ReservesReport{}, err
	}
	rep := ReservesReport{IndexKind: kind, AsOf: l.Now(), Rows: []ReserveRow{}}
	total := &reserveSums{flows: map[string]decimal.Decimal{}}
	for i, n := range names {
		s := sums.get(keys[i])
		name := "Shandong Province"
		if n != ReserveProvince {
			name = CityName(n)
		}
		rep.Rows = append(rep.Rows, s.row(n, name, KindReserveAccount(kind, n)))
		total.inReserve, total.allocated, total.consumed = total.inReserve.Add(s.inReserve), total.allocated.Add(s.allocated), total.consumed.Add(s.consumed)
		for k, v := range s.flows {
			total.flows[k] = total.flows[k].Add(v)
		}
	}
	rep.Total = total.row("total", "all reserves", "")
	return rep, nil
}

// ownReserve keeps, of the reserve names and their keys, the city's own.
func ownReserve(names, keys []string, city string) ([]string, []string) {
	for i, n := range names {
		if n == city {
			return names[i : i+1], keys[i : i+1]
		}
	}
	return nil, nil
}

// cityScope narrows a report's city filter to a city actor's own city:
// cities read the rows of their own city (its reserve, its sources, its
// projects); province and auditors read every row.
func cityScope(actor ledger.Actor, city string) (string, error) {
	if !actor.Is(ledger.RoleCity) {
		return city, nil
	}
	if city != "" && city != actor.City {
		return "", ledger.Errf(ledger.CodeForbidden, "city %s reads the rows of its own city only, not %s", actor.City, city).At("city")
	}
	return actor.City, nil
}

type reserveSumsMap map[string]*reserveSums

func (m reserveSumsMap) get(r string) *reserveSums {
	s, ok := m[r]
	if !ok {
		s = &reserveSums{flows: map[string]decimal.Decimal{}}
		m[r] = s
	}
	return s
}

// readReserveSums sums tranches, draws and movements of the reserves keyed
// keys (one kind's).
func readReserveSums(r *ledger.Reader, keys []string) (reserveSumsMap, error) {
	sums := reserveSumsMap{}
	query := func(sql string, apply func(s *reserveSums, key string, v decimal.Decimal)) error {
		rows, err := r.Tx().Query(r.Ctx(), sql, keys)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var reserve, key string
			var v decimal.Decimal
			if err := rows.Scan(&reserve, &key, &v); err != nil {
				return err
			}
			apply(sums.get(reserve), key, v)
		}
		return rows.Err()
	}
	if err := query(`SELECT reserve, '', COALESCE(sum(remaining), 0) FROM quota_tranches WHERE reserve = ANY($1) GROUP BY reserve`,
		func(s *reserveSums, _ string, v decimal.Decimal) { s.inReserve = v }); err != nil {
		return nil, err
	}
	if err := query(`SELECT d.reserve, a.status, sum(d.tonnes) FROM quota_draws d JOIN quota_allocations a ON a.id = d.allocation_id
		WHERE d.reserve = ANY($1) GROUP BY d.reserve, a.status`,
		func(s *reserveSums, status string, v decimal.Decimal) {
			switch status {
			case AllocationAllocated:
				s.allocated = v
			case AllocationConsumed:
				s.consumed = v
			}
		}); err != nil {
		return nil, err
	}
	return sums, query(`SELECT reserve, flow, sum(tonnes) FROM quota_movements WHERE reserve = ANY($1) GROUP BY reserve, flow`,
		func(s *reserveSums, flow string, v decimal.Decimal) { s.flows[flow] = v })
}

// ReportQuery selects flows. From and To are China calendar dates
// (inclusive); Period groups them by day, month (default), quarter or year.
// City matches the reserve, the source's city or the project's city.
type ReportQuery struct {
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Period string `json:"period,omitempty"`
	City   string `json:"city,omitempty"`
	Route  string `json:"route,omitempty"`
	Sector string `json:"sector,omitempty"`
	Flow   string `json:"flow,omitempty"`
	// IndexKind selects the kind; "" is CEI (the route of before kinds,
	// whose echoed query therefore has no index_kind).
	IndexKind string `json:"index_kind,omitempty"`
}

// FlowRow is the total of one flow in one period for one combination of
// reserve, source city, route, project city and sector.
type FlowRow struct {
	Period      string `json:"period"`
	Flow        string `json:"flow"`
	Reserve     string `json:"reserve"`
	SourceCity  string `json:"source_city"`
	Route       string `json:"route"`
	ProjectCity string `json:"project_city"`
	Sector      string `json:"sector"`
	Tonnes      string `json:"tonnes"`
	AmountCNY   string `json:"amount_cny"`
	Movements   int64  `json:"movements"`
}

// FlowReport is the answer to a ReportQuery.
type FlowReport struct {
	Query ReportQuery `json:"query"`
	Rows  []FlowRow   `json:"rows"`
}

var periods = []string{"day", "month", "quarter", "year"}

var flows = []string{flowRecognised, flowStockpiled, flowAllocated, flowConsumed, flowRecovered, flowTransferredOut, flowTransferredIn, flowCorrectedUp, flowCorrectedDown,
	flowProjectMoved}

// window parses the query's dates into [from, to) instants in China time.
func (q *ReportQuery) window() (time.Time, time.Time, error) {
	from, to := time.Date(2000, 1, 1, 0, 0, 0, 0, chinaTime), time.Date(9999, 1, 1, 0, 0, 0, 0, chinaTime)
	if q.From != "" {
		d, err := parseDate(q.From, "from")
		if err != nil {
			return from, to, err
		}
		from = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, chinaTime)
	}
	if q.To != "" {
		d, err := parseDate(q.To, "to")
		if err != nil {
			return from, to, err
		}
		to = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, chinaTime)
	}
	if !to.After(from) {
		return from, to, ledger.Errf(ledger.CodeInvalidRequest, "to is before from").At("to")
	}
	return from, to, nil
}

func (q *ReportQuery) validate() error {
	if q.Period == "" {
		q.Period = "month"
	}
	if !slices.Contains(periods, q.Period) {
		return ledger.Errf(ledger.CodeInvalidRequest, "period must be day, month, quarter or year").At("period")
	}
	if q.City != "" && !ValidReserve(q.City) {
		return ledger.Errf(ledger.CodeInvalidRequest, "city must be a Shandong city code or %q", ReserveProvince).At("city")
	}
	if q.Route != "" && !ValidRoute(q.Route) {
		return ledger.Errf(ledger.CodeInvalidRequest, "route must be one of %v", routes).At("route")
	}
	if q.Sector != "" {
		if err := checkIdent(q.Sector, "sector"); err != nil {
			return err
		}
	}
	if q.Flow != "" && !slices.Contains(flows, q.Flow) {
		return ledger.Errf(ledger.CodeInvalidRequest, "flow must be one of %v", flows).At("flow")
	}
	return nil
}

func periodLabel(period string, t time.Time) string {
	switch period {
	case "day":
		return t.Format("2006-01-02")
	case "quarter":
		return fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())-1)/3+1)
	case "year":
		return strconv.Itoa(t.Year())
	}
	return t.Format("2006-01")
}

// Report totals the flows of one index kind (q.IndexKind, "" is CEI) by
// period, reserve, source city, route, project city and sector. Every row
// is made of movements that name their source, so any allocation row can
// be traced to its sources with Lineage.
func Report(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, q ReportQuery) (FlowReport, error) {
	if err := actor.Require(reportRoles...); err != nil {
		return FlowReport{}, err
	}
	if err := q.validate(); err != nil {
		return FlowReport{}, err
	}
	var err error
	if q.City, err = cityScope(actor, q.City); err != nil {
		return FlowReport{}, err
	}
	kind, err := checkKind(l, q.IndexKind, "index_kind")
	if err != nil {
		return FlowReport{}, err
	}
	from, to, err := q.window()
	if err != nil {
		return FlowReport{}, err
	}
	items, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]FlowRow, error) {
		// date_trunc in China time; the period names are a fixed list.
		// Reserves are stored by key ("NOX:3703"), cities by code.
		rows, err := r.Tx().Query(ctx, `
			SELECT date_trunc($1, at AT TIME ZONE 'Asia/Shanghai') AS p, flow, reserve, source_city, route, project_city, sector,
			       sum(tonnes), sum(amount_cny), count(*)
			FROM quota_movements
			WHERE at >= $2 AND at < $3 AND index_kind = $9
			  AND ($4 = '' OR reserve = $10 OR source_city = $4 OR project_city = $4)
			  AND ($5 = '' OR route = $5) AND ($6 = '' OR sector = $6) AND ($7 = '' OR flow = $7)
			GROUP BY p, flow, reserve, source_city, route, project_city, sector
			ORDER BY p, flow, reserve, source_city, route, project_city, sector
			LIMIT $8`, q.Period, from, to, q.City, q.Route, q.Sector, q.Flow, ReportRowsMax+1, kind, reserveKey(kind, q.City))
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FlowRow, error) {
			var f FlowRow
			var p time.Time
			var t, cny decimal.Decimal
			err := r.Scan(&p, &f.Flow, &f.Reserve, &f.SourceCity, &f.Route, &f.ProjectCity, &f.Sector, &t, &cny, &f.Movements)
			f.Period, f.Tonnes, f.AmountCNY, f.Reserve = periodLabel(q.Period, p), tonnesText(t), yuanText(cny), keyName(f.Reserve)
			return f, err
		})
	})
	if err != nil {
		return FlowReport{}, err
	}
	if len(items) > ReportRowsMax {
		return FlowReport{}, ledger.Errf(ledger.CodeLimitExceeded, "the report has more than %d rows; narrow the dates or filters", ReportRowsMax)
	}
	if items == nil {
		items = []FlowRow{}
	}
	return FlowReport{Query: q, Rows: items}, nil
}

// LineageQuery selects allocations to trace: one allocation, or those made
// in a date range, filtered like ReportQuery.
type LineageQuery struct {
	AllocationID *uuid.UUID `json:"allocation_id,omitempty"`
	From         string     `json:"from,omitempty"`
	To           string     `json:"to,omitempty"`
	City         string     `json:"city,omitempty"`
	Route        string     `json:"route,omitempty"`
	Sector       string     `json:"sector,omitempty"`
	IndexKind    string     `json:"index_kind,omitempty"` // "" is CEI
}

// LineageRow is one tranche piece of an allocation, traced through the
// tranches it passed (Path, oldest first: "stockpiling:<id>",
// "transfer:<id>", "recovery:<id>", "correction:<id>") to its source.
type LineageRow struct {
	AllocationID     uuid.UUID `json:"allocation_id"`
	ApplicationID    uuid.UUID `json:"application_id"`
	Project          string    `json:"project"`
	ProjectCity      string    `json:"project_city"`
	Sector           string    `json:"sector"`
	AllocationStatus string    `json:"allocation_status"`
	AllocatedAt      time.Time `json:"allocated_at"`
	Reserve          string    `json:"reserve"`
	TrancheID        uuid.UUID `json:"tranche_id"`
	Path             string    `json:"path"`
	SourceID         uuid.UUID `json:"source_id"`
	SourceEnterprise string    `json:"source_enterprise"`
	SourceCity       string    `json:"source_city"`
	Route            string    `json:"route"`
	FormedOn         string    `json:"formed_on"`
	EvidenceRef      string    `json:"evidence_ref"`
	Tonnes           string    `json:"tonnes"`
}

// lineagePathDepthMax bounds the walk up a tranche's parents.
const lineagePathDepthMax = 100

// Lineage traces allocations of one index kind back to their sources.
func Lineage(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, q LineageQuery) ([]LineageRow, error) {
	if err := actor.Require(reportRoles...); err != nil {
		return nil, err
	}
	rq := ReportQuery{From: q.From, To: q.To, City: q.City, Route: q.Route, Sector: q.Sector}
	if err := rq.validate(); err != nil {
		return nil, err
	}
	var err error
	if rq.City, err = cityScope(actor, rq.City); err != nil {
		return nil, err
	}
	kind, err := checkKind(l, q.IndexKind, "index_kind")
	if err != nil {
		return nil, err
	}
	rq.IndexKind = kind
	from, to, err := rq.window()
	if err != nil {
		return nil, err
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]LineageRow, error) { return lineageRows(r, q.AllocationID, rq, from, to) })
}

// lineageRows reads the draws of the allocations selected, with their
// sources and tranche paths.
func lineageRows(r *ledger.Reader, allocation *uuid.UUID, rq ReportQuery, from, to time.Time) ([]LineageRow, error) {
	ctx, tx := r.Ctx(), r.Tx()
	rows, err := tx.Query(ctx, `
		SELECT a.id, a.application_id, a.project, p.city, p.sector, a.status, a.created_at, d.reserve, d.tranche_id,
		       s.id, s.enterprise, s.city, s.route, s.formed_on, s.evidence_ref, d.tonnes
		FROM quota_allocations a
		JOIN quota_projects p ON p.id = a.project
		JOIN quota_draws d ON d.allocation_id = a.id
		JOIN quota_sources s ON s.id = d.source_id
		WHERE ($1::UUID IS NULL OR a.id = $1) AND a.created_at >= $2 AND a.created_at < $3 AND a.index_kind = $8
		  AND ($4 = '' OR d.reserve = $9 OR s.city = $4 OR p.city = $4
		       OR EXISTS (SELECT 1 FROM quota_project_sites ps WHERE ps.project = p.id AND ps.city = $4))
		  AND ($5 = '' OR s.route = $5) AND ($6 = '' OR p.sector = $6)
		ORDER BY a.created_at, a.id, d.idx LIMIT $7`, allocation, from, to, rq.City, rq.Route, rq.Sector, ReportRowsMax+1, rq.IndexKind, reserveKey(rq.IndexKind, rq.City))
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LineageRow, error) {
		var x LineageRow
		var formed time.Time
		var t decimal.Decimal
		err := r.Scan(&x.AllocationID, &x.ApplicationID, &x.Project, &x.ProjectCity, &x.Sector, &x.AllocationStatus, &x.AllocatedAt, &x.Reserve, &x.TrancheID,
			&x.SourceID, &x.SourceEnterprise, &x.SourceCity, &x.Route, &formed, &x.EvidenceRef, &t)
		x.FormedOn, x.Tonnes, x.AllocatedAt, x.Reserve = formed.Format(dateLayout), tonnesText(t), x.AllocatedAt.UTC(), keyName(x.Reserve)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	if len(out) > ReportRowsMax {
		return nil, ledger.Errf(ledger.CodeLimitExceeded, "the lineage has more than %d rows; narrow the dates or filters", ReportRowsMax)
	}
	if len(out) == 0 {
		return []LineageRow{}, nil
	}
	ids := make([]uuid.UUID, 0, len(out))
	for _, x := range out {
		ids = append(ids, x.TrancheID)
	}
	paths, err := tranchePaths(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Path = paths[out[i].TrancheID]
	}
	return out, nil
}

// tranchePaths walks each tranche's parents to its root and renders the
// origins, root first.
func tranchePaths(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	rows, err := tx.Query(ctx, `
		WITH RECURSIVE chain (start_id, id, parent_id, origin, origin_id, depth) AS (
			SELECT t.id, t.id, t.parent_id, t.origin, t.origin_id, 0 FROM quota_tranches t WHERE t.id = ANY($1)
			UNION ALL
			SELECT c.start_id, t.id, t.parent_id, t.origin, t.origin_id, c.depth + 1
			FROM chain c JOIN quota_tranches t ON t.id = c.parent_id WHERE c.depth < $2
		)
		SELECT start_id, origin, origin_id FROM chain ORDER BY start_id, depth DESC`, ids, lineagePathDepthMax)
	if err != nil {
		return nil, err
	}
	parts := map[uuid.UUID][]string{}
	for rows.Next() {
		var start, oid uuid.UUID
		var origin string
		if err := rows.Scan(&start, &origin, &oid); err != nil {
			rows.Close()
			return nil, err
		}
		parts[start] = append(parts[start], origin+":"+oid.String())
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]string, len(parts))
	for k, v := range parts {
		out[k] = strings.Join(v, " > ")
	}
	return out, nil
}

// CSV renderings. Free-text cells that a spreadsheet would read as a
// formula are prefixed with an apostrophe.

func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w io.Writer, header []string, n int, row func(i int) []string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		r := row(i)
		for j := range r {
			r[j] = csvCell(r[j])
		}
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteReservesCSV writes the reserves report, total last.
func WriteReservesCSV(w io.Writer, r ReservesReport) error {
	rows := append(slices.Clone(r.Rows), r.Total)
	return writeCSV(w, []string{"reserve", "name", "account", "in_reserve", "allocated", "consumed", "stockpiled", "transferred_in", "transferred_out", "recovered", "corrected_up", "corrected_down"},
		len(rows), func(i int) []string {
			x := rows[i]
			return []string{x.Reserve, x.Name, x.Account, x.InReserve, x.Allocated, x.Consumed, x.Stockpiled, x.TransferredIn, x.TransferredOut, x.Recovered, x.CorrectedUp, x.CorrectedDown}
		})
}

// WriteFlowsCSV writes a flow report.
func WriteFlowsCSV(w io.Writer, r FlowReport) error {
	return writeCSV(w, []string{"period", "flow", "reserve", "source_city", "route", "project_city", "sector", "tonnes", "amount_cny", "movements"},
		len(r.Rows), func(i int) []string {
			x := r.Rows[i]
			return []string{x.Period, x.Flow, x.Reserve, x.SourceCity, x.Route, x.ProjectCity, x.Sector, x.Tonnes, x.AmountCNY, strconv.FormatInt(x.Movements, 10)}
		})
}

// WriteLineageCSV writes lineage rows.
func WriteLineageCSV(w io.Writer, rows []LineageRow) error {
	return writeCSV(w, []string{"allocation_id", "application_id", "project", "project_city", "sector", "allocation_status", "allocated_at", "reserve", "tranche_id", "path",
		"source_id", "source_enterprise", "source_city", "route", "formed_on", "evidence_ref", "tonnes"},
		len(rows), func(i int) []string {
			x := rows[i]
			return []string{x.AllocationID.String(), x.ApplicationID.String(), x.Project, x.ProjectCity, x.Sector, x.AllocationStatus, x.AllocatedAt.Format(time.RFC3339),
				x.Reserve, x.TrancheID.String(), x.Path, x.SourceID.String(), x.SourceEnterprise, x.SourceCity, x.Route, x.FormedOn, x.EvidenceRef, x.Tonnes}
		})
}
