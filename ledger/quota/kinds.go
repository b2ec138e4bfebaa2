package quota

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Index kinds (measure 9, issue 15). The index ledger is one workflow over
// several kinds, each its own engine asset: CEI (t CO2/yr, measure 11) and
// the pollutant totals COD, NH3N (NH3-N), NOX and VOCS (t/yr). A kind is
// configuration: a row of quota_index_kinds and an asset of family 'index'
// (migrations/0010_index_kinds.sql). Nothing in this package lists the
// kinds; a migration adds one.
const (
	KindCEI = "CEI" // the default kind of every route and record before issue 15
)

// Formulas of a kind's requirement.
const (
	FormulaCoefficient = "coefficient" // ceil(emissions × sector coefficient)
	FormulaRatio       = "ratio"       // ceil(emissions × replacement ratio of the city)
)

// IndexKind is one kind of index.
type IndexKind struct {
	Code      string    `json:"index_kind"`
	Name      string    `json:"name"`
	Unit      string    `json:"unit"`
	Scale     int32     `json:"scale"`
	Formula   string    `json:"formula"`
	Measure   string    `json:"measure"`
	SourceDoc string    `json:"source_doc"`
	ValidFrom time.Time `json:"valid_from"`
}

const kindColumns = `code, name, unit, formula, measure, source_doc, valid_from`

func scanKind(r pgx.Row) (IndexKind, error) {
	var k IndexKind
	err := r.Scan(&k.Code, &k.Name, &k.Unit, &k.Formula, &k.Measure, &k.SourceDoc, &k.ValidFrom)
	k.ValidFrom = k.ValidFrom.UTC()
	return k, err
}

// kindCode defaults "" to CEI, so that every route and input of before
// issue 15 keeps meaning CEI.
func kindCode(code string) string {
	if code == "" {
		return KindCEI
	}
	return code
}

// checkKind validates a kind code against the ledger's assets (loaded at
// New). The quota tables hold whole tonnes, so a kind's scale must be 0.
func checkKind(l *ledger.Ledger, code, field string) (string, error) {
	code = kindCode(code)
	if !l.IndexKindLoaded(ledger.Asset(code)) {
		return code, ledger.Errf(ledger.CodeInvalidRequest, "index kind %q is not configured", code).At(field)
	}
	if s, _ := l.AssetScale(ledger.Asset(code)); s != 0 {
		return code, ledger.Errf(ledger.CodeInvalidRequest, "index kind %q has scale %d; the quota tables hold whole tonnes", code, s).At(field)
	}
	return code, nil
}

// loadKind reads a kind's row; a kind without one is not configured.
func loadKind(ctx context.Context, tx pgx.Tx, code string) (IndexKind, error) {
	k, err := scanKind(tx.QueryRow(ctx, `SELECT `+kindColumns+` FROM quota_index_kinds WHERE code = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ledger.Errf(ledger.CodeInvalidRequest, "index kind %q is not configured", code).At("index_kind")
	}
	return k, err
}

// ListKinds lists the configured kinds with their scales. Public.
func ListKinds(ctx context.Context, l *ledger.Ledger) ([]IndexKind, error) {
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]IndexKind, error) {
		return kindsOf(r.Journal, l)
	})
}

func kindsOf(j ledger.Journal, l *ledger.Ledger) ([]IndexKind, error) {
	rows, err := j.Tx().Query(j.Ctx(), `SELECT `+kindColumns+` FROM quota_index_kinds ORDER BY code`)
	if err != nil {
		return nil, err
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (IndexKind, error) { return scanKind(r) })
	if l != nil {
		for i := range ks {
			ks[i].Scale, _ = l.AssetScale(ledger.Asset(ks[i].Code))
		}
	}
	return ks, err
}

// Account ids of a kind (the index family of ledger/chart.go).
func KindRecognitionAccount(kind string) string { return "province:" + kind + ":recognition" }
func KindConsumedAccount(kind string) string    { return "province:" + kind + ":consumed" }
func KindSourceAccount(kind, enterprise string) string {
	return "enterprise:" + enterprise + ":" + kind + ":source"
}
func KindProjectAccount(kind, project string) string {
	return "project:" + project + ":" + kind + ":allocated"
}

// KindReserveAccount is the account of a named reserve of a kind.
func KindReserveAccount(kind, name string) string {
	if name == ReserveProvince {
		return "province:" + kind + ":reserve"
	}
	return "city:" + name + ":" + kind + ":reserve"
}

// reserveKey is the quota_reserves row of a kind's reserve: CEI reserves
// keep the names they had before kinds ("province", "3704"); the others
// are "<KIND>:<reserve>".
func reserveKey(kind, name string) string {
	if kind == KindCEI {
		return name
	}
	return kind + ":" + name
}

// reserveOfKey splits a reserve key into its kind and public name.
func reserveOfKey(key string) (kind, name string) {
	if k, n, ok := strings.Cut(key, ":"); ok {
		return k, n
	}
	return KindCEI, key
}
