package points

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// SeedValidFrom is when the seeded default versions take effect.
var SeedValidFrom = time.Date(2021, 1, 1, 0, 0, 0, 0, chinaTime)

var seedActor = ledger.Actor{Sub: "seed", Role: ledger.SystemRole}

// defaultMethodologies are the defaults of DOMAIN.md §5. Values marked
// [src] come from a published source, [ill] ones are illustrative until
// the official Shandong values are published; both are configuration the
// province replaces by publishing a new version.
func defaultMethodologies() []Methodology {
	d := decimal.RequireFromString
	return []Methodology{
		{Code: "metro-km", Kind: "metro", Unit: "km", FactorGrams: d("211"), QuantityScale: 3, QuantityMax: d("200"),
			Source: "DOMAIN.md §5: metro ≈ 211 g CO2e per passenger-km, derived from Beijing MaaS green-travel figures [ill until Shandong publishes its factor]"},
		{Code: "metro-ride", Kind: "metro", Unit: "rides", FactorGrams: d("52"), QuantityScale: 0, QuantityMax: d("5"), DailyCapQuantity: d("5"),
			Source: "DOMAIN.md §5: 52 g per metro ride, at most 5 rides a day [src: Ant Forest]"},
		{Code: "bus-km", Kind: "bus", Unit: "km", FactorGrams: d("204"), QuantityScale: 3, QuantityMax: d("200"),
			Source: "DOMAIN.md §5: bus ≈ 204 g CO2e per passenger-km, derived from Beijing MaaS green-travel figures [ill until Shandong publishes its factor]"},
		{Code: "bus-ride", Kind: "bus", Unit: "rides", FactorGrams: d("80"), QuantityScale: 0, QuantityMax: d("5"),
			Source: "DOMAIN.md §5: 80 g per bus ride [src: Ant Forest]"},
		{Code: "walking-steps", Kind: "walking", Unit: "steps", FactorGrams: d("0.02"), QuantityScale: 0, QuantityMax: d("100000"), DailyCapGrams: 296,
			Source: "DOMAIN.md §5: walking 0.02 g CO2e per step [src], at most 296 g a day [src: Ant Forest]"},
		{Code: "cycling-km", Kind: "cycling", Unit: "km", FactorGrams: d("60"), QuantityScale: 3, QuantityMax: d("100"),
			Source: "Illustrative default: 60 g CO2e per shared-bike km [ill; no published Shandong or DOMAIN.md figure yet, replace by publishing a new version]"},
	}
}

// Seeded windows: claim within 7 days [src: Beijing]; points valid 2 years
// [ill] (at most 10 years [src: Shenzhen]).
const (
	seedClaimWindowDays = 7
	seedValidityDays    = 730
)

func withWindows(ms []Methodology) []Methodology {
	for i := range ms {
		ms[i].ClaimWindowDays, ms[i].ValidityDays, ms[i].ValidFrom = seedClaimWindowDays, seedValidityDays, SeedValidFrom.UTC()
	}
	return ms
}

// defaultRules are the programme rules of DOMAIN.md §5 and §9. A person is
// on one vehicle at a time: the travel modes form one exclusivity group
// (Wuhan credits each travel path exclusively; Shanghai excludes
// reductions already counted elsewhere). The tolerance absorbs the clock
// skew between operators' readers, and steps are a phone's day total.
func defaultRules() ProgrammeRules {
	return ProgrammeRules{DailyCapGrams: 3000, ReportingWindowDays: 7, OverlapToleranceSeconds: 60,
		ExclusivityGroups: []ExclusivityGroup{{Name: "travel", Kinds: []string{"bus", "cycling", "metro"}}},
		DailyTotalKinds:   []string{"walking"}, ValidFrom: SeedValidFrom.UTC(),
		Source: "DOMAIN.md §5: all-behaviour daily cap per citizen 3,000 g [ill]; reporting window 7 days [ill]; " +
			"one body, one vehicle: bus, cycling and metro are one exclusivity group [src: Wuhan credits each travel path exclusively, " +
			"Shanghai excludes reductions counted elsewhere]; overlap tolerance 60 s for clock skew [ill]; " +
			"walking steps are a per-day phone total, the largest report of the day counts [ill]"}
}

// Seed writes the default configuration and demo data: the methodologies
// and programme rules of DOMAIN.md §5, operators metro-jinan (metro, bus),
// bikeshare-qd (cycling) and tanhui-app (walking), citizens C1, C2 and C3
// entrusting all three, the donation pool trees-2026 and two rewards. It
// is idempotent: running it again changes nothing.
func Seed(ctx context.Context, l *ledger.Ledger) error {
	return l.Update(ctx, func(w *ledger.Writer) error {
		if err := ensureProgrammeAccounts(w); err != nil {
			return err
		}
		for _, m := range withWindows(defaultMethodologies()) {
			if _, err := insertMethodology(w, seedActor, m, true); err != nil {
				return fmt.Errorf("seed methodology %s: %w", m.Code, err)
			}
		}
		if _, err := insertRules(w, seedActor, defaultRules(), true); err != nil {
			return err
		}
		for _, o := range []OperatorInput{
			{ID: "metro-jinan", Name: "Jinan Rail Transit", Kinds: []string{"bus", "metro"}, Status: "active"},
			{ID: "bikeshare-qd", Name: "Qingdao bike share", Kinds: []string{"cycling"}, Status: "active"},
			{ID: "tanhui-app", Name: "碳惠山东 app", Kinds: []string{"walking"}, Status: "active"},
		} {
			if _, err := upsertOperator(w, seedActor, o, true); err != nil {
				return err
			}
		}
		citizens := []string{"C1", "C2", "C3"}
		if err := ensureCitizens(w, seedActor, citizens); err != nil {
			return err
		}
		if err := entrustAll(w, citizens, []string{"metro-jinan", "bikeshare-qd", "tanhui-app"}); err != nil {
			return err
		}
		if _, err := insertPool(w, seedActor, PoolInput{ID: "trees-2026", Name: "Tree planting 2026"}, true); err != nil {
			return err
		}
		for _, r := range []RewardInput{
			{ID: "metro-day-pass", Title: "Jinan metro day pass", PricePoints: "5000", Stock: "1000"},
			{ID: "bus-ticket", Title: "Single bus ticket", PricePoints: "1500", Stock: "10000"},
		} {
			if _, err := insertReward(w, seedActor, "province", r, true); err != nil {
				return err
			}
		}
		return nil
	})
}
