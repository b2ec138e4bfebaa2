package quota

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// seedValidFrom is when the default versions start: the reduction cut-off
// date, so that every decision the system can take finds a version.
var seedValidFrom = time.Date(2021, 1, 1, 0, 0, 0, 0, chinaTime)

// Default configuration written by Seed. The coefficient values 1.2 and 1.5
// are published [src]; which sector takes which, the split, the threshold
// and the price are illustrative [ill] until the official Shandong values
// are public, and the province replaces them with PublishConfig.
var seedConfig = []struct {
	kind, subject, value, doc string
}{
	{ConfigSplit, "", "50", "[ill] DOMAIN.md §5 step 10: 50:50 province:city, mirroring Shandong's energy-index stockpiling method; official value not yet public"},
	{ConfigThreshold, "", "1000000", "[ill] DOMAIN.md §5 step 11: applications above 1,000,000 t need the provincial government's approval; official value not yet public"},
	{ConfigPrice, "", "50.00", "[ill] illustrative price of paid reallocation (有偿使用), yuan per tonne; official price not yet public"},
	{ConfigMoveSettles, "", "0", moveSettlesDoc},
	{ConfigCoefficient, "steel", "1.5", coefficientDoc},
	{ConfigCoefficient, "coking", "1.5", coefficientDoc},
	{ConfigCoefficient, "cement", "1.5", coefficientDoc},
	{ConfigCoefficient, "flat_glass", "1.5", coefficientDoc},
	{ConfigCoefficient, "nonferrous", "1.5", coefficientDoc},
	{ConfigCoefficient, "coal_chemical", "1.5", coefficientDoc},
	{ConfigCoefficient, "refining", "1.2", coefficientDoc},
	{ConfigCoefficient, "basic_chemicals", "1.2", coefficientDoc},
	{ConfigCoefficient, "fertiliser", "1.2", coefficientDoc},
	{ConfigCoefficient, "tyres", "1.2", coefficientDoc},
	{ConfigCoefficient, "lime", "1.2", coefficientDoc},
	{ConfigCoefficient, "ceramics", "1.2", coefficientDoc},
	{ConfigCoefficient, "ferroalloy", "1.2", coefficientDoc},
	{ConfigCoefficient, "coal_power", "1.2", coefficientDoc},
}

// ratioKindConfig is the default of every kind of the ratio formula (the
// pollutant totals and any kind added later), all illustrative [ill].
var ratioKindConfig = []struct {
	kind, subject, value, doc string
}{
	{ConfigSplit, "", "50", "[ill] DOMAIN.md §5 step 10: 50:50 province:city, as for CEI; official value not yet public"},
	{ConfigThreshold, "", "10000", "[ill] DOMAIN.md §5 step 11: applications above 10,000 t/yr of one pollutant need the provincial government's approval"},
	{ConfigPrice, "", "2000.00", "[ill] illustrative price of paid use of a pollutant total (排污权有偿使用), yuan per t/yr"},
	{ConfigRatio, "", "1", "[ill] 倍量替代: 1 : 1 where air and water quality meet their targets"},
	{ConfigMoveSettles, "", "0", moveSettlesDoc},
}

const moveSettlesDoc = "[ill] DOMAIN.md §5 step 12: 0 = a project's move to another city does not repay the reserve of the city it left (the quota follows the project; the contribution stays spent); 1 = the new city's reserve repays it; official rule not yet public"

// ratioCityConfig are [ill] city ratios: 2 : 1 where air quality misses
// its target (DOMAIN.md §9). Written only when the kind exists.
var ratioCityConfig = []struct {
	indexKind, subject, value string
}{
	{"NOX", "3703", "2"}, {"VOCS", "3703", "2"},
}

const ratioCityDoc = "[ill] 倍量替代 2 : 1 in a city whose air quality misses its target (Zibo 3703 as the example); official list not yet public"

const coefficientDoc = "碳排放减量替代办法: new emissions × 1.2 or 1.5 [src]; the assignment of this sector is illustrative [ill]"

// Seed writes what the workflow needs before its first use, idempotently:
// the reserve rows and accounts of the province and the 16 cities, the
// issuer and sink accounts, and the default configuration versions (only
// for a kind and subject that has no version yet, so published versions
// are never overridden).
func Seed(ctx context.Context, l *ledger.Ledger) error {
	return l.Update(ctx, func(w *ledger.Writer) error {
		names := ReserveNames()
		accounts := []string{AccountRecognition, AccountConsumed, AccountRevenue, "external:CNY"}
		for _, n := range names {
			accounts = append(accounts, ReserveAccount(n))
		}
		if err := w.OpenAccounts(accounts...); err != nil {
			return err
		}
		ctx, tx := w.Ctx(), w.Tx()
		reserveAccts := make([]string, len(names))
		for i, n := range names {
			reserveAccts[i] = ReserveAccount(n)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO quota_reserves (name, account, reserve) SELECT n, a, n FROM unnest($1::TEXT[], $2::TEXT[]) AS v(n, a)
			ON CONFLICT (name) DO NOTHING`, names, reserveAccts); err != nil {
			return err
		}
		rows := make([]seedRow, 0, len(seedConfig))
		for _, c := range seedConfig {
			rows = append(rows, seedRow{KindCEI, c.kind, c.subject, c.value, c.doc})
		}
		kinds, err := kindsOf(w.Journal, nil)
		if err != nil {
			return err
		}
		for _, k := range kinds {
			if k.Formula != FormulaRatio {
				continue
			}
			if err := ensureReserves(w, kindReserveKeys(k.Code)); err != nil {
				return err
			}
			for _, c := range ratioKindConfig {
				rows = append(rows, seedRow{k.Code, c.kind, c.subject, c.value, c.doc})
			}
			for _, c := range ratioCityConfig {
				if c.indexKind == k.Code {
					rows = append(rows, seedRow{k.Code, ConfigRatio, c.subject, c.value, ratioCityDoc})
				}
			}
		}
		for _, c := range rows {
			if err := seedOne(w, c); err != nil {
				return err
			}
		}
		return nil
	})
}

type seedRow struct{ indexKind, kind, subject, value, doc string }

func kindReserveKeys(kind string) []string {
	var keys []string
	for _, n := range ReserveNames() {
		keys = append(keys, reserveKey(kind, n))
	}
	return keys
}

// seedOne writes a default version unless the kind and subject has one.
func seedOne(w *ledger.Writer, c seedRow) error {
	v := decimal.RequireFromString(c.value)
	var id uuid.UUID
	err := w.Tx().QueryRow(w.Ctx(), `
		INSERT INTO quota_config (id, kind, subject, value, valid_from, valid_to, source_doc, created_by, created_at, index_kind)
		SELECT $1::UUID, $2::TEXT, $3::TEXT, $4::NUMERIC, $5::TIMESTAMPTZ, NULL, $6::TEXT, $7::TEXT, $8::TIMESTAMPTZ, $9::TEXT
		WHERE NOT EXISTS (SELECT 1 FROM quota_config WHERE kind = $2 AND subject = $3 AND index_kind = $9)
		ON CONFLICT (index_kind, kind, subject, valid_from) DO NOTHING RETURNING id`,
		ledger.NewID(), c.kind, c.subject, v, seedValidFrom, c.doc, ledger.SystemActor.ID(), w.Now(), c.indexKind).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // already seeded
	}
	if err != nil {
		return err
	}
	detail := map[string]string{
		"kind": c.kind, "subject": c.subject, "value": c.value, "valid_from": seedValidFrom.UTC().Format(time.RFC3339), "source_doc": c.doc,
	}
	if c.indexKind != KindCEI {
		detail["index_kind"] = c.indexKind
	}
	return record(w, ledger.SystemActor, subjectConfig, id, "config.seeded", "default version written by the quota seed", detail, nil)
}
