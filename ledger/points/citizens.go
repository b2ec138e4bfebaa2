package points

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// CitizensPerCallMax bounds EnsureCitizens.
const CitizensPerCallMax = 1000

// Citizen is a registered personal carbon account.
type Citizen struct {
	ID               string    `json:"id"`
	PendingAccount   string    `json:"pending_account"`
	AvailableAccount string    `json:"available_account"`
	CreatedAt        time.Time `json:"created_at"`
}

// RegisterCitizen opens a citizen's carbon account (idempotent): the
// citizen themself, or the province for anyone.
func RegisterCitizen(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key, id string) (Citizen, bool, error) {
	if !actor.Is(ledger.RoleProvince) {
		self, err := citizenOf(actor)
		if err != nil {
			return Citizen{}, false, err
		}
		if id == "" {
			id = self
		}
		if id != self {
			return Citizen{}, false, ledger.Errf(ledger.CodeForbidden, "a citizen registers only their own account")
		}
	}
	if !ledger.ValidIdent(id) {
		return Citizen{}, false, ledger.Errf(ledger.CodeInvalidRequest, "citizen id must be an identifier of at most 64 characters").At("id")
	}
	type input struct{ ID string }
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.citizen.register", input{id}, func(w *ledger.Writer) (Citizen, error) {
		if err := ensureCitizens(w, actor, []string{id}); err != nil {
			return Citizen{}, err
		}
		return getCitizen(w.Ctx(), w.Tx(), id)
	})
}

// EnsureCitizens registers up to CitizensPerCallMax citizens in one
// database transaction and, when operators are given, entrusts each of
// them to those operators. For seeding and load tests; idempotent.
func EnsureCitizens(ctx context.Context, l *ledger.Ledger, ids []string, operators ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > CitizensPerCallMax {
		return ledger.Errf(ledger.CodeLimitExceeded, "at most %d citizens per call", CitizensPerCallMax)
	}
	for _, id := range ids {
		if !ledger.ValidIdent(id) {
			return ledger.Errf(ledger.CodeInvalidRequest, "citizen id %q is not an identifier", id)
		}
	}
	return l.Update(ctx, func(w *ledger.Writer) error {
		if err := ensureCitizens(w, ledger.SystemActor, ids); err != nil {
			return err
		}
		return entrustAll(w, ids, operators)
	})
}

// entrustAll entrusts each of the citizens to each operator, leaving
// existing entrustments (active or withdrawn) as they are.
func entrustAll(w *ledger.Writer, ids, operators []string) error {
	for _, op := range operators {
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO points_entrustments (citizen_id, operator_id, active, entrusted_at)
			SELECT c, $2, true, $3 FROM unnest($1::TEXT[]) AS v(c)
			ON CONFLICT (citizen_id, operator_id) DO NOTHING`, ids, op, w.Now()); err != nil {
			return err
		}
	}
	return nil
}

func ensureCitizens(w *ledger.Writer, actor ledger.Actor, ids []string) error {
	if _, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO points_citizens (id, created_by, created_at)
		SELECT c, $2, $3 FROM unnest($1::TEXT[]) AS v(c)
		ON CONFLICT (id) DO NOTHING`, ids, actor.ID(), w.Now()); err != nil {
		return err
	}
	accts := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		accts = append(accts, ledger.CitizenPendingAccount(id), ledger.CitizenAvailableAccount(id))
	}
	return w.OpenAccounts(accts...)
}

func getCitizen(ctx context.Context, q pgx.Tx, id string) (Citizen, error) {
	c := Citizen{ID: id, PendingAccount: ledger.CitizenPendingAccount(id), AvailableAccount: ledger.CitizenAvailableAccount(id)}
	err := q.QueryRow(ctx, `SELECT created_at FROM points_citizens WHERE id = $1`, id).Scan(&c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ledger.Errf(ledger.CodeNotFound, "citizen %s has no carbon account", id)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, err
}

// citizenState is the citizen row, read under its lock.
type citizenState struct {
	lastClaimAt, lastLapseAt *time.Time
}

// lateClaim reports whether points lapsed since the citizen's last claim.
func (s citizenState) lateClaim() bool {
	return s.lastLapseAt != nil && (s.lastClaimAt == nil || s.lastLapseAt.After(*s.lastClaimAt))
}

// lockCitizen takes the citizen's row lock (see the package documentation).
func lockCitizen(w *ledger.Writer, id string) (citizenState, error) {
	var s citizenState
	err := w.Tx().QueryRow(w.Ctx(), `SELECT last_claim_at, last_lapse_at FROM points_citizens WHERE id = $1 FOR UPDATE`, id).Scan(&s.lastClaimAt, &s.lastLapseAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ledger.Errf(ledger.CodeNotFound, "citizen %s has no carbon account", id)
	}
	return s, err
}

// Entrustment is a citizen's consent that an operator reports their
// behaviour and holds the resulting reductions in its pool.
type Entrustment struct {
	Citizen     string     `json:"citizen"`
	Operator    string     `json:"operator"`
	Active      bool       `json:"active"`
	EntrustedAt time.Time  `json:"entrusted_at"`
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
}

// EntrustInput names the operator.
type EntrustInput struct {
	Operator string `json:"operator"`
}

// Entrust records that the citizen entrusts an operator (registering the
// citizen's account on first use). Entrusting again re-activates a
// withdrawn entrustment.
func Entrust(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in EntrustInput) (Entrustment, bool, error) {
	citizen, err := citizenOf(actor)
	if err != nil {
		return Entrustment{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.entrust", in, func(w *ledger.Writer) (Entrustment, error) {
		op, err := getOperator(w.Ctx(), w.Tx(), in.Operator)
		if err != nil {
			return Entrustment{}, err
		}
		if op.Status != "active" {
			return Entrustment{}, ledger.Errf(CodeOperatorInactive, "operator %s is suspended", op.ID)
		}
		if err := ensureCitizens(w, actor, []string{citizen}); err != nil {
			return Entrustment{}, err
		}
		e, err := scanEntrustment(w.Tx().QueryRow(w.Ctx(), `
			INSERT INTO points_entrustments (citizen_id, operator_id, active, entrusted_at) VALUES ($1, $2, true, $3)
			ON CONFLICT (citizen_id, operator_id) DO UPDATE SET active = true, entrusted_at = excluded.entrusted_at, withdrawn_at = NULL
			RETURNING `+entrustmentColumns, citizen, op.ID, w.Now()))
		if err != nil {
			return e, err
		}
		return e, w.Trail("points", "citizen:"+citizen, "entrustment.granted", actor, "", in, nil)
	})
}

// Withdraw ends an entrustment: the operator's later reports for the
// citizen are rejected. What was already credited stays.
func Withdraw(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in EntrustInput) (Entrustment, bool, error) {
	citizen, err := citizenOf(actor)
	if err != nil {
		return Entrustment{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.withdraw", in, func(w *ledger.Writer) (Entrustment, error) {
		e, err := scanEntrustment(w.Tx().QueryRow(w.Ctx(), `
			UPDATE points_entrustments SET active = false, withdrawn_at = $3
			WHERE citizen_id = $1 AND operator_id = $2 AND active
			RETURNING `+entrustmentColumns, citizen, in.Operator, w.Now()))
		if errors.Is(err, pgx.ErrNoRows) {
			return e, ledger.Errf(ledger.CodeNotFound, "no active entrustment of operator %q", in.Operator).At("operator")
		}
		if err != nil {
			return e, err
		}
		return e, w.Trail("points", "citizen:"+citizen, "entrustment.withdrawn", actor, "", in, nil)
	})
}

// ListEntrustments returns a citizen's entrustments (active and withdrawn).
func ListEntrustments(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, citizen string) ([]Entrustment, error) {
	if err := canReadCitizen(actor, citizen); err != nil {
		return nil, err
	}
	return readAll(ctx, l, scanEntrustment, `SELECT `+entrustmentColumns+` FROM points_entrustments WHERE citizen_id = $1 ORDER BY operator_id`, citizen)
}

const entrustmentColumns = `citizen_id, operator_id, active, entrusted_at, withdrawn_at`

func scanEntrustment(r pgx.Row) (Entrustment, error) {
	var e Entrustment
	err := r.Scan(&e.Citizen, &e.Operator, &e.Active, &e.EntrustedAt, &e.WithdrawnAt)
	e.EntrustedAt, e.WithdrawnAt = e.EntrustedAt.UTC(), utcPtr(e.WithdrawnAt)
	return e, err
}
