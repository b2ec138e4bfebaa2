package quota

import (
	"context"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// A bundle is one project's application for several index kinds at once
// (a chemical plant needs NOX, VOCS and CEI): one application row per
// kind sharing a bundle id, reviewed by the city and decided by the
// province together, and allocated all kinds or none, in one database
// transaction (one engine transaction per kind, applied in it).

// BundleLine is one kind of a bundle.
type BundleLine struct {
	IndexKind     string `json:"index_kind"`
	Emissions     string `json:"emissions"` // new annual emissions of the kind, whole t/yr
	OwnSources    string `json:"own_sources"`
	OwnSourcesRef string `json:"own_sources_ref,omitempty"`
	Requested     string `json:"requested"`
}

// ApplyBundleInput is an enterprise's application for several kinds.
type ApplyBundleInput struct {
	Project string       `json:"project"`
	City    string       `json:"city"`
	Sector  string       `json:"sector"`
	Lines   []BundleLine `json:"lines"`
	Reason  string       `json:"reason,omitempty"`
}

// Bundle is a bundle's applications, one per kind, in kind order.
type Bundle struct {
	ID           uuid.UUID           `json:"bundle_id"`
	Applications []ApplicationDetail `json:"applications"`
}

// ApplyBundle records a bundle: per kind, required = ceil(emissions ×
// factor), where the factor is the sector coefficient (CEI) or the
// replacement ratio of the project's city (the pollutants), and requested
// ≤ required − own sources.
func ApplyBundle(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in ApplyBundleInput) (Bundle, bool, error) {
	if err := actor.Require(ledger.RoleEnterprise); err != nil {
		return Bundle{}, false, err
	}
	lines, err := parseBundle(l, &in)
	if err != nil {
		return Bundle{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.bundle.submit", in, func(w *ledger.Writer) (Bundle, error) {
		if err := claimProject(w, actor, in.Project, in.City, in.Sector); err != nil {
			return Bundle{}, err
		}
		bundle := ledger.NewID()
		for i, ln := range lines {
			if err := submitLine(w, actor, bundle, &in, ln, "lines["+strconv.Itoa(i)+"]"); err != nil {
				return Bundle{}, err
			}
		}
		return loadBundle(w.Journal, bundle, false)
	})
}

type bundleLine struct {
	kind                      string
	emissions, own, requested decimal.Decimal
	ownRef                    string
}

func parseBundle(l *ledger.Ledger, in *ApplyBundleInput) ([]bundleLine, error) {
	base := ApplyInput{Project: in.Project, City: in.City, Sector: in.Sector, Emissions: "1", Requested: "1", Reason: in.Reason}
	if _, _, _, err := base.parse(); err != nil {
		return nil, err
	}
	if len(in.Lines) == 0 || len(in.Lines) > 16 {
		return nil, ledger.Errf(ledger.CodeInvalidRequest, "a bundle has 1 to 16 lines, one per index kind").At("lines")
	}
	seen := map[string]bool{}
	out := make([]bundleLine, 0, len(in.Lines))
	for i, ln := range in.Lines {
		f := "lines[" + strconv.Itoa(i) + "]"
		kind, err := checkKind(l, ln.IndexKind, f+".index_kind")
		if err != nil {
			return nil, err
		}
		if seen[kind] {
			return nil, ledger.Errf(ledger.CodeInvalidRequest, "index kind %s is named twice", kind).At(f + ".index_kind")
		}
		seen[kind] = true
		one := ApplyInput{Project: in.Project, City: in.City, Sector: in.Sector, Emissions: ln.Emissions, OwnSources: ln.OwnSources,
			OwnSourcesRef: ln.OwnSourcesRef, Requested: ln.Requested}
		e, own, req, err := one.parse()
		if err != nil {
			return nil, withField(err, f+"."+fieldOf(err))
		}
		out = append(out, bundleLine{kind, e, own, req, ln.OwnSourcesRef})
	}
	return out, nil
}

func fieldOf(err error) string {
	if e, ok := ledger.AsError(err); ok {
		return e.Field
	}
	return ""
}

// submitLine writes one kind's application of a bundle.
func submitLine(w *ledger.Writer, actor ledger.Actor, bundle uuid.UUID, in *ApplyBundleInput, ln bundleLine, field string) error {
	k, err := loadKind(w.Ctx(), w.Tx(), ln.kind)
	if err != nil {
		return withField(err, field+".index_kind")
	}
	var factor configRow
	if k.Formula == FormulaCoefficient {
		factor, err = configOf(w, ln.kind, ConfigCoefficient, in.Sector)
	} else {
		factor, err = ratioOf(w, ln.kind, in.City)
	}
	if err != nil {
		return withField(err, field+".index_kind")
	}
	g := ComputeGap(ln.emissions, factor.value, ln.own)
	if !g.Gap.IsPositive() || ln.requested.GreaterThan(g.Gap) {
		return &ledger.Error{Code: CodeGapExceeded, Field: field + ".requested",
			Msg:    ln.kind + ": requested " + tonnesText(ln.requested) + " t exceeds the gap of " + tonnesText(g.Gap) + " t (" + tonnesText(ln.emissions) + " × " + factor.Value + " − " + tonnesText(ln.own) + ")",
			Detail: map[string]string{"index_kind": ln.kind, "required": tonnesText(g.Required), "gap": tonnesText(g.Gap)}}
	}
	id := ledger.NewID()
	if _, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO quota_applications (id, project, enterprise, city, sector, emissions, breakdown, coefficient, coefficient_version, required, own_sources, own_sources_ref,
			gap, requested, status, created_by, created_at, updated_at, index_kind, bundle_id)
		VALUES ($1, $2, $3, $4, $5, $6, '{}', $7, $8, $9, $10, $11, $12, $13, 'submitted', $14, $15, $15, $16, $17)`,
		id, in.Project, actor.Org, in.City, in.Sector, ln.emissions, factor.value, factor.ID, g.Required, ln.own, ln.ownRef,
		g.Gap, ln.requested, actor.ID(), w.Now(), ln.kind, bundle); err != nil {
		return err
	}
	return record(w, actor, subjectApplication, id, "application.submitted", in.Reason, map[string]string{
		"bundle_id": bundle.String(), "index_kind": ln.kind, "project": in.Project, "city": in.City, "sector": in.Sector,
		"emissions": tonnesText(ln.emissions), "factor": factor.Value, "factor_kind": factor.Kind, "factor_version": factor.ID.String(),
		"required": tonnesText(g.Required), "own_sources": tonnesText(ln.own), "gap": tonnesText(g.Gap), "requested": tonnesText(ln.requested),
	}, nil)
}

// lockBundle locks a bundle's applications in id order.
func lockBundle(w *ledger.Writer, bundle uuid.UUID) ([]applicationRow, error) {
	rows, err := w.Tx().Query(w.Ctx(), `SELECT `+applicationColumns+` FROM quota_applications WHERE bundle_id = $1 ORDER BY id FOR UPDATE`, bundle)
	if err != nil {
		return nil, err
	}
	apps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (applicationRow, error) { return scanApplication(r) })
	if err == nil && len(apps) == 0 {
		err = ledger.Errf(ledger.CodeNotFound, "bundle %s not found", bundle)
	}
	return apps, err
}

func loadBundle(j ledger.Journal, bundle uuid.UUID, withTrail bool) (Bundle, error) {
	rows, err := j.Tx().Query(j.Ctx(), `SELECT id FROM quota_applications WHERE bundle_id = $1 ORDER BY index_kind`, bundle)
	if err != nil {
		return Bundle{}, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{ID: bundle, Applications: make([]ApplicationDetail, 0, len(ids))}
	for _, id := range ids {
		d, err := applicationDetail(j, id, withTrail)
		if err != nil {
			return b, err
		}
		b.Applications = append(b.Applications, d)
	}
	return b, nil
}

// ReviewBundle is the city's review of every kind of a bundle at once.
func ReviewBundle(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, bundle uuid.UUID, in DecisionInput) (Bundle, bool, error) {
	if err := actor.Require(ledger.RoleCity); err != nil {
		return Bundle{}, false, err
	}
	if err := in.validate(); err != nil {
		return Bundle{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.bundle.review", idInput[DecisionInput]{bundle, in}, func(w *ledger.Writer) (Bundle, error) {
		apps, err := lockBundle(w, bundle)
		if err != nil {
			return Bundle{}, err
		}
		status, action := StatusCityApproved, "application.city_approved"
		if !in.Approve {
			status, action = StatusRejected, "application.city_rejected"
		}
		for _, a := range apps {
			if a.City != actor.City {
				return Bundle{}, ledger.Errf(ledger.CodeForbidden, "city %s reviews applications of its own city only; this project is in %s", actor.City, a.City)
			}
			if a.Status != StatusSubmitted {
				return Bundle{}, ledger.Errf(CodeInvalidState, "application %s (%s) is %s; only a submitted bundle is reviewed", a.ID, a.IndexKind, a.Status)
			}
			if err := setStatus(w, a.ID, status); err != nil {
				return Bundle{}, err
			}
			if err := record(w, actor, subjectApplication, a.ID, action, in.Reason, map[string]string{"bundle_id": bundle.String()}, nil); err != nil {
				return Bundle{}, err
			}
		}
		return loadBundle(w.Journal, bundle, false)
	})
}

// DecideBundleInput is the province's decision on a bundle: the draws of
// every kind (keyed by kind) and whether the allocation is paid.
type DecideBundleInput struct {
	Approve bool                   `json:"approve"`
	Reason  string                 `json:"reason"`
	Draws   map[string][]DrawInput `json:"draws,omitempty"`
	Paid    bool                   `json:"paid"`
}

// DecideBundle is the provincial decision on a bundle. Approval allocates
// every kind from its named reserves in this one database transaction, so
// one kind short fails the decision and nothing of any kind moves. A kind
// above its threshold escalates the whole bundle to the government.
func DecideBundle(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, bundle uuid.UUID, in DecideBundleInput) (Bundle, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Bundle{}, false, err
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return Bundle{}, false, err
	}
	draws := map[string][]draw{}
	for kind, ds := range in.Draws {
		d, _, err := parseDraws(ds)
		if err != nil {
			return Bundle{}, false, withField(err, "draws."+kind)
		}
		draws[kind] = d
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.bundle.decide", idInput[DecideBundleInput]{bundle, in}, func(w *ledger.Writer) (Bundle, error) {
		apps, err := lockBundle(w, bundle)
		if err != nil {
			return Bundle{}, err
		}
		for _, a := range apps {
			if a.Status != StatusCityApproved && a.Status != StatusGovernmentApproved {
				return Bundle{}, ledger.Errf(CodeInvalidState, "application %s (%s) is %s; the province decides after the city review", a.ID, a.IndexKind, a.Status)
			}
		}
		if !in.Approve {
			for _, a := range apps {
				if err := setStatus(w, a.ID, StatusRejected); err != nil {
					return Bundle{}, err
				}
				if err := record(w, actor, subjectApplication, a.ID, "application.rejected", in.Reason, map[string]string{"bundle_id": bundle.String()}, nil); err != nil {
					return Bundle{}, err
				}
			}
			return loadBundle(w.Journal, bundle, false)
		}
		escalate, err := bundleEscalates(w, apps)
		if err != nil || escalate {
			if err == nil {
				err = escalateBundle(w, actor, bundle, apps, in.Reason)
			}
			if err != nil {
				return Bundle{}, err
			}
			return loadBundle(w.Journal, bundle, false)
		}
		for i := range apps {
			a := &apps[i]
			ds := draws[a.IndexKind]
			if err := checkDrawTotal(ds, a); err != nil {
				return Bundle{}, err
			}
			if err := allocate(w, actor, a, ds, in.Paid, in.Reason); err != nil {
				return Bundle{}, err
			}
		}
		return loadBundle(w.Journal, bundle, false)
	})
}

func checkDrawTotal(ds []draw, a *applicationRow) error {
	total := decimal.Zero
	for _, d := range ds {
		total = total.Add(d.tonnes)
	}
	if !total.Equal(a.requested) {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s draws add up to %s t; the application requests %s t", a.IndexKind, tonnesText(total), a.Requested).At("draws." + a.IndexKind)
	}
	return nil
}

// bundleEscalates records each kind's threshold and reports whether any
// city-approved kind requests more than its threshold.
func bundleEscalates(w *ledger.Writer, apps []applicationRow) (bool, error) {
	escalate := false
	for _, a := range apps {
		if a.Status != StatusCityApproved {
			continue
		}
		th, err := configOf(w, a.IndexKind, ConfigThreshold, "")
		if err != nil {
			return false, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE quota_applications SET threshold = $2, threshold_version = $3 WHERE id = $1`, a.ID, th.value, th.ID); err != nil {
			return false, err
		}
		escalate = escalate || a.requested.GreaterThan(th.value)
	}
	return escalate, nil
}

func escalateBundle(w *ledger.Writer, actor ledger.Actor, bundle uuid.UUID, apps []applicationRow, reason string) error {
	for _, a := range apps {
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE quota_applications SET escalated = true WHERE id = $1`, a.ID); err != nil {
			return err
		}
		if err := setStatus(w, a.ID, StatusAwaitingGovernment); err != nil {
			return err
		}
		if err := record(w, actor, subjectApplication, a.ID, "application.escalated", reason, map[string]string{"bundle_id": bundle.String(), "requested": a.Requested}, nil); err != nil {
			return err
		}
	}
	return nil
}

// GetBundle reads a bundle with every kind's allocation, lineage and trail.
func GetBundle(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, bundle uuid.UUID) (Bundle, error) {
	if err := actor.Require(readerRoles...); err != nil {
		return Bundle{}, err
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (Bundle, error) {
		b, err := loadBundle(r.Journal, bundle, true)
		if err == nil && (len(b.Applications) == 0 || !canSeeApplication(actor, &b.Applications[0].Application)) {
			err = ledger.Errf(ledger.CodeNotFound, "bundle %s not found", bundle)
		}
		return b, err
	})
}

// RecordBundleGovernmentApproval records, by a province user, the
// provincial government's approval or refusal of an escalated bundle: one
// decision for every kind, as the escalation was. Approval does not
// allocate: the province then decides the bundle with named reserves
// (DecideBundle), all kinds or none.
func RecordBundleGovernmentApproval(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, bundle uuid.UUID, in GovernmentInput) (Bundle, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Bundle{}, false, err
	}
	if err := in.validate(); err != nil {
		return Bundle{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.bundle.government", idInput[GovernmentInput]{bundle, in}, func(w *ledger.Writer) (Bundle, error) {
		apps, err := lockBundle(w, bundle)
		if err != nil {
			return Bundle{}, err
		}
		for _, a := range apps {
			if a.Status != StatusAwaitingGovernment {
				return Bundle{}, ledger.Errf(CodeInvalidState, "application %s (%s) is %s; only an escalated bundle awaits the government", a.ID, a.IndexKind, a.Status)
			}
		}
		status, action := StatusGovernmentApproved, "application.government_approved"
		if !in.Approve {
			status, action = StatusRejected, "application.government_rejected"
		}
		for _, a := range apps {
			if err := setStatus(w, a.ID, status); err != nil {
				return Bundle{}, err
			}
			if err := record(w, actor, subjectApplication, a.ID, action, in.Reason, map[string]string{"bundle_id": bundle.String(), "document_ref": in.DocumentRef}, nil); err != nil {
				return Bundle{}, err
			}
		}
		return loadBundle(w.Journal, bundle, false)
	})
}
