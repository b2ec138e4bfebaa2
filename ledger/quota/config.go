package quota

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Configuration kinds (see migrations/0004_quota.sql).
const (
	ConfigSplit       = "split"       // province's percentage of a stockpiling
	ConfigCoefficient = "coefficient" // sector coefficient; subject = sector
	ConfigThreshold   = "threshold"   // tonnes above which the government approves
	ConfigPrice       = "price"       // yuan per tonne of paid reallocation
	ConfigRatio       = "ratio"       // replacement ratio 倍量替代; subject = city code or "" (province-wide)
	// ConfigMoveSettles: 1 when a project's move makes the city it moves
	// to repay the reserve of the city it left for that city's
	// contribution to the project's live allocations, 0 when it does not.
	ConfigMoveSettles = "move_settles_reserve"
)

var configKinds = []string{ConfigSplit, ConfigCoefficient, ConfigThreshold, ConfigPrice, ConfigRatio, ConfigMoveSettles}

// ConfigVersion is one version of one configuration value.
type ConfigVersion struct {
	ID        uuid.UUID  `json:"id"`
	IndexKind string     `json:"index_kind"`
	Kind      string     `json:"kind"`
	Subject   string     `json:"subject,omitempty"`
	Value     string     `json:"value"`
	ValidFrom time.Time  `json:"valid_from"`
	ValidTo   *time.Time `json:"valid_to,omitempty"`
	SourceDoc string     `json:"source_doc"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
}

type configRow struct {
	ConfigVersion
	value decimal.Decimal
}

const configColumns = `id, kind, subject, value, valid_from, valid_to, source_doc, created_by, created_at, index_kind`

func scanConfig(r pgx.Row) (configRow, error) {
	var c configRow
	err := r.Scan(&c.ID, &c.Kind, &c.Subject, &c.value, &c.ValidFrom, &c.ValidTo, &c.SourceDoc, &c.CreatedBy, &c.CreatedAt, &c.IndexKind)
	if err != nil {
		return c, err
	}
	c.Value = c.value.String()
	c.ValidFrom, c.CreatedAt = c.ValidFrom.UTC(), c.CreatedAt.UTC()
	if c.ValidTo != nil {
		t := c.ValidTo.UTC()
		c.ValidTo = &t
	}
	return c, nil
}

// configAt returns the CEI version of kind/subject in force at the ledger clock.
func configAt(w *ledger.Writer, kind, subject string) (configRow, error) {
	return configOf(w, KindCEI, kind, subject)
}

// ratioOf is the replacement ratio of an index kind for a city: the
// city's own version, else the province-wide one (subject "").
func ratioOf(w *ledger.Writer, indexKind, city string) (configRow, error) {
	c, err := configOf(w, indexKind, ConfigRatio, city)
	if ledger.ErrorCode(err) == CodeConfigMissing {
		return configOf(w, indexKind, ConfigRatio, "")
	}
	return c, err
}

// configOf returns the version of an index kind's kind/subject in force
// at the ledger clock.
func configOf(w *ledger.Writer, indexKind, kind, subject string) (configRow, error) {
	now := w.Now()
	c, err := scanConfig(w.Tx().QueryRow(w.Ctx(), `
		SELECT `+configColumns+` FROM quota_config
		WHERE kind = $1 AND subject = $2 AND valid_from <= $3 AND (valid_to IS NULL OR valid_to > $3) AND index_kind = $4
		ORDER BY valid_from DESC LIMIT 1`, kind, subject, now, indexKind))
	if errors.Is(err, pgx.ErrNoRows) {
		what := indexKind + " " + kind
		if subject != "" {
			what += " for " + subject
		}
		return c, ledger.Errf(CodeConfigMissing, "no %s configuration is in force at %s", what, now.Format(time.RFC3339))
	}
	return c, err
}

// PublishConfigInput publishes a new version of a configuration value.
type PublishConfigInput struct {
	Kind      string `json:"kind"`
	Subject   string `json:"subject,omitempty"` // the sector, for coefficients
	Value     string `json:"value"`
	ValidFrom string `json:"valid_from"` // RFC 3339; not before now
	SourceDoc string `json:"source_doc"`
	Reason    string `json:"reason"`
	IndexKind string `json:"index_kind,omitempty"` // "" is CEI
}

// PublishConfig adds a version (province only). Versions are never
// rewritten, except that the version open at the new valid_from is closed
// there, so that exactly one version is in force at any time after it.
// Decisions already taken keep the id of the version they used.
func PublishConfig(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in PublishConfigInput) (ConfigVersion, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ConfigVersion{}, false, err
	}
	value, from, err := validateConfig(in)
	if err != nil {
		return ConfigVersion{}, false, err
	}
	idx, err := checkKind(l, in.IndexKind, "index_kind")
	if err != nil {
		return ConfigVersion{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.config.publish", in, func(w *ledger.Writer) (ConfigVersion, error) {
		if from.Before(w.Now()) {
			return ConfigVersion{}, ledger.Errf(ledger.CodeInvalidRequest, "a version cannot start in the past: decisions already taken used the version then in force").At("valid_from")
		}
		ctx, tx := w.Ctx(), w.Tx()
		if err := checkConfigFormula(w, idx, in.Kind); err != nil {
			return ConfigVersion{}, err
		}
		rows, err := tx.Query(ctx, `SELECT `+configColumns+` FROM quota_config WHERE kind = $1 AND subject = $2 AND index_kind = $3 ORDER BY valid_from FOR UPDATE`, in.Kind, in.Subject, idx)
		if err != nil {
			return ConfigVersion{}, err
		}
		existing, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (configRow, error) { return scanConfig(r) })
		if err != nil {
			return ConfigVersion{}, err
		}
		for _, c := range existing {
			if !c.ValidFrom.Before(from) {
				return ConfigVersion{}, ledger.Errf(ledger.CodeConflict, "version %s already starts at %s; a new version must start later", c.ID, c.ValidFrom.Format(time.RFC3339)).At("valid_from")
			}
		}
		if _, err := tx.Exec(ctx, `
			UPDATE quota_config SET valid_to = $3
			WHERE kind = $1 AND subject = $2 AND valid_from < $3 AND (valid_to IS NULL OR valid_to > $3) AND index_kind = $4`, in.Kind, in.Subject, from, idx); err != nil {
			return ConfigVersion{}, err
		}
		c := ConfigVersion{ID: ledger.NewID(), IndexKind: idx, Kind: in.Kind, Subject: in.Subject, Value: value.String(),
			ValidFrom: from, SourceDoc: in.SourceDoc, CreatedBy: actor.ID(), CreatedAt: w.Now()}
		if _, err := tx.Exec(ctx, `
			INSERT INTO quota_config (`+configColumns+`) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9)`,
			c.ID, c.Kind, c.Subject, value, c.ValidFrom, c.SourceDoc, c.CreatedBy, c.CreatedAt, idx); err != nil {
			return ConfigVersion{}, err
		}
		detail := map[string]string{
			"kind": c.Kind, "subject": c.Subject, "value": c.Value, "valid_from": c.ValidFrom.Format(time.RFC3339), "source_doc": c.SourceDoc,
		}
		if idx != KindCEI {
			detail["index_kind"] = idx
		}
		return c, record(w, actor, subjectConfig, c.ID, "config.published", in.Reason, detail, nil)
	})
}

func validateConfig(in PublishConfigInput) (decimal.Decimal, time.Time, error) {
	var zero decimal.Decimal
	if !slices.Contains(configKinds, in.Kind) {
		return zero, time.Time{}, ledger.Errf(ledger.CodeInvalidRequest, "kind must be one of %v", configKinds).At("kind")
	}
	if in.Kind == ConfigRatio {
		if in.Subject != "" && !ShandongCity(in.Subject) {
			return zero, time.Time{}, ledger.Errf(ledger.CodeInvalidRequest, "a ratio's subject is a Shandong city code, or empty for the province-wide ratio").At("subject")
		}
	} else if in.Kind == ConfigCoefficient {
		if err := checkIdent(in.Subject, "subject"); err != nil {
			return zero, time.Time{}, err
		}
	} else if in.Subject != "" {
		return zero, time.Time{}, ledger.Errf(ledger.CodeInvalidRequest, "only coefficients have a subject (the sector)").At("subject")
	}
	if err := checkText(in.SourceDoc, "source_doc", true, ReasonBytesMax); err != nil {
		return zero, time.Time{}, err
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return zero, time.Time{}, err
	}
	from, err := time.Parse(time.RFC3339, in.ValidFrom)
	if err != nil {
		return zero, time.Time{}, ledger.Errf(ledger.CodeInvalidRequest, "valid_from must be an RFC 3339 time").At("valid_from")
	}
	from = from.UTC().Truncate(time.Microsecond)
	v, err := parseConfigValue(in.Kind, in.Value)
	return v, from, err
}

// parseConfigValue checks a value against its kind's range and scale.
func parseConfigValue(kind, s string) (decimal.Decimal, error) {
	bad := func(msg string) error { return ledger.Errf(ledger.CodeInvalidRequest, "%s", msg).At("value") }
	switch kind {
	case ConfigThreshold:
		return parseTonnes(s, "value")
	case ConfigPrice:
		d, err := ledger.ParseAmount(ledger.AssetCNY, s)
		if err != nil {
			return d, withField(err, "value")
		}
		return d, nil
	case ConfigMoveSettles:
		if s != "0" && s != "1" {
			return decimal.Zero, bad("move_settles_reserve is 1 (a move settles the reserve contribution) or 0 (it does not)")
		}
		return decimal.RequireFromString(s), nil
	}
	// Ratios: plain decimals with at most 6 places (NUMERIC(20,6)).
	d, err := parseRatio(s)
	if err != nil {
		return d, bad("value must be a plain decimal with at most 6 decimals")
	}
	switch kind {
	case ConfigSplit:
		if d.GreaterThan(decimal.NewFromInt(percentMax)) {
			return d, bad("a split is the province's percentage, 0 to 100")
		}
	case ConfigCoefficient, ConfigRatio:
		if d.LessThan(decimal.NewFromInt(1)) || d.GreaterThan(decimal.NewFromInt(coefficientMax)) {
			return d, bad("a sector coefficient or replacement ratio is between 1 and 10")
		}
	}
	return d, nil
}

func parseRatio(s string) (decimal.Decimal, error) {
	if len(s) == 0 || len(s) > 20 {
		return decimal.Zero, errors.New("length")
	}
	dot, frac := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if dot {
				frac++
			}
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return decimal.Zero, errors.New("syntax")
		}
	}
	if frac > 6 {
		return decimal.Zero, errors.New("scale")
	}
	return decimal.NewFromString(s)
}

// checkConfigFormula: coefficients belong to kinds of the coefficient
// formula (CEI), ratios to kinds of the ratio formula (the pollutants).
func checkConfigFormula(w *ledger.Writer, idx, kind string) error {
	k, err := loadKind(w.Ctx(), w.Tx(), idx)
	if err != nil {
		return err
	}
	if (kind == ConfigCoefficient && k.Formula != FormulaCoefficient) || (kind == ConfigRatio && k.Formula != FormulaRatio) {
		return ledger.Errf(ledger.CodeInvalidRequest, "index kind %s computes its requirement by %s; it has no %s", idx, k.Formula, kind).At("kind")
	}
	return nil
}

// ListConfig lists the versions in force at the ledger clock, or with
// all=true every version ever published. The configuration is public.
// ListConfig lists CEI's (the route of before kinds); ListKindConfig
// another kind's.
func ListConfig(ctx context.Context, l *ledger.Ledger, all bool) ([]ConfigVersion, error) {
	return ListKindConfig(ctx, l, KindCEI, all)
}

// ListKindConfig lists the configuration of one index kind.
// "" is CEI.
func ListKindConfig(ctx context.Context, l *ledger.Ledger, indexKind string, all bool) ([]ConfigVersion, error) {
	indexKind, err := checkKind(l, indexKind, "index_kind")
	if err != nil {
		return nil, err
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]ConfigVersion, error) {
		rows, err := r.Tx().Query(ctx, `
			SELECT `+configColumns+` FROM quota_config
			WHERE ($1 OR (valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2))) AND index_kind = $3
			ORDER BY kind, subject, valid_from`, all, l.Now(), indexKind)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConfigVersion, error) {
			c, err := scanConfig(r)
			return c.ConfigVersion, err
		})
	})
}
