package quota

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// MoveProjectInput moves a project to another city (要素跟着项目走).
type MoveProjectInput struct {
	ToCity string `json:"to_city"`
	Reason string `json:"reason"`
}

// ProjectMove is a completed move.
type ProjectMove struct {
	ID       uuid.UUID `json:"id"`
	Project  string    `json:"project"`
	FromCity string    `json:"from_city"`
	ToCity   string    `json:"to_city"`
}

// MoveProject moves a project, with every allocation of every kind it
// holds, to another city. The allocations stay in the project's accounts
// and their draws are untouched, so lineage still traces every tonne to
// its source; a project_moved movement per draw records the new city for
// the reports. Province only.
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
	type input struct {
		Project string
		In      MoveProjectInput
	}
	return ledger.Run(ctx, l, ledger.Key{Scope: actor.ID(), Key: key}, "quota.project.move", input{project, in}, func(w *ledger.Writer) (ProjectMove, error) {
		ctx, tx := w.Ctx(), w.Tx()
		var from, sector string
		err := tx.QueryRow(ctx, `SELECT city, sector FROM quota_projects WHERE id = $1 FOR UPDATE`, project).Scan(&from, &sector)
		if err == pgx.ErrNoRows {
			return ProjectMove{}, ledger.Errf(ledger.CodeNotFound, "project %s not found", project)
		}
		if err != nil {
			return ProjectMove{}, err
		}
		if from == in.ToCity {
			return ProjectMove{}, ledger.Errf(CodeInvalidState, "project %s is already in %s", project, from).At("to_city")
		}
		mv := ProjectMove{ID: ledger.NewID(), Project: project, FromCity: from, ToCity: in.ToCity}
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
		return mv, moveAllocations(w, actor, mv, sector, in.Reason)
	})
}

// moveAllocations records the move on every live allocation of the project.
func moveAllocations(w *ledger.Writer, actor ledger.Actor, mv ProjectMove, sector, reason string) error {
	rows, err := w.Tx().Query(w.Ctx(), `SELECT id, application_id, tx_id FROM quota_allocations WHERE project = $1 AND status = 'allocated' ORDER BY id`, mv.Project)
	if err != nil {
		return err
	}
	type al struct{ id, app, tx uuid.UUID }
	als, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (al, error) {
		var a al
		return a, r.Scan(&a.id, &a.app, &a.tx)
	})
	if err != nil {
		return err
	}
	for _, a := range als {
		draws, err := drawRows(w, a.id)
		if err != nil {
			return err
		}
		moves := make([]movement, 0, len(draws))
		for _, d := range draws {
			id := a.id
			moves = append(moves, movement{Flow: "project_moved", Tonnes: d.Tonnes, Reserve: d.Reserve, Source: d.Source, Project: mv.Project,
				ProjectCity: mv.ToCity, Sector: sector, Allocation: &id, OpID: mv.ID})
		}
		if err := writeMovements(w, a.tx, moves); err != nil {
			return err
		}
		if err := record(w, actor, subjectApplication, a.app, "project.moved", reason, map[string]string{
			"move_id": mv.ID.String(), "from_city": mv.FromCity, "to_city": mv.ToCity, "allocation_id": a.id.String()}, nil); err != nil {
			return err
		}
	}
	return nil
}
