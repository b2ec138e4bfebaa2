package quota

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// MoveProjectInput moves a project to another city (要素跟着项目走).
type MoveProjectInput struct {
	ToCity string `json:"to_city"`
	Reason string `json:"reason"`
}

// ProjectMove is a completed move.
type ProjectMove struct {
	ID          uuid.UUID        `json:"id"`
	Project     string           `json:"project"`
	FromCity    string           `json:"from_city"`
	ToCity      string           `json:"to_city"`
	Settlements []MoveSettlement `json:"settlements"`
}

// MoveSettlement is one kind's repayment, by the reserve of the city the
// project moved to, of what the reserve of the city it left contributed to
// the project's live allocations: a reserve transfer, so its tranches keep
// their lineage.
type MoveSettlement struct {
	IndexKind   string    `json:"index_kind"`
	Payer       string    `json:"payer"` // the reserve of the project's new city
	Payee       string    `json:"payee"` // the reserve of the city it left
	Tonnes      string    `json:"tonnes"`
	TransferID  uuid.UUID `json:"transfer_id"`
	RuleVersion uuid.UUID `json:"rule_version"`
}

// MoveProject moves a project, with every allocation of every kind it
// holds, to another city. The allocations stay in the project's accounts
// and their draws are untouched, so lineage still traces every tonne to
// its source; a project_moved movement per draw records the new city for
// the reports. Where the kind's rule move_settles_reserve in force is 1,
// the new city's reserve repays the old city's what it still has in the
// project's live allocations (settleMove); a short reserve fails the move
// and nothing moves. Province only.
func MoveProject(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key, project string, in MoveProjectInput) (ProjectMove, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ProjectMove{}, false, err
	}
	if !ShandongCity(in.ToCity) {
		return ProjectMove{}, false, ledger.Errf(CodeOutsideShandong, "city %q is not a Shandong prefecture-level city", in.ToCity).At("to_city")
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
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
		var from, sector string
		err := tx.QueryRow(ctx, `SELECT city, sector FROM quota_projects WHERE id = $1 FOR UPDATE`, project).Scan(&from, &sector)
		if errors.Is(err, pgx.ErrNoRows) {
			return ProjectMove{}, ledger.Errf(ledger.CodeNotFound, "project %s not found", project)
		}
		if err != nil {
			return ProjectMove{}, err
		}
		if from == in.ToCity {
			return ProjectMove{}, ledger.Errf(CodeInvalidState, "project %s is already in %s", project, from).At("to_city")
		}
		mv := ProjectMove{ID: ledger.NewID(), Project: project, FromCity: from, ToCity: in.ToCity, Settlements: []MoveSettlement{}}
		for _, q := range []string{
			`UPDATE quota_projects SET city = $2 WHERE id = $1`,
			`UPDATE quota_applications SET city = $2 WHERE project = $1`,
		} {
			if _, err := tx.Exec(ctx, q, project, in.ToCity); err != nil {
				return ProjectMove{}, err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO quota_project_moves (id, project, from_city, to_city, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			mv.ID, project, from, in.ToCity, in.Reason, actor.ID(), w.Now()); err != nil {
			return ProjectMove{}, err
		}
		als, err := liveAllocations(w, project)
		if err != nil {
			return ProjectMove{}, err
		}
		// Reserve locks and postings before any trail head (lock order).
		if mv.Settlements, err = settleMove(w, actor, mv, als, in.Reason); err != nil {
			return ProjectMove{}, err
		}
		return mv, moveAllocations(w, actor, mv, als, sector, in.Reason)
	})
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
// and a quota_move_settlements row per allocation it settles.
func settleMove(w *ledger.Writer, actor ledger.Actor, mv ProjectMove, als []liveAllocation, reason string) ([]MoveSettlement, error) {
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
				if o := als[i].owedTo(payee); o.IsPositive() {
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

// moveAllocations records the move on every live allocation of the project.
func moveAllocations(w *ledger.Writer, actor ledger.Actor, mv ProjectMove, als []liveAllocation, sector, reason string) error {
	for _, a := range als {
		moves := make([]movement, 0, len(a.draws))
		for _, d := range a.draws {
			id := a.id
			moves = append(moves, movement{Flow: flowProjectMoved, Tonnes: d.Tonnes, Reserve: d.Reserve, Source: d.Source, Project: mv.Project,
				ProjectCity: mv.ToCity, Sector: sector, Allocation: &id, OpID: mv.ID})
		}
		if err := writeMovements(w, a.tx, moves); err != nil {
			return err
		}
		detail := map[string]string{"move_id": mv.ID.String(), "from_city": mv.FromCity, "to_city": mv.ToCity, "allocation_id": a.id.String()}
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
