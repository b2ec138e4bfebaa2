package points

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Account ids of the programme.
const (
	ProgrammeIssuance = "programme:CP:issuance"
	ProgrammeRedeemed = "programme:CP:redeemed"
	ProgrammeExpired  = "programme:CP:expired"
	ProgrammeReversed = "programme:CP:reversed"
	CO2EReversed      = "programme:CO2E:reversed"
)

// PoolAccount is the operator's pool for a methodology version and period.
func PoolAccount(operator, methodology, period string) string {
	return "operator:" + operator + ":CO2E:pool:" + methodology + ":" + period
}

// DonationPoolAccount is a donation pool's account.
func DonationPoolAccount(pool string) string { return "pool:" + pool + ":CP" }

// ---- authorization -------------------------------------------------------

// citizenOf is the citizen an actor acts as.
func citizenOf(a ledger.Actor) (string, error) {
	if !a.Is(ledger.RoleCitizen) || !ledger.ValidIdent(a.Sub) {
		return "", ledger.Errf(ledger.CodeForbidden, "only a citizen acts on their own carbon account")
	}
	return a.Sub, nil
}

// operatorOf is the operator an actor reports for (its organisation).
func operatorOf(a ledger.Actor) (string, error) {
	if !a.Is(ledger.RoleOperator) || !validCode(a.Org, 64) {
		return "", ledger.Errf(ledger.CodeForbidden, "only a registered operator reports behaviour")
	}
	return a.Org, nil
}

// canReadCitizen: the citizen themself, the province and auditors.
func canReadCitizen(a ledger.Actor, citizen string) error {
	if (a.Is(ledger.RoleCitizen) && a.Sub == citizen) || a.SeesAll() {
		return nil
	}
	// Not found rather than forbidden: whether another citizen has an
	// account is not the caller's business.
	return ledger.Errf(ledger.CodeNotFound, "citizen %s has no carbon account visible to you", citizen)
}

// readAll runs a query of the use case's own tables on one read snapshot.
func readAll[T any](ctx context.Context, l *ledger.Ledger, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]T, error) {
		rows, err := r.Tx().Query(r.Ctx(), sql, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	})
}

// ensureAccounts opens the programme accounts the use case needs.
func ensureProgrammeAccounts(w *ledger.Writer) error {
	return w.OpenAccounts(ProgrammeIssuance, ProgrammeRedeemed, ProgrammeExpired, ProgrammeReversed, CO2EReversed)
}

// ---- methodologies -------------------------------------------------------

const methodologyColumns = `id, code, version, kind, unit, factor_grams, quantity_scale, quantity_max,
	COALESCE(record_cap_grams, 0), COALESCE(daily_cap_grams, 0), COALESCE(daily_cap_quantity, 0),
	claim_window_days, validity_days, valid_from, valid_to, source, created_by, created_at`

func scanMethodology(r pgx.Row) (Methodology, error) {
	var m Methodology
	err := r.Scan(&m.ID, &m.Code, &m.Version, &m.Kind, &m.Unit, &m.FactorGrams, &m.QuantityScale, &m.QuantityMax,
		&m.RecordCapGrams, &m.DailyCapGrams, &m.DailyCapQuantity, &m.ClaimWindowDays, &m.ValidityDays,
		&m.ValidFrom, &m.ValidTo, &m.Source, &m.CreatedBy, &m.CreatedAt)
	m.ValidFrom, m.CreatedAt, m.ValidTo = m.ValidFrom.UTC(), m.CreatedAt.UTC(), utcPtr(m.ValidTo)
	return m, err
}

const rulesColumns = `version, daily_cap_grams, reporting_window_days, overlap_tolerance_seconds, exclusivity_groups::TEXT,
	daily_total_kinds, valid_from, valid_to, source, created_by, created_at`

func scanRules(r pgx.Row) (ProgrammeRules, error) {
	var p ProgrammeRules
	var groups string
	err := r.Scan(&p.Version, &p.DailyCapGrams, &p.ReportingWindowDays, &p.OverlapToleranceSeconds, &groups, &p.DailyTotalKinds,
		&p.ValidFrom, &p.ValidTo, &p.Source, &p.CreatedBy, &p.CreatedAt)
	if err == nil {
		err = json.Unmarshal([]byte(groups), &p.ExclusivityGroups)
	}
	// Lists are [] in JSON, never null.
	if p.ExclusivityGroups == nil {
		p.ExclusivityGroups = []ExclusivityGroup{}
	}
	if p.DailyTotalKinds == nil {
		p.DailyTotalKinds = []string{}
	}
	p.ValidFrom, p.CreatedAt, p.ValidTo = p.ValidFrom.UTC(), p.CreatedAt.UTC(), utcPtr(p.ValidTo)
	return p, err
}

// loadConfig reads every methodology and rules version (a small table).
func loadConfig(ctx context.Context, q pgx.Tx) (*Config, error) {
	rows, err := q.Query(ctx, `SELECT `+methodologyColumns+` FROM points_methodologies ORDER BY kind, unit, valid_from`)
	if err != nil {
		return nil, err
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Methodology, error) { return scanMethodology(r) })
	if err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT `+rulesColumns+` FROM points_programme_rules ORDER BY valid_from`)
	if err != nil {
		return nil, err
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProgrammeRules, error) { return scanRules(r) })
	if err != nil {
		return nil, err
	}
	return &Config{Methodologies: ms, Rules: rs}, nil
}

// CreateMethodology publishes a new methodology version (province only).
// The version number is the next of its code; the version takes effect at
// its valid_from and supersedes the one in effect for its kind and unit.
func CreateMethodology(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in MethodologyInput) (Methodology, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Methodology{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.methodology.create", in, func(w *ledger.Writer) (Methodology, error) {
		m, err := in.Validate(w.Now())
		if err != nil {
			return m, err
		}
		return insertMethodology(w, actor, m, false)
	})
}

// insertMethodology assigns the version and writes the row. With seed, an
// existing version of the same code, kind and unit with the same
// valid_from is returned instead (Seed runs twice safely).
func insertMethodology(w *ledger.Writer, actor ledger.Actor, m Methodology, seed bool) (Methodology, error) {
	ctx, tx := w.Ctx(), w.Tx()
	if seed {
		row := tx.QueryRow(ctx, `SELECT `+methodologyColumns+` FROM points_methodologies WHERE code = $1 AND kind = $2 AND unit = $3 AND valid_from = $4`,
			m.Code, m.Kind, m.Unit, m.ValidFrom)
		if got, err := scanMethodology(row); err == nil {
			return got, w.OpenAccounts(got.IssuanceAccount())
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return m, err
		}
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) + 1 FROM points_methodologies WHERE code = $1`, m.Code).Scan(&m.Version); err != nil {
		return m, err
	}
	m.ID = m.Code + ".v" + strconv.Itoa(m.Version)
	m.CreatedBy, m.CreatedAt = actor.ID(), w.Now()
	// A cap of 0 is none: stored as NULL.
	tag, err := tx.Exec(ctx, `
		INSERT INTO points_methodologies (id, code, version, kind, unit, factor_grams, quantity_scale, quantity_max,
			record_cap_grams, daily_cap_grams, daily_cap_quantity, claim_window_days, validity_days, valid_from, valid_to,
			source, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6::NUMERIC, $7, $8::NUMERIC,
			NULLIF($9::BIGINT, 0), NULLIF($10::BIGINT, 0), NULLIF($11::NUMERIC, 0), $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT DO NOTHING`,
		m.ID, m.Code, m.Version, m.Kind, m.Unit, m.FactorGrams.String(), m.QuantityScale, m.QuantityMax.String(),
		m.RecordCapGrams, m.DailyCapGrams, m.DailyCapQuantity.String(), m.ClaimWindowDays, m.ValidityDays, m.ValidFrom, m.ValidTo, m.Source, m.CreatedBy, m.CreatedAt)
	if err != nil {
		return m, err
	}
	if tag.RowsAffected() == 0 {
		return m, ledger.Errf(ledger.CodeConflict, "a version for %s/%s taking effect at %s exists already, or %s was published concurrently",
			m.Kind, m.Unit, m.ValidFrom.Format(time.RFC3339), m.ID)
	}
	if err := ensureProgrammeAccounts(w); err != nil {
		return m, err
	}
	if err := w.OpenAccounts(m.IssuanceAccount()); err != nil {
		return m, err
	}
	return m, w.Trail("points", "methodology:"+m.ID, "methodology.published", actor, "", m, nil)
}

// ListMethodologies returns the versions in effect now, one per kind and
// unit, or with all every version ever published (including scheduled
// and superseded ones).
func ListMethodologies(ctx context.Context, l *ledger.Ledger, all bool) ([]Methodology, error) {
	c, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) (*Config, error) { return loadConfig(r.Ctx(), r.Tx()) })
	if err != nil {
		return nil, err
	}
	if all {
		return c.Methodologies, nil
	}
	return c.Effective(l.Now()), nil
}

// GetMethodology returns one version.
func GetMethodology(ctx context.Context, l *ledger.Ledger, id string) (Methodology, error) {
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (Methodology, error) {
		m, err := scanMethodology(r.Tx().QueryRow(r.Ctx(), `SELECT `+methodologyColumns+` FROM points_methodologies WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return m, ledger.Errf(ledger.CodeNotFound, "methodology %s not found", id)
		}
		return m, err
	})
}

// CreateProgrammeRules publishes a new version of the programme-wide rules.
func CreateProgrammeRules(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in RulesInput) (ProgrammeRules, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ProgrammeRules{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.rules.create", in, func(w *ledger.Writer) (ProgrammeRules, error) {
		r, err := in.Validate(w.Now())
		if err != nil {
			return r, err
		}
		cfg, err := loadConfig(w.Ctx(), w.Tx())
		if err != nil {
			return r, err
		}
		prev, _ := cfg.RulesAt(r.ValidFrom)
		return insertRules(w, actor, in.carryOver(r, prev), false)
	})
}

func insertRules(w *ledger.Writer, actor ledger.Actor, r ProgrammeRules, seed bool) (ProgrammeRules, error) {
	ctx, tx := w.Ctx(), w.Tx()
	if seed {
		got, err := scanRules(tx.QueryRow(ctx, `SELECT `+rulesColumns+` FROM points_programme_rules WHERE valid_from = $1`, r.ValidFrom))
		if err == nil {
			return got, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return r, err
		}
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) + 1 FROM points_programme_rules`).Scan(&r.Version); err != nil {
		return r, err
	}
	r.CreatedBy, r.CreatedAt = actor.ID(), w.Now()
	if r.ExclusivityGroups == nil {
		r.ExclusivityGroups = []ExclusivityGroup{}
	}
	if r.DailyTotalKinds == nil {
		r.DailyTotalKinds = []string{}
	}
	groups, err := json.Marshal(r.ExclusivityGroups)
	if err != nil {
		return r, err
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO points_programme_rules (version, daily_cap_grams, reporting_window_days, overlap_tolerance_seconds, exclusivity_groups,
			daily_total_kinds, valid_from, valid_to, source, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5::JSONB, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
		r.Version, r.DailyCapGrams, r.ReportingWindowDays, r.OverlapToleranceSeconds, string(groups), r.DailyTotalKinds,
		r.ValidFrom, r.ValidTo, r.Source, r.CreatedBy, r.CreatedAt)
	if err != nil {
		return r, err
	}
	if tag.RowsAffected() == 0 {
		return r, ledger.Errf(ledger.CodeConflict, "programme rules taking effect at %s exist already", r.ValidFrom.Format(time.RFC3339))
	}
	return r, w.Trail("points", "rules:"+strconv.Itoa(r.Version), "rules.published", actor, "", r, nil)
}

// ListProgrammeRules returns every version, oldest first.
func ListProgrammeRules(ctx context.Context, l *ledger.Ledger) ([]ProgrammeRules, error) {
	c, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) (*Config, error) { return loadConfig(r.Ctx(), r.Tx()) })
	if err != nil {
		return nil, err
	}
	return c.Rules, nil
}

// ---- operators -----------------------------------------------------------

// Operator is a scene or app operator and the behaviour kinds it may report.
type Operator struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Kinds     []string  `json:"kinds"`
	Status    string    `json:"status"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OperatorInput registers an operator or changes its kinds or status.
type OperatorInput struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Kinds  []string `json:"kinds"`
	Status string   `json:"status,omitempty"` // active (default) or suspended
}

func (in OperatorInput) validate() (OperatorInput, error) {
	if !validCode(in.ID, 64) {
		return in, ledger.Errf(ledger.CodeInvalidRequest, "id must be 1 to 64 characters of a-z, 0-9 and '-'").At("id")
	}
	if err := validText(in.Name, TitleBytesMax); err != nil {
		return in, err.At("name")
	}
	if len(in.Kinds) == 0 || len(in.Kinds) > KindsPerOperatorMax {
		return in, ledger.Errf(ledger.CodeInvalidRequest, "kinds must list 1 to %d behaviour kinds", KindsPerOperatorMax).At("kinds")
	}
	seen := map[string]bool{}
	kinds := make([]string, 0, len(in.Kinds))
	for i, k := range in.Kinds {
		if !validCode(k, KindBytesMax) {
			return in, ledger.Errf(ledger.CodeInvalidRequest, "kind must be 1 to %d characters of a-z, 0-9 and '-'", KindBytesMax).At("kinds[" + strconv.Itoa(i) + "]")
		}
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	in.Kinds = kinds
	if in.Status == "" {
		in.Status = "active"
	}
	if in.Status != "active" && in.Status != "suspended" {
		return in, ledger.Errf(ledger.CodeInvalidRequest, "status must be active or suspended").At("status")
	}
	in.Name = strings.TrimSpace(in.Name)
	return in, nil
}

// RegisterOperator registers an operator or updates its name, kinds and
// status (province only). Every change is in the trail.
func RegisterOperator(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in OperatorInput) (Operator, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Operator{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.operator.register", in, func(w *ledger.Writer) (Operator, error) {
		v, err := in.validate()
		if err != nil {
			return Operator{}, err
		}
		return upsertOperator(w, actor, v, false)
	})
}

// upsertOperator writes the operator; with onlyInsert (the seed) an
// existing one is left as it is, and no event is recorded.
func upsertOperator(w *ledger.Writer, actor ledger.Actor, in OperatorInput, onlyInsert bool) (Operator, error) {
	conflict := `DO UPDATE SET name = excluded.name, kinds = excluded.kinds, status = excluded.status, updated_at = excluded.updated_at`
	if onlyInsert {
		conflict = `DO NOTHING`
	}
	if _, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO points_operators (id, name, kinds, status, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) `+conflict, in.ID, in.Name, in.Kinds, in.Status, actor.ID(), w.Now()); err != nil {
		return Operator{}, err
	}
	o, err := getOperator(w.Ctx(), w.Tx(), in.ID)
	if err != nil || onlyInsert {
		return o, err
	}
	return o, w.Trail("points", "operator:"+o.ID, "operator.registered", actor, "", in, nil)
}

const operatorColumns = `id, name, kinds, status, created_by, created_at, updated_at`

func scanOperator(r pgx.Row) (Operator, error) {
	var o Operator
	err := r.Scan(&o.ID, &o.Name, &o.Kinds, &o.Status, &o.CreatedBy, &o.CreatedAt, &o.UpdatedAt)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

func getOperator(ctx context.Context, q pgx.Tx, id string) (Operator, error) {
	o, err := scanOperator(q.QueryRow(ctx, `SELECT `+operatorColumns+` FROM points_operators WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ledger.Errf(ledger.CodeNotFound, "operator %s is not registered", id)
	}
	return o, err
}

// ListOperators returns every registered operator.
func ListOperators(ctx context.Context, l *ledger.Ledger) ([]Operator, error) {
	return readAll(ctx, l, scanOperator, `SELECT `+operatorColumns+` FROM points_operators ORDER BY id`)
}

// ---- donation pools ------------------------------------------------------

// DonationPool is an approved public-good pool citizens may donate to.
type DonationPool struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Account   string    `json:"account"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// PoolInput approves a donation pool.
type PoolInput struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CreateDonationPool approves a donation pool (province only).
func CreateDonationPool(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in PoolInput) (DonationPool, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return DonationPool{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.pool.create", in, func(w *ledger.Writer) (DonationPool, error) {
		return insertPool(w, actor, in, false)
	})
}

func insertPool(w *ledger.Writer, actor ledger.Actor, in PoolInput, seed bool) (DonationPool, error) {
	if !validCode(in.ID, 64) {
		return DonationPool{}, ledger.Errf(ledger.CodeInvalidRequest, "id must be 1 to 64 characters of a-z, 0-9 and '-'").At("id")
	}
	if err := validText(in.Name, TitleBytesMax); err != nil {
		return DonationPool{}, err.At("name")
	}
	tag, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO points_donation_pools (id, name, status, created_by, created_at) VALUES ($1, $2, 'approved', $3, $4)
		ON CONFLICT (id) DO NOTHING`, in.ID, strings.TrimSpace(in.Name), actor.ID(), w.Now())
	if err != nil {
		return DonationPool{}, err
	}
	if tag.RowsAffected() == 0 && !seed {
		return DonationPool{}, ledger.Errf(ledger.CodeConflict, "donation pool %s exists already", in.ID).At("id")
	}
	if err := w.OpenAccounts(DonationPoolAccount(in.ID)); err != nil {
		return DonationPool{}, err
	}
	if tag.RowsAffected() > 0 {
		if err := w.Trail("points", "pool:"+in.ID, "pool.approved", actor, "", in, nil); err != nil {
			return DonationPool{}, err
		}
	}
	return getPool(w.Ctx(), w.Tx(), in.ID)
}

const poolColumns = `id, name, status, created_by, created_at`

func scanPool(r pgx.Row) (DonationPool, error) {
	var p DonationPool
	err := r.Scan(&p.ID, &p.Name, &p.Status, &p.CreatedBy, &p.CreatedAt)
	p.Account, p.CreatedAt = DonationPoolAccount(p.ID), p.CreatedAt.UTC()
	return p, err
}

func getPool(ctx context.Context, q pgx.Tx, id string) (DonationPool, error) {
	p, err := scanPool(q.QueryRow(ctx, `SELECT `+poolColumns+` FROM points_donation_pools WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ledger.Errf(ledger.CodeNotFound, "donation pool %s not found", id)
	}
	return p, err
}

// ListDonationPools returns the approved pools.
func ListDonationPools(ctx context.Context, l *ledger.Ledger) ([]DonationPool, error) {
	return readAll(ctx, l, scanPool, `SELECT `+poolColumns+` FROM points_donation_pools WHERE status = 'approved' ORDER BY id`)
}

// ---- rewards -------------------------------------------------------------

// Reward is something citizens redeem points for.
type Reward struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Merchant    string    `json:"merchant"`
	PricePoints int64     `json:"price_points,string"`
	Stock       int64     `json:"stock,string"`
	Status      string    `json:"status"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// RewardInput publishes a reward. Numbers are decimal strings.
type RewardInput struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	PricePoints string `json:"price_points"`
	Stock       string `json:"stock"`
}

// CreateReward publishes a reward: by the province, or by a merchant (an
// enterprise, recorded as the reward's merchant).
func CreateReward(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in RewardInput) (Reward, bool, error) {
	if err := actor.Require(ledger.RoleProvince, ledger.RoleEnterprise); err != nil {
		return Reward{}, false, err
	}
	merchant := "province"
	if actor.Is(ledger.RoleEnterprise) {
		merchant = actor.Org
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.reward.create", in, func(w *ledger.Writer) (Reward, error) {
		return insertReward(w, actor, merchant, in, false)
	})
}

func insertReward(w *ledger.Writer, actor ledger.Actor, merchant string, in RewardInput, seed bool) (Reward, error) {
	if !validCode(in.ID, 64) {
		return Reward{}, ledger.Errf(ledger.CodeInvalidRequest, "id must be 1 to 64 characters of a-z, 0-9 and '-'").At("id")
	}
	if err := validText(in.Title, TitleBytesMax); err != nil {
		return Reward{}, err.At("title")
	}
	price, ok := parseCount(in.PricePoints, PricePointsMax)
	if !ok {
		return Reward{}, ledger.Errf(ledger.CodeInvalidAmount, "price_points must be a whole number from 1 to %d", PricePointsMax).At("price_points")
	}
	stock, ok := parseCount(in.Stock, StockMax)
	if !ok {
		return Reward{}, ledger.Errf(ledger.CodeInvalidAmount, "stock must be a whole number from 1 to %d", StockMax).At("stock")
	}
	tag, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO points_rewards (id, title, merchant, price_points, stock, status, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, 'active', $6, $7) ON CONFLICT (id) DO NOTHING`,
		in.ID, strings.TrimSpace(in.Title), merchant, price, stock, actor.ID(), w.Now())
	if err != nil {
		return Reward{}, err
	}
	if tag.RowsAffected() == 0 && !seed {
		return Reward{}, ledger.Errf(ledger.CodeConflict, "reward %s exists already", in.ID).At("id")
	}
	if err := w.OpenAccounts(ProgrammeRedeemed); err != nil {
		return Reward{}, err
	}
	if tag.RowsAffected() > 0 {
		if err := w.Trail("points", "reward:"+in.ID, "reward.published", actor, "", in, nil); err != nil {
			return Reward{}, err
		}
	}
	return getReward(w.Ctx(), w.Tx(), in.ID)
}

const rewardColumns = `id, title, merchant, price_points, stock, status, created_by, created_at`

func scanReward(r pgx.Row) (Reward, error) {
	var rw Reward
	err := r.Scan(&rw.ID, &rw.Title, &rw.Merchant, &rw.PricePoints, &rw.Stock, &rw.Status, &rw.CreatedBy, &rw.CreatedAt)
	rw.CreatedAt = rw.CreatedAt.UTC()
	return rw, err
}

func getReward(ctx context.Context, q pgx.Tx, id string) (Reward, error) {
	rw, err := scanReward(q.QueryRow(ctx, `SELECT `+rewardColumns+` FROM points_rewards WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return rw, ledger.Errf(ledger.CodeNotFound, "reward %s not found", id)
	}
	return rw, err
}

// GetReward returns one reward.
func GetReward(ctx context.Context, l *ledger.Ledger, id string) (Reward, error) {
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (Reward, error) { return getReward(r.Ctx(), r.Tx(), id) })
}

// ListRewards returns the active rewards, in id order.
func ListRewards(ctx context.Context, l *ledger.Ledger) ([]Reward, error) {
	return readAll(ctx, l, scanReward, `SELECT `+rewardColumns+` FROM points_rewards WHERE status = 'active' ORDER BY id`)
}
