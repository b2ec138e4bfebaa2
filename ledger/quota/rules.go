package quota

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Domain error codes. The API maps unknown codes to 422.
const (
	CodeOutsideShandong     ledger.Code = "outside_shandong"
	CodeFormedTooEarly      ledger.Code = "formed_before_cutoff"
	CodeGapExceeded         ledger.Code = "gap_exceeded"
	CodeInsufficientReserve ledger.Code = "insufficient_reserve"
	CodeMakerChecker        ledger.Code = "maker_checker"
	CodeDuplicateSource     ledger.Code = "duplicate_source"
	CodeConfigMissing       ledger.Code = "config_missing"
	CodeProjectConflict     ledger.Code = "project_conflict"
)

// CodeInvalidState is a step taken in the wrong state (deciding twice,
// consuming a recovered allocation): the engine's conflict code, 409.
const CodeInvalidState = ledger.CodeConflict

// ReserveProvince names the provincial reserve; city reserves are named by
// their city code.
const ReserveProvince = "province"

// Named limits.
const (
	ReasonBytesMax      = 512
	RefBytesMax         = 256
	DrawsPerDecisionMax = 17 // one per reserve
	TranchePiecesMax    = 1000
	ReportRowsMax       = 10000
	percentMax          = 100
	coefficientMax      = 10
	formedCutoffISO     = "2021-01-01"
	dateLayout          = "2006-01-02"
)

// FormedCutoff is the earliest date a reduction may have formed: the
// reduction-replacement rule counts reductions formed inside Shandong after
// 2021-01-01 [src: DOMAIN.md §1].
var FormedCutoff = mustDate(formedCutoffISO)

// chinaTime is UTC+8 without DST; a fixed zone needs no tzdata.
var chinaTime = time.FixedZone("CST", 8*3600)

// shandongCities are the 16 prefecture-level cities (see the package doc).
var shandongCities = map[string]string{
	"3701": "Jinan", "3702": "Qingdao", "3703": "Zibo", "3704": "Zaozhuang",
	"3705": "Dongying", "3706": "Yantai", "3707": "Weifang", "3708": "Jining",
	"3709": "Tai'an", "3710": "Weihai", "3711": "Rizhao", "3713": "Linyi",
	"3714": "Dezhou", "3715": "Liaocheng", "3716": "Binzhou", "3717": "Heze",
}

// ShandongCity reports whether code is a Shandong prefecture-level city.
func ShandongCity(code string) bool { _, ok := shandongCities[code]; return ok }

// Cities returns the Shandong city codes in order.
func Cities() []string {
	out := make([]string, 0, len(shandongCities))
	for c := range shandongCities {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// CityName returns the English name of a Shandong city code.
func CityName(code string) string { return shandongCities[code] }

// Routes by which an index source is freed (DOMAIN.md §5 step 9).
var routes = []string{
	"closure",              // 关停
	"production_switch",    // 转产
	"backward_elimination", // 淘汰落后产能
	"excess_capacity_cut",  // 压减过剩产能
	"relocation",           // 产能搬迁
	"nuclear_replacement",  // 核电替代煤电
	"key_reduction_work",   // 重点减排工程 (measure 9): a verified work of the list
	"other",
}

// Routes lists the valid routes.
func Routes() []string { return slices.Clone(routes) }

// ValidRoute reports whether r is a known route.
func ValidRoute(r string) bool { return slices.Contains(routes, r) }

// ReserveNames lists every reserve: the province first, then the cities.
func ReserveNames() []string { return append([]string{ReserveProvince}, Cities()...) }

// ValidReserve reports whether name is the province or a Shandong city.
func ValidReserve(name string) bool { return name == ReserveProvince || ShandongCity(name) }

// ReserveAccount is the CEI account of a named reserve.
func ReserveAccount(name string) string { return KindReserveAccount(KindCEI, name) }

// keyAccount is the account of a reserve key (see reserveKey).
func keyAccount(key string) string { return KindReserveAccount(reserveOfKey(key)) }

// keyName is the public name of a reserve key ("province", "3703").
func keyName(key string) string { _, n := reserveOfKey(key); return n }

// Account ids of the chart (ledger/chart.go) this package posts to.
const (
	AccountRecognition = "province:CEI:recognition"
	AccountConsumed    = "province:CEI:consumed"
	AccountRevenue     = "province:CNY:revenue"
)

// SourceAccount is an enterprise's account of recognised, unstockpiled indices.
func SourceAccount(enterprise string) string { return "enterprise:" + enterprise + ":CEI:source" }

// ProjectAccount holds the indices allocated to a project.
func ProjectAccount(project string) string { return "project:" + project + ":CEI:allocated" }

// parseTonnes parses a positive whole number of tonnes.
func parseTonnes(s, field string) (decimal.Decimal, error) {
	d, err := ledger.ParsePositiveAmount(ledger.AssetCEI, s)
	if err != nil {
		return d, withField(err, field)
	}
	return d, nil
}

// parseTonnesOrZero parses a non-negative whole number of tonnes; "" is 0.
func parseTonnesOrZero(s, field string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Zero, nil
	}
	d, err := ledger.ParseAmount(ledger.AssetCEI, s)
	if err != nil {
		return d, withField(err, field)
	}
	return d, nil
}

// parseSignedTonnes parses a non-zero signed whole number of tonnes.
func parseSignedTonnes(s, field string) (decimal.Decimal, error) {
	d, err := ledger.ParseSignedAmount(ledger.AssetCEI, s)
	if err != nil {
		return d, withField(err, field)
	}
	if d.IsZero() {
		return d, ledger.Errf(ledger.CodeInvalidAmount, "a correction moves a non-zero number of tonnes").At(field)
	}
	return d, nil
}

func withField(err error, field string) error {
	if e, ok := ledger.AsError(err); ok {
		return e.At(field)
	}
	return err
}

func tonnesText(d decimal.Decimal) string { return ledger.FormatAmount(ledger.AssetCEI, d) }
func yuanText(d decimal.Decimal) string   { return ledger.FormatAmount(ledger.AssetCNY, d) }

// parseDate parses a calendar date (YYYY-MM-DD).
func parseDate(s, field string) (time.Time, error) {
	d, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, ledger.Errf(ledger.CodeInvalidRequest, "date must be YYYY-MM-DD").At(field)
	}
	return d, nil
}

func mustDate(s string) time.Time {
	d, err := time.Parse(dateLayout, s)
	if err != nil {
		panic(err)
	}
	return d
}

// checkFormed refuses reductions formed before the cut-off or in the future
// (on the China calendar day of now).
func checkFormed(formed, now time.Time) error {
	if formed.Before(FormedCutoff) {
		return ledger.Errf(CodeFormedTooEarly, "reductions formed before %s do not count", formedCutoffISO).At("formed_on")
	}
	today := now.In(chinaTime)
	todayDate := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	if formed.After(todayDate) {
		return ledger.Errf(ledger.CodeInvalidRequest, "a reduction cannot have formed in the future").At("formed_on")
	}
	return nil
}

// checkText validates a free-text field: required or not, at most max bytes
// of valid UTF-8 without control characters.
func checkText(s, field string, required bool, max int) error {
	if required && strings.TrimSpace(s) == "" {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s is required", field).At(field)
	}
	if len(s) > max || !utf8.ValidString(s) {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s must be valid text of at most %d bytes", field, max).At(field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return ledger.Errf(ledger.CodeInvalidRequest, "%s may not contain control characters", field).At(field)
		}
	}
	return nil
}

func checkIdent(s, field string) error {
	if !ledger.ValidIdent(s) {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s must be 1 to 64 characters of letters, digits, '_', '-' and '.'", field).At(field)
	}
	return nil
}

// Gap is the reduction-replacement arithmetic of one application.
type Gap struct {
	Required decimal.Decimal // ceil(emissions × coefficient)
	Gap      decimal.Decimal // required − own sources
}

// ComputeGap returns required = ceil(emissions × coefficient) and
// gap = required − own. Rounding up means the project covers at least what
// the rule asks.
func ComputeGap(emissions, coefficient, own decimal.Decimal) Gap {
	req := emissions.Mul(coefficient).Ceil()
	return Gap{Required: req, Gap: req.Sub(own)}
}

// SplitStockpile divides tonnes between the province (floor of its
// percentage) and the city reserve (the rest).
func SplitStockpile(tonnes, provincePercent decimal.Decimal) (province, city decimal.Decimal) {
	province = tonnes.Mul(provincePercent).Div(decimal.NewFromInt(percentMax)).Floor()
	return province, tonnes.Sub(province)
}

// EmissionsBreakdown is the project-emissions formula of the companion
// rule: fuel combustion + industrial process + net purchased electricity
// and heat − CO2 recovered [src: DOMAIN.md §1]. All whole tonnes per year.
type EmissionsBreakdown struct {
	FuelCombustion    string `json:"fuel_combustion"`
	IndustrialProcess string `json:"industrial_process"`
	NetPurchasedPower string `json:"net_purchased_power_heat"`
	CO2Recovered      string `json:"co2_recovered"`
}

// Total evaluates the formula.
func (b EmissionsBreakdown) Total() (decimal.Decimal, error) {
	var parts [4]decimal.Decimal
	for i, f := range []struct{ v, name string }{
		{b.FuelCombustion, "fuel_combustion"}, {b.IndustrialProcess, "industrial_process"},
		{b.NetPurchasedPower, "net_purchased_power_heat"}, {b.CO2Recovered, "co2_recovered"},
	} {
		d, err := parseTonnesOrZero(f.v, "emissions_breakdown."+f.name)
		if err != nil {
			return d, err
		}
		parts[i] = d
	}
	return parts[0].Add(parts[1]).Add(parts[2]).Sub(parts[3]), nil
}
