package quota

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// MoveProjectInput moves a project, or part of it, to another city
// (要素跟着项目走).
type MoveProjectInput struct {
	ToCity string `json:"to_city"`
	// FromCity is the site that moves: by default the project's only
	// site; required when the project is sited in more than one city.
	FromCity string `json:"from_city,omitempty"`
	// Share is the part of the whole project that moves, 0.0001 to 1 with
	// at most four decimals; by default all of FromCity's share. Less than
	// FromCity's share leaves the project sited across both cities.
	Share  string `json:"share,omitempty"`
	Reason string `json:"reason"`
}

// ProjectSite is a city's share of a project sited across cities.
type ProjectSite struct {
	City  string `json:"city"`
	Share string `json:"share"`
}

// ProjectMove is a completed move.
type ProjectMove struct {
	ID       uuid.UUID `json:"id"`
	Project  string    `json:"project"`
	FromCity string    `json:"from_city"`
	ToCity   string    `json:"to_city"`
	Share    string    `json:"share"` // of the whole project
	// Sites are the project's sites after the move, largest share first;
	// the first is its primary city (quota_projects.city).
	Sites       []ProjectSite    `json:"sites"`
	Settlements []MoveSettlement `json:"settlements"`
}

// MoveSettlement is one kind's repayment, by the reserve of the city the
// project moved to, of what the reserve of the city it left contributed to
// the moved part of the project's live allocations: a reserve transfer, so
// its tranches keep their lineage.
type MoveSettlement struct {
	IndexKind   string    `json:"index_kind"`
	Payer       string    `json:"payer"` // the reserve of the project's new city
	Payee       string    `json:"payee"` // the reserve of the city it left
	Tonnes      string    `json:"tonnes"`
	TransferID  uuid.UUID `json:"transfer_id"`
	RuleVersion uuid.UUID `json:"rule_version"`
}

// shareScale is the number of decimals of a site's share.
const shareScale = 4

// sharePattern is a share as written: 0.0001 to 1, at most shareScale
// decimals, no sign or exponent.
var sharePattern = regexp.MustCompile(`^(0\.[0-9]{1,4}|1(\.0{1,4})?)$`)

// MoveProject moves a project, or the share of it sited in one city, with
// that part of every allocation of every kind it holds, to another city.
// The allocations stay in the project's accounts and their draws are
// untouched, so lineage still traces every tonne to its source; a
// project_moved movement per draw records the moved part under the new
// city for the reports. Where the kind's rule move_settles_reserve in
// force is 1, the new city's reserve repays the old city's what it still
// has in the moved part of the project's live allocations (settleMove); a
// short reserve fails the move and nothing moves. Province only.
func MoveProject(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key, project string, in MoveProjectInput) (ProjectMove, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ProjectMove{}, false, err
	}
	share, err := in.validate()
	if err != nil {
		return ProjectMove{}, false, err
	}
	if !ledger.ValidIdent(project) {
		return ProjectMove{}, false, ledger.Errf(ledger.CodeNotFound, "project %q not found", project)
	}
	type input struct {
		Project string
		In      MoveProjectInput
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.project.move", input{project, in}, func(w *ledger.Writer) (ProjectMove, error) {
		ctx, tx := w.Ctx(), w.Tx()
		var primary, sector string
		err := tx.QueryRow(ctx, `SELECT city, sector FROM quota_projects WHERE id = $1 FOR UPDATE`, project).Scan(&primary, &sector)
		if errors.Is(err, pgx.ErrNoRows) {
			return ProjectMove{}, ledger.Errf(ledger.CodeNotFound, "project %s not found", project)
		}
		if err != nil {
			return ProjectMove{}, err
		}
		sites, err := projectSites(w, project, primary)
		if err != nil {
			return ProjectMove{}, err
		}
		mv := ProjectMove{ID: ledger.NewID(), Project: project, FromCity: in.FromCity, ToCity: in.ToCity, Settlements: []MoveSettlement{}}
		fromShare, moved, err := resite(sites, &mv, share)
		if err != nil {
			return ProjectMove{}, err
		}
		if err := saveSites(w, project, mv.Sites); err != nil {
			return ProjectMove{}, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO quota_project_moves (id, project, from_city, to_city, share, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			mv.ID, project, mv.FromCity, mv.ToCity, mv.Share, in.Reason, actor.ID(), w.Now()); err != nil {
			return ProjectMove{}, err
		}
		als, err := liveAllocations(w, project)
		if err != nil {
			return ProjectMove{}, err
		}
		// Reserve locks and postings before any trail head (lock order).
		if mv.Settlements, err = settleMove(w, actor, mv, als, moved.Div(fromShare), in.Reason); err != nil {
			return ProjectMove{}, err
		}
		return mv, moveAllocations(w, actor, mv, als, moved, sector, in.Reason)
	})
}

// validate checks the input and returns the share asked for (zero: all
// of the from city's).
func (in MoveProjectInput) validate() (decimal.Decimal, error) {
	if !ShandongCity(in.ToCity) {
		return decimal.Zero, ledger.Errf(CodeOutsideShandong, "city %q is not a Shandong prefecture-level city", in.ToCity).At("to_city")
	}
	if in.FromCity != "" && !ShandongCity(in.FromCity) {
		return decimal.Zero, ledger.Errf(CodeOutsideShandong, "city %q is not a Shandong prefecture-level city", in.FromCity).At("from_city")
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return decimal.Zero, err
	}
	if in.Share == "" {
		return decimal.Zero, nil
	}
	share, err := decimal.NewFromString(in.Share)
	if err != nil || !sharePattern.MatchString(in.Share) || !share.IsPositive() {
		return decimal.Zero, ledger.Errf(ledger.CodeInvalidRequest, "share must be a decimal above 0 and at most 1, with at most %d decimals", shareScale).At("share")
	}
	return share, nil
}

// projectSites reads a project's share by city; a project never moved in
// part is sited wholly in its primary city.
func projectSites(w *ledger.Writer, project, primary string) (map[string]decimal.Decimal, error) {
	rows, err := w.Tx().Query(w.Ctx(), `SELECT city, share FROM quota_project_sites WHERE project = $1`, project)
	if err != nil {
		return nil, err
	}
	shares := map[string]decimal.Decimal{}
	var city string
	var share decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&city, &share}, func() error {
		shares[city] = share
		return nil
	}); err != nil {
		return nil, err
	}
	if len(shares) == 0 {
		shares[primary] = decimal.NewFromInt(1)
	}
	return shares, nil
}

// resite works out the move on the shares by city: it completes mv
// (FromCity, Share, Sites, largest share first) and returns the from
// city's share before the move and the share that moves. share zero moves
// all of the from city's share.
func resite(shares map[string]decimal.Decimal, mv *ProjectMove, share decimal.Decimal) (from, moved decimal.Decimal, err error) {
	if mv.FromCity == "" {
		if len(shares) > 1 {
			return from, moved, ledger.Errf(ledger.CodeInvalidRequest, "project %s is sited in %d cities: name the from_city that moves", mv.Project, len(shares)).At("from_city")
		}
		for city := range shares {
			mv.FromCity = city
		}
	}
	from, ok := shares[mv.FromCity]
	switch {
	case !ok:
		return from, moved, ledger.Errf(CodeInvalidState, "project %s has no site in %s", mv.Project, mv.FromCity).At("from_city")
	case mv.FromCity == mv.ToCity:
		return from, moved, ledger.Errf(CodeInvalidState, "project %s is already in %s", mv.Project, mv.FromCity).At("to_city")
	case share.IsZero():
		share = from
	case share.GreaterThan(from):
		return from, moved, ledger.Errf(CodeInvalidState, "project %s has a share of %s in %s; %s cannot move", mv.Project, from.StringFixed(shareScale), mv.FromCity, share.StringFixed(shareScale)).At("share")
	}
	shares[mv.FromCity] = from.Sub(share)
	shares[mv.ToCity] = shares[mv.ToCity].Add(share)
	cities := make([]string, 0, len(shares))
	for city, s := range shares {
		if s.IsPositive() {
			cities = append(cities, city)
		}
	}
	slices.SortFunc(cities, func(a, b string) int {
		if c := shares[b].Cmp(shares[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	mv.Share, mv.Sites = share.StringFixed(shareScale), make([]ProjectSite, len(cities))
	for i, city := range cities {
		mv.Sites[i] = ProjectSite{City: city, Share: shares[city].StringFixed(shareScale)}
	}
	return from, share, nil
}

// saveSites stores a project's sites and its primary city (the first).
// A project sited wholly in one city has no site rows.
func saveSites(w *ledger.Writer, project string, sites []ProjectSite) error {
	ctx, tx := w.Ctx(), w.Tx()
	if _, err := tx.Exec(ctx, `DELETE FROM quota_project_sites WHERE project = $1`, project); err != nil {
		return err
	}
	if len(sites) > 1 {
		for _, s := range sites {
			if _, err := tx.Exec(ctx, `INSERT INTO quota_project_sites (project, city, share) VALUES ($1, $2, $3)`, project, s.City, s.Share); err != nil {
				return err
			}
		}
	}
	for _, q := range []string{
		`UPDATE quota_projects SET city = $2 WHERE id = $1`,
		`UPDATE quota_applications SET city = $2 WHERE project = $1`,
	} {
		if _, err := tx.Exec(ctx, q, project, sites[0].City); err != nil {
			return err
		}
	}
	return nil
}

// liveAllocation is a project's allocation not yet consumed or recovered,
// with its draws and what earlier moves settled of it.
type liveAllocation struct {
	id, app, tx uuid.UUID
	kind        string
	draws       []piece
	settled     []settledRow
}

type settledRow struct {
	payer, payee string
	tonnes       decimal.Decimal
}

func liveAllocations(w *ledger.Writer, project string) ([]liveAllocation, error) {
	rows, err := w.Tx().Query(w.Ctx(), `SELECT id, application_id, tx_id, index_kind FROM quota_allocations WHERE project = $1 AND status = 'allocated' ORDER BY id`, project)
	if err != nil {
		return nil, err
	}
	als, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (liveAllocation, error) {
		var a liveAllocation
		return a, r.Scan(&a.id, &a.app, &a.tx, &a.kind)
	})
	if err != nil || len(als) == 0 {
		return als, err
	}
	ids := make([]uuid.UUID, len(als))
	for i := range als {
		ids[i] = als[i].id
	}
	draws, err := drawsOf(w.Ctx(), w.Tx(), ids)
	if err != nil {
		return nil, err
	}
	rows, err = w.Tx().Query(w.Ctx(), `SELECT allocation_id, payer, payee, tonnes FROM quota_move_settlements WHERE allocation_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	settled := map[uuid.UUID][]settledRow{}
	var id uuid.UUID
	var s settledRow
	if _, err := pgx.ForEachRow(rows, []any{&id, &s.payer, &s.payee, &s.tonnes}, func() error {
		settled[id] = append(settled[id], s)
		return nil
	}); err != nil {
		return nil, err
	}
	for i := range als {
		als[i].draws, als[i].settled = draws[als[i].id], settled[als[i].id]
	}
	return als, nil
}

// owedTo is what the reserve key still has in the allocation: its draws
// from it, plus what it repaid other reserves in earlier moves, minus what
// earlier moves repaid it.
func (a *liveAllocation) owedTo(reserve string) decimal.Decimal {
	owed := decimal.Zero
	for _, d := range a.draws {
		if d.Reserve == reserve {
			owed = owed.Add(d.Tonnes)
		}
	}
	for _, s := range a.settled {
		if s.payer == reserve {
			owed = owed.Add(s.tonnes)
		}
		if s.payee == reserve {
			owed = owed.Sub(s.tonnes)
		}
	}
	return owed
}

// settleMove repays, per kind whose rule move_settles_reserve in force is
// 1, the old city's reserve from the new city's: one transfer per kind,
// and a quota_move_settlements row per allocation it settles. part is the
// moved fraction of the old city's site (1 when it all moves): of what the
// old city still has in each allocation, that part is repaid, in whole
// tonnes rounded down (a fraction of a tonne stays where it was).
func settleMove(w *ledger.Writer, actor ledger.Actor, mv ProjectMove, als []liveAllocation, part decimal.Decimal, reason string) ([]MoveSettlement, error) {
	out := []MoveSettlement{}
	var kinds []string
	for _, a := range als {
		if !slices.Contains(kinds, a.kind) {
			kinds = append(kinds, a.kind)
		}
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		payee, payer := reserveKey(kind, mv.FromCity), reserveKey(kind, mv.ToCity)
		type share struct {
			allocation uuid.UUID
			tonnes     decimal.Decimal
		}
		var owed []share
		total := decimal.Zero
		for i := range als {
			if als[i].kind == kind {
				if o := partOf(als[i].owedTo(payee), part); o.IsPositive() {
					owed, total = append(owed, share{als[i].id, o}), total.Add(o)
				}
			}
		}
		if !total.IsPositive() {
			continue
		}
		rule, err := configOf(w, kind, ConfigMoveSettles, "")
		if err != nil {
			return nil, err
		}
		if !rule.value.Equal(decimal.NewFromInt(1)) {
			continue
		}
		tr, err := transfer(w, actor, kind, TransferInput{From: mv.ToCity, To: mv.FromCity, Reason: reason}, total,
			map[string]string{"move_id": mv.ID.String(), "project": mv.Project, "settlement_rule_version": rule.ID.String()})
		if err != nil {
			return nil, err
		}
		for _, o := range owed {
			if _, err := w.Tx().Exec(w.Ctx(), `
				INSERT INTO quota_move_settlements (move_id, allocation_id, index_kind, payer, payee, tonnes, transfer_id, rule_version, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, mv.ID, o.allocation, kind, payer, payee, o.tonnes, tr.ID, rule.ID, w.Now()); err != nil {
				return nil, err
			}
		}
		out = append(out, MoveSettlement{IndexKind: kind, Payer: mv.ToCity, Payee: mv.FromCity, Tonnes: tonnesText(total), TransferID: tr.ID, RuleVersion: rule.ID})
	}
	return out, nil
}

// partOf is the part of whole tonnes t, rounded down to a whole tonne.
func partOf(t, part decimal.Decimal) decimal.Decimal {
	if part.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return t
	}
	return t.Mul(part).Floor()
}

// moveAllocations records the move on every live allocation of the
// project: each draw's moved part (share of the whole project, whole
// tonnes rounded down) under the new city.
func moveAllocations(w *ledger.Writer, actor ledger.Actor, mv ProjectMove, als []liveAllocation, share decimal.Decimal, sector, reason string) error {
	for _, a := range als {
		moves := make([]movement, 0, len(a.draws))
		for _, d := range a.draws {
			id := a.id
			if t := partOf(d.Tonnes, share); t.IsPositive() {
				moves = append(moves, movement{Flow: flowProjectMoved, Tonnes: t, Reserve: d.Reserve, Source: d.Source, Project: mv.Project,
					ProjectCity: mv.ToCity, Sector: sector, Allocation: &id, OpID: mv.ID})
			}
		}
		if err := writeMovements(w, a.tx, moves); err != nil {
			return err
		}
		detail := map[string]string{"move_id": mv.ID.String(), "from_city": mv.FromCity, "to_city": mv.ToCity, "share": mv.Share, "allocation_id": a.id.String()}
		for _, s := range mv.Settlements {
			if s.IndexKind == a.kind {
				detail["settlement_transfer_id"], detail["settlement_rule_version"] = s.TransferID.String(), s.RuleVersion.String()
			}
		}
		if err := record(w, actor, subjectApplication, a.app, "project.moved", reason, detail, nil); err != nil {
			return err
		}
	}
	return nil
}

// recoveryTargets are an allocation's draws as they return on recovery:
// each reserve gets back what it still has in the allocation (owedTo).
// Without settled moves that is every draw's own reserve; where a move's
// settlement repaid a reserve, the repaid tonnes go to the reserve that
// paid, so a recovery never returns a tonne twice. Each piece keeps the
// tranche it was drawn from (Tranche), the parent of its new tranche.
func recoveryTargets(w *ledger.Writer, id uuid.UUID) ([]piece, error) {
	draws, err := drawRows(w, id)
	if err != nil {
		return nil, err
	}
	rows, err := w.Tx().Query(w.Ctx(), `SELECT payer, payee, tonnes FROM quota_move_settlements WHERE allocation_id = $1`, id)
	if err != nil {
		return nil, err
	}
	a := liveAllocation{draws: draws}
	var s settledRow
	if _, err := pgx.ForEachRow(rows, []any{&s.payer, &s.payee, &s.tonnes}, func() error {
		a.settled = append(a.settled, s)
		return nil
	}); err != nil || len(a.settled) == 0 {
		return draws, err
	}
	owed := map[string]decimal.Decimal{}
	var reserves []string
	note := func(r string) {
		if _, ok := owed[r]; !ok {
			owed[r], reserves = a.owedTo(r), append(reserves, r)
		}
	}
	for _, d := range draws {
		note(d.Reserve)
	}
	for _, s := range a.settled {
		note(s.payer)
		note(s.payee)
	}
	slices.Sort(reserves)
	// Each draw returns to its own reserve as far as that is owed, the
	// rest to the reserves that paid for it, in key order.
	out := make([]piece, 0, len(draws))
	left := make([]decimal.Decimal, len(draws))
	for i, d := range draws {
		x := decimal.Min(d.Tonnes, owed[d.Reserve])
		if x.IsPositive() {
			out, owed[d.Reserve] = append(out, piece{Reserve: d.Reserve, Tranche: d.Tranche, Source: d.Source, Tonnes: x}), owed[d.Reserve].Sub(x)
		}
		left[i] = d.Tonnes.Sub(x)
	}
	for i, d := range draws {
		for _, r := range reserves {
			if x := decimal.Min(left[i], owed[r]); x.IsPositive() {
				out, owed[r], left[i] = append(out, piece{Reserve: r, Tranche: d.Tranche, Source: d.Source, Tonnes: x}), owed[r].Sub(x), left[i].Sub(x)
			}
		}
	}
	return out, nil
}
