package quota

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Application statuses. The flow is
//
//	submitted → (city review) → city_approved → (provincial decision) → approved
//	                                         ↘ awaiting_government → government_approved → (decision) → approved
//
// and any step before approval may reject (→ rejected).
const (
	StatusSubmitted          = "submitted"
	StatusCityApproved       = "city_approved"
	StatusAwaitingGovernment = "awaiting_government"
	StatusGovernmentApproved = "government_approved"
	StatusApproved           = "approved"
	StatusRejected           = "rejected"
)

// Application is an enterprise's request for indices for a project.
type Application struct {
	ID                 uuid.UUID           `json:"id"`
	IndexKind          string              `json:"index_kind"`
	BundleID           *uuid.UUID          `json:"bundle_id,omitempty"`
	Project            string              `json:"project"`
	Enterprise         string              `json:"enterprise"`
	City               string              `json:"city"`
	Sector             string              `json:"sector"`
	Emissions          string              `json:"emissions"`
	EmissionsBreakdown *EmissionsBreakdown `json:"emissions_breakdown,omitempty"`
	Coefficient        string              `json:"coefficient"`
	CoefficientVersion uuid.UUID           `json:"coefficient_version"`
	Required           string              `json:"required"`
	OwnSources         string              `json:"own_sources"`
	OwnSourcesRef      string              `json:"own_sources_ref,omitempty"`
	Gap                string              `json:"gap"`
	Requested          string              `json:"requested"`
	Status             string              `json:"status"`
	Threshold          string              `json:"threshold,omitempty"`
	ThresholdVersion   *uuid.UUID          `json:"threshold_version,omitempty"`
	Escalated          bool                `json:"escalated"`
	CreatedBy          string              `json:"created_by"`
	CreatedAt          time.Time           `json:"created_at"`
	UpdatedAt          time.Time           `json:"updated_at"`
}

type applicationRow struct {
	Application
	requested decimal.Decimal
}

const applicationColumns = `id, project, enterprise, city, sector, emissions, breakdown, coefficient, coefficient_version, required, own_sources, own_sources_ref,
	gap, requested, status, threshold, threshold_version, escalated, created_by, created_at, updated_at, index_kind, bundle_id`

func scanApplication(r pgx.Row) (applicationRow, error) {
	var a applicationRow
	var emissions, coef, required, own, gap decimal.Decimal
	var threshold *decimal.Decimal
	var breakdown EmissionsBreakdown
	err := r.Scan(&a.ID, &a.Project, &a.Enterprise, &a.City, &a.Sector, &emissions, &breakdown, &coef, &a.CoefficientVersion, &required, &own, &a.OwnSourcesRef,
		&gap, &a.requested, &a.Status, &threshold, &a.ThresholdVersion, &a.Escalated, &a.CreatedBy, &a.CreatedAt, &a.UpdatedAt, &a.IndexKind, &a.BundleID)
	if err != nil {
		return a, err
	}
	a.Emissions, a.Coefficient, a.Required, a.OwnSources = tonnesText(emissions), coef.String(), tonnesText(required), tonnesText(own)
	a.Gap, a.Requested = tonnesText(gap), tonnesText(a.requested)
	if breakdown != (EmissionsBreakdown{}) {
		a.EmissionsBreakdown = &breakdown
	}
	if threshold != nil {
		a.Threshold = tonnesText(*threshold)
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, nil
}

func loadApplication(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock bool) (applicationRow, error) {
	q := `SELECT ` + applicationColumns + ` FROM quota_applications WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	a, err := scanApplication(tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ledger.Errf(ledger.CodeNotFound, "application %s not found", id)
	}
	return a, err
}

// ApplyInput is an enterprise's application for a project.
type ApplyInput struct {
	Project            string              `json:"project"`
	City               string              `json:"city"`
	Sector             string              `json:"sector"`
	Emissions          string              `json:"emissions"` // new annual emissions, whole tonnes
	EmissionsBreakdown *EmissionsBreakdown `json:"emissions_breakdown,omitempty"`
	OwnSources         string              `json:"own_sources"` // own replacement sources, whole tonnes
	OwnSourcesRef      string              `json:"own_sources_ref,omitempty"`
	Requested          string              `json:"requested"` // the gap asked of the reserves
	Reason             string              `json:"reason,omitempty"`
}

// Apply records an application of the actor's enterprise. The sector
// coefficient in force is looked up and recorded; required =
// ceil(emissions × coefficient), gap = required − own sources, and the
// requested tonnes must be positive and not exceed the gap.
func Apply(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in ApplyInput) (ApplicationDetail, bool, error) {
	if err := actor.Require(ledger.RoleEnterprise); err != nil {
		return ApplicationDetail{}, false, err
	}
	emissions, own, requested, err := in.parse()
	if err != nil {
		return ApplicationDetail{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.application.submit", in, func(w *ledger.Writer) (ApplicationDetail, error) {
		coef, err := configAt(w, ConfigCoefficient, in.Sector)
		if err != nil {
			return ApplicationDetail{}, withField(err, "sector")
		}
		g := ComputeGap(emissions, coef.value, own)
		if !g.Gap.IsPositive() {
			return ApplicationDetail{}, ledger.Errf(CodeGapExceeded, "own sources of %s t already cover the %s t required (%s × %s)",
				tonnesText(own), tonnesText(g.Required), tonnesText(emissions), coef.Value).At("own_sources")
		}
		if requested.GreaterThan(g.Gap) {
			return ApplicationDetail{}, &ledger.Error{Code: CodeGapExceeded, Field: "requested",
				Msg:    "requested " + tonnesText(requested) + " t exceeds the gap of " + tonnesText(g.Gap) + " t (" + tonnesText(emissions) + " × " + coef.Value + " − " + tonnesText(own) + ")",
				Detail: map[string]string{"required": tonnesText(g.Required), "gap": tonnesText(g.Gap)}}
		}
		if err := claimProject(w, actor, in.Project, in.City, in.Sector); err != nil {
			return ApplicationDetail{}, err
		}
		breakdown := []byte("{}")
		if in.EmissionsBreakdown != nil {
			if breakdown, err = json.Marshal(in.EmissionsBreakdown); err != nil {
				return ApplicationDetail{}, err
			}
		}
		id := ledger.NewID()
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO quota_applications (id, project, enterprise, city, sector, emissions, breakdown, coefficient, coefficient_version, required, own_sources, own_sources_ref,
				gap, requested, status, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'submitted', $15, $16, $16)`,
			id, in.Project, actor.Org, in.City, in.Sector, emissions, string(breakdown), coef.value, coef.ID, g.Required, own, in.OwnSourcesRef,
			g.Gap, requested, actor.ID(), w.Now()); err != nil {
			return ApplicationDetail{}, err
		}
		if err := record(w, actor, subjectApplication, id, "application.submitted", in.Reason, map[string]string{
			"project": in.Project, "city": in.City, "sector": in.Sector, "emissions": tonnesText(emissions),
			"coefficient": coef.Value, "coefficient_version": coef.ID.String(), "required": tonnesText(g.Required),
			"own_sources": tonnesText(own), "gap": tonnesText(g.Gap), "requested": tonnesText(requested),
		}, nil); err != nil {
			return ApplicationDetail{}, err
		}
		return applicationDetail(w.Journal, id, false)
	})
}

// parse validates an application's fields and returns its emissions, own
// sources and requested tonnes.
func (in *ApplyInput) parse() (emissions, own, requested decimal.Decimal, err error) {
	if err = checkIdent(in.Project, "project"); err != nil {
		return
	}
	if !ShandongCity(in.City) {
		err = ledger.Errf(CodeOutsideShandong, "city %q is not a Shandong prefecture-level city", in.City).At("city")
		return
	}
	if err = checkIdent(in.Sector, "sector"); err != nil {
		return
	}
	if emissions, err = parseTonnes(in.Emissions, "emissions"); err != nil {
		return
	}
	if in.EmissionsBreakdown != nil {
		var total decimal.Decimal
		if total, err = in.EmissionsBreakdown.Total(); err != nil {
			return
		}
		if !total.Equal(emissions) {
			err = ledger.Errf(ledger.CodeInvalidRequest,
				"emissions %s differ from fuel combustion + industrial process + net purchased power and heat − CO2 recovered = %s", tonnesText(emissions), total.String()).At("emissions")
			return
		}
	}
	if own, err = parseTonnesOrZero(in.OwnSources, "own_sources"); err != nil {
		return
	}
	if err = checkText(in.OwnSourcesRef, "own_sources_ref", own.IsPositive(), RefBytesMax); err != nil {
		return
	}
	if requested, err = parseTonnes(in.Requested, "requested"); err != nil {
		return
	}
	err = checkText(in.Reason, "reason", false, ReasonBytesMax)
	return
}

// claimProject registers the project for the actor's enterprise, or
// checks that it is the enterprise's, in the same city and sector, with
// no application in progress. The project belongs to the first
// enterprise that applies for it; its row, locked here, serialises
// applications of one project.
func claimProject(w *ledger.Writer, actor ledger.Actor, project, city, sector string) error {
	in := struct{ Project, City, Sector string }{project, city, sector}
	ctx, tx := w.Ctx(), w.Tx()
	if _, err := tx.Exec(ctx, `INSERT INTO quota_projects (id, enterprise, city, sector, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
		in.Project, actor.Org, in.City, in.Sector, w.Now()); err != nil {
		return err
	}
	var pEnt, pCity, pSector string
	if err := tx.QueryRow(ctx, `SELECT enterprise, city, sector FROM quota_projects WHERE id = $1 FOR UPDATE`, in.Project).Scan(&pEnt, &pCity, &pSector); err != nil {
		return err
	}
	if pEnt != actor.Org {
		return ledger.Errf(CodeProjectConflict, "project id %q is taken by another enterprise; choose another id", in.Project).At("project")
	}
	if pCity != in.City || pSector != in.Sector {
		return ledger.Errf(CodeProjectConflict, "project %s is registered in city %s, sector %s", in.Project, pCity, pSector).At("project")
	}
	var open uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM quota_applications WHERE project = $1 AND status IN ('submitted', 'city_approved', 'awaiting_government', 'government_approved') LIMIT 1`, in.Project).Scan(&open)
	if err == nil {
		return ledger.Errf(CodeInvalidState, "project %s already has application %s in progress", in.Project, open).At("project")
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return nil
}

// ReviewApplication is the city's review of an application for a project
// in its own city.
func ReviewApplication(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, id uuid.UUID, in DecisionInput) (ApplicationDetail, bool, error) {
	if err := actor.Require(ledger.RoleCity); err != nil {
		return ApplicationDetail{}, false, err
	}
	if err := in.validate(); err != nil {
		return ApplicationDetail{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.application.review", idInput[DecisionInput]{id, in}, func(w *ledger.Writer) (ApplicationDetail, error) {
		ctx, tx := w.Ctx(), w.Tx()
		a, err := loadApplication(ctx, tx, id, true)
		if err != nil {
			return ApplicationDetail{}, err
		}
		if a.City != actor.City {
			return ApplicationDetail{}, ledger.Errf(ledger.CodeForbidden, "city %s reviews applications of its own city only; this project is in %s", actor.City, a.City)
		}
		if err := notBundled(&a); err != nil {
			return ApplicationDetail{}, err
		}
		if a.Status != StatusSubmitted {
			return ApplicationDetail{}, ledger.Errf(CodeInvalidState, "application %s is %s; only a submitted application is reviewed", id, a.Status)
		}
		status, action := StatusCityApproved, "application.city_approved"
		if !in.Approve {
			status, action = StatusRejected, "application.city_rejected"
		}
		if err := setStatus(w, id, status); err != nil {
			return ApplicationDetail{}, err
		}
		if err := record(w, actor, subjectApplication, id, action, in.Reason, nil, nil); err != nil {
			return ApplicationDetail{}, err
		}
		return applicationDetail(w.Journal, id, false)
	})
}

// notBundled refuses a single-application step on one kind of a bundle:
// a bundle's kinds are reviewed, decided and allocated together, so that
// one kind is never allocated without the others.
func notBundled(a *applicationRow) error {
	if a.BundleID != nil {
		return ledger.Errf(CodeInvalidState, "application %s (%s) is one kind of bundle %s; its kinds are reviewed and decided together (/v1/quota/bundles/%s)",
			a.ID, a.IndexKind, a.BundleID, a.BundleID)
	}
	return nil
}

func setStatus(w *ledger.Writer, id uuid.UUID, status string) error {
	_, err := w.Tx().Exec(w.Ctx(), `UPDATE quota_applications SET status = $2, updated_at = $3 WHERE id = $1`, id, status, w.Now())
	return err
}

// DrawInput names a reserve ("province" or a city code) and the tonnes to
// take from it.
type DrawInput struct {
	Reserve string `json:"reserve"`
	Tonnes  string `json:"tonnes"`
}

// DecideInput is the province's decision on an application. Approving an
// application that needs no (further) government approval allocates at
// once: draws name the reserves and must add up to the requested tonnes;
// paid charges the price in force to the enterprise's CNY account in the
// same transaction.
type DecideInput struct {
	Approve bool        `json:"approve"`
	Reason  string      `json:"reason"`
	Draws   []DrawInput `json:"draws,omitempty"`
	Paid    bool        `json:"paid"`
}

type draw struct {
	reserve string
	tonnes  decimal.Decimal
}

func parseDraws(in []DrawInput) ([]draw, decimal.Decimal, error) {
	if len(in) > DrawsPerDecisionMax {
		return nil, decimal.Zero, ledger.Errf(ledger.CodeLimitExceeded, "at most %d draws", DrawsPerDecisionMax).At("draws")
	}
	seen := map[string]bool{}
	out := make([]draw, 0, len(in))
	total := decimal.Zero
	for i, d := range in {
		field := "draws[" + strconv.Itoa(i) + "]"
		if !ValidReserve(d.Reserve) {
			return nil, total, ledger.Errf(ledger.CodeInvalidRequest, "reserve must be %q or a Shandong city code", ReserveProvince).At(field + ".reserve")
		}
		if seen[d.Reserve] {
			return nil, total, ledger.Errf(ledger.CodeInvalidRequest, "reserve %s is named twice", d.Reserve).At(field + ".reserve")
		}
		seen[d.Reserve] = true
		t, err := parseTonnes(d.Tonnes, field+".tonnes")
		if err != nil {
			return nil, total, err
		}
		out = append(out, draw{d.Reserve, t})
		total = total.Add(t)
	}
	return out, total, nil
}

// DecideApplication is the provincial decision. From city_approved, an
// approval of more than the threshold in force is escalated to the
// provincial government (awaiting_government; nothing moves); otherwise,
// and from government_approved, approval allocates. Reserves that are short
// fail the decision cleanly: nothing moves and the status is unchanged.
func DecideApplication(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, id uuid.UUID, in DecideInput) (ApplicationDetail, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ApplicationDetail{}, false, err
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return ApplicationDetail{}, false, err
	}
	draws, total, err := parseDraws(in.Draws)
	if err != nil {
		return ApplicationDetail{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.application.decide", idInput[DecideInput]{id, in}, func(w *ledger.Writer) (ApplicationDetail, error) {
		ctx, tx := w.Ctx(), w.Tx()
		a, err := loadApplication(ctx, tx, id, true)
		if err != nil {
			return ApplicationDetail{}, err
		}
		if err := notBundled(&a); err != nil {
			return ApplicationDetail{}, err
		}
		if a.Status != StatusCityApproved && a.Status != StatusGovernmentApproved {
			return ApplicationDetail{}, ledger.Errf(CodeInvalidState, "application %s is %s; the province decides after the city review (or the government's approval)", id, a.Status)
		}
		if !in.Approve {
			if err := setStatus(w, id, StatusRejected); err != nil {
				return ApplicationDetail{}, err
			}
			if err := record(w, actor, subjectApplication, id, "application.rejected", in.Reason, nil, nil); err != nil {
				return ApplicationDetail{}, err
			}
			return applicationDetail(w.Journal, id, false)
		}
		if len(draws) > 0 && !total.Equal(a.requested) {
			return ApplicationDetail{}, ledger.Errf(ledger.CodeInvalidRequest, "draws add up to %s t; the application requests %s t", tonnesText(total), a.Requested).At("draws")
		}
		if a.Status == StatusCityApproved {
			th, err := configOf(w, a.IndexKind, ConfigThreshold, "")
			if err != nil {
				return ApplicationDetail{}, err
			}
			if _, err := tx.Exec(ctx, `UPDATE quota_applications SET threshold = $2, threshold_version = $3 WHERE id = $1`, id, th.value, th.ID); err != nil {
				return ApplicationDetail{}, err
			}
			if a.requested.GreaterThan(th.value) {
				if _, err := tx.Exec(ctx, `UPDATE quota_applications SET escalated = true WHERE id = $1`, id); err != nil {
					return ApplicationDetail{}, err
				}
				if err := setStatus(w, id, StatusAwaitingGovernment); err != nil {
					return ApplicationDetail{}, err
				}
				detail := map[string]string{"requested": a.Requested, "threshold": tonnesText(th.value), "threshold_version": th.ID.String()}
				for _, d := range draws {
					detail["proposed_draw_"+d.reserve] = tonnesText(d.tonnes)
				}
				if err := record(w, actor, subjectApplication, id, "application.escalated", in.Reason, detail, nil); err != nil {
					return ApplicationDetail{}, err
				}
				return applicationDetail(w.Journal, id, false)
			}
		}
		if len(draws) == 0 {
			return ApplicationDetail{}, ledger.Errf(ledger.CodeInvalidRequest, "an approval names the reserves to draw from").At("draws")
		}
		if err := allocate(w, actor, &a, draws, in.Paid, in.Reason); err != nil {
			return ApplicationDetail{}, err
		}
		return applicationDetail(w.Journal, id, false)
	})
}

// GovernmentInput records the provincial government's decision on an
// escalated application.
type GovernmentInput struct {
	Approve     bool   `json:"approve"`
	DocumentRef string `json:"document_ref"` // the government's approval document
	Reason      string `json:"reason"`
}

func (in GovernmentInput) validate() error {
	if err := checkText(in.DocumentRef, "document_ref", true, RefBytesMax); err != nil {
		return err
	}
	return checkText(in.Reason, "reason", true, ReasonBytesMax)
}

// RecordGovernmentApproval records, by a province user, the provincial
// government's approval or refusal of an escalated application. Approval
// does not allocate: the province then decides with named reserves.
func RecordGovernmentApproval(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, id uuid.UUID, in GovernmentInput) (ApplicationDetail, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ApplicationDetail{}, false, err
	}
	if err := in.validate(); err != nil {
		return ApplicationDetail{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.application.government", idInput[GovernmentInput]{id, in}, func(w *ledger.Writer) (ApplicationDetail, error) {
		ctx, tx := w.Ctx(), w.Tx()
		a, err := loadApplication(ctx, tx, id, true)
		if err != nil {
			return ApplicationDetail{}, err
		}
		if err := notBundled(&a); err != nil {
			return ApplicationDetail{}, err
		}
		if a.Status != StatusAwaitingGovernment {
			return ApplicationDetail{}, ledger.Errf(CodeInvalidState, "application %s is %s; only an escalated application awaits the government", id, a.Status)
		}
		status, action := StatusGovernmentApproved, "application.government_approved"
		if !in.Approve {
			status, action = StatusRejected, "application.government_rejected"
		}
		if err := setStatus(w, id, status); err != nil {
			return ApplicationDetail{}, err
		}
		if err := record(w, actor, subjectApplication, id, action, in.Reason, map[string]string{"document_ref": in.DocumentRef}, nil); err != nil {
			return ApplicationDetail{}, err
		}
		return applicationDetail(w.Journal, id, false)
	})
}

// ApplicationDetail is an application with its allocation and, when read,
// its full trail.
type ApplicationDetail struct {
	Application
	Allocation *Allocation `json:"allocation,omitempty"`
	Trail      []Event     `json:"trail,omitempty"`
}

func applicationDetail(j ledger.Journal, id uuid.UUID, withTrail bool) (ApplicationDetail, error) {
	a, err := loadApplication(j.Ctx(), j.Tx(), id, false)
	if err != nil {
		return ApplicationDetail{}, err
	}
	d := ApplicationDetail{Application: a.Application}
	if d.Allocation, err = loadAllocationByApplication(j.Ctx(), j.Tx(), id); err != nil || !withTrail {
		return d, err
	}
	d.Trail, err = trail(j, subjectApplication, id)
	return d, err
}

// canSeeApplication: the province and auditors see all applications, a
// city those of its city, an enterprise its own.
func canSeeApplication(a ledger.Actor, app *Application) bool {
	switch {
	case a.SeesAll():
		return true
	case a.Is(ledger.RoleCity):
		return a.City != "" && a.City == app.City
	case a.Is(ledger.RoleEnterprise):
		return a.Org != "" && a.Org == app.Enterprise
	}
	return false
}

// GetApplication reads an application with its allocation (and the
// allocation's lineage) and its full trail. An application the actor may
// not see is reported as not found, so its existence does not leak.
func GetApplication(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, id uuid.UUID) (ApplicationDetail, error) {
	if err := actor.Require(readerRoles...); err != nil {
		return ApplicationDetail{}, err
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (ApplicationDetail, error) {
		a, err := loadApplication(r.Ctx(), r.Tx(), id, false)
		if err != nil {
			return ApplicationDetail{}, err
		}
		if !canSeeApplication(actor, &a.Application) {
			return ApplicationDetail{}, ledger.Errf(ledger.CodeNotFound, "application %s not found", id)
		}
		return applicationDetail(r.Journal, id, true)
	})
}

// ApplicationFilter narrows a list of applications.
type ApplicationFilter struct {
	Status     string
	City       string
	Enterprise string
	Project    string
	Limit      int
	Cursor     string
}

// ListApplications pages the applications the actor may see, newest
// first: an enterprise sees only its own, a city only its city's.
func ListApplications(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, f ApplicationFilter) (ledger.Page[Application], error) {
	if err := actor.Require(readerRoles...); err != nil {
		return ledger.Page[Application]{}, err
	}
	switch actor.Role {
	case ledger.RoleCity:
		if f.City != "" && f.City != actor.City {
			return ledger.Page[Application]{Items: []Application{}}, nil
		}
		f.City = actor.City
	case ledger.RoleEnterprise:
		if f.Enterprise != "" && f.Enterprise != actor.Org {
			return ledger.Page[Application]{Items: []Application{}}, nil
		}
		f.Enterprise = actor.Org
	}
	limit := ledger.ClampLimit(f.Limit)
	after, err := idCursor(f.Cursor)
	if err != nil {
		return ledger.Page[Application]{}, err
	}
	items, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]Application, error) {
		rows, err := r.Tx().Query(ctx, `
			SELECT `+applicationColumns+` FROM quota_applications
			WHERE ($1 = '' OR status = $1) AND ($2 = '' OR city = $2) AND ($3 = '' OR enterprise = $3) AND ($4 = '' OR project = $4)
			  AND ($5::UUID IS NULL OR id < $5)
			ORDER BY id DESC LIMIT $6`, f.Status, f.City, f.Enterprise, f.Project, after, limit+1)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Application, error) {
			a, err := scanApplication(r)
			return a.Application, err
		})
	})
	if err != nil {
		return ledger.Page[Application]{}, err
	}
	return ledger.PageOf(items, limit, func(a Application) string { return ledger.EncodeCursor(a.ID) }), nil
}
