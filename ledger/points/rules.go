package points

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Named limits (TIGER_STYLE): every list and text has a bound.
const (
	RecordsPerBatchMax       = ledger.TransactionsPerBatchMax
	RecordIDBytesMax         = 128
	KindBytesMax             = 32
	UnitBytesMax             = 16
	SourceBytesMax           = 1000
	TitleBytesMax            = 200
	CaseRefBytesMax          = 128
	ReasonBytesMax           = 500
	QuantityTextBytesMax     = 24
	KindsPerOperatorMax      = 32
	ClawbackBehavioursMax    = 500
	FactorGramsMax           = 1_000_000 // per unit
	QuantityScaleMax         = 3
	ClaimWindowDaysMax       = 30
	ValidityDaysMax          = 3650 // 10 years [src: Shenzhen]
	ReportingWindowDaysMax   = 90
	PricePointsMax           = 100_000_000
	StockMax                 = 100_000_000
	DonationPointsMax        = 100_000_000
	ExpireCitizensPerCallMax = ledger.TransactionsPerBatchMax
	ExclusivityGroupsMax     = 8
	GroupNameBytesMax        = 32
	// OverlapToleranceSecondsMax bounds the configured tolerance (and with
	// IntervalMax the range the overlap query reads).
	OverlapToleranceSecondsMax = 600
	// IntervalMax is the longest interval a record may carry: a trip or a
	// bike rental, or a day's step count.
	IntervalMax = 24 * time.Hour

	// FutureSkewMax is how far in the future a behaviour's time may be
	// (operators' clocks drift).
	FutureSkewMax = 5 * time.Minute
	// ValidFromSkewMax is how far in the past a new version's valid_from may
	// be: versions take effect from now on, never retroactively.
	ValidFromSkewMax = time.Minute
	// ExpiringSoonWindow is what /v1/me reports as "expiring soon".
	ExpiringSoonWindow = 30 * 24 * time.Hour
)

// Domain error codes (the API maps unknown codes to 422).
const (
	CodeDuplicate         ledger.Code = "duplicate"
	CodeCapReached        ledger.Code = "cap_reached"
	CodeUnknownCitizen    ledger.Code = "unknown_citizen"
	CodeNotEntrusted      ledger.Code = "not_entrusted"
	CodeKindNotAllowed    ledger.Code = "kind_not_allowed"
	CodeNoMethodology     ledger.Code = "no_methodology"
	CodeTimeOutOfWindow   ledger.Code = "time_out_of_window"
	CodeQuantityRange     ledger.Code = "quantity_out_of_range"
	CodeBelowOneGram      ledger.Code = "below_one_gram"
	CodeOperatorInactive  ledger.Code = "operator_inactive"
	CodeNothingToClaim    ledger.Code = "nothing_to_claim"
	CodeClaimWindowClosed ledger.Code = "claim_window_closed"
	CodeOutOfStock        ledger.Code = "out_of_stock"
	CodeRewardWithdrawn   ledger.Code = "reward_withdrawn"
	CodePoolNotApproved   ledger.Code = "pool_not_approved"
	CodeNotTransferable   ledger.Code = "points_not_transferable"
	CodeAlreadyClawedBack ledger.Code = "already_clawed_back"
)

// Record statuses in a batch result.
const (
	StatusCredited   = "credited"
	StatusDuplicate  = "duplicate"
	StatusCapReached = "cap_reached"
	StatusRejected   = "rejected"
)

// Cap reasons, in the order the caps apply.
const (
	CapDailyQuantity = "daily_quantity_cap"
	CapRecord        = "record_cap"
	CapDailyKind     = "daily_kind_cap"
	CapDailyTotal    = "daily_total_cap"
)

// chinaTime is China Standard Time. China has no daylight saving, so a fixed
// zone is exact and needs no tzdata.
var chinaTime = time.FixedZone("CST", 8*60*60)

// Day is the calendar day (China Standard Time) of t, as "2006-01-02".
func Day(t time.Time) string { return t.In(chinaTime).Format("2006-01-02") }

// Period is the pool period (month, China Standard Time) of t: "2006-01".
func Period(t time.Time) string { return t.In(chinaTime).Format("2006-01") }

// Methodology is one version of a methodology.
type Methodology struct {
	ID               string          `json:"id"` // code + ".v" + version
	Code             string          `json:"code"`
	Version          int             `json:"version"`
	Kind             string          `json:"kind"`
	Unit             string          `json:"unit"`
	FactorGrams      decimal.Decimal `json:"factor_grams_per_unit"`
	QuantityScale    int32           `json:"quantity_scale"`
	QuantityMax      decimal.Decimal `json:"quantity_max"`
	RecordCapGrams   int64           `json:"record_cap_grams,string"` // 0: none
	DailyCapGrams    int64           `json:"daily_cap_grams,string"`  // 0: none
	DailyCapQuantity decimal.Decimal `json:"daily_cap_quantity"`      // 0: none
	ClaimWindowDays  int             `json:"claim_window_days"`
	ValidityDays     int             `json:"validity_days"`
	ValidFrom        time.Time       `json:"valid_from"`
	ValidTo          *time.Time      `json:"valid_to,omitempty"`
	Source           string          `json:"source"`
	CreatedBy        string          `json:"created_by"`
	CreatedAt        time.Time       `json:"created_at"`
}

// IssuanceAccount is the methodology version's CO2E issuer.
func (m Methodology) IssuanceAccount() string { return "methodology:" + m.ID + ":CO2E:issuance" }

// Scope is the daily counter scope of the methodology's kind and unit.
func (m Methodology) Scope() string { return m.Kind + "/" + m.Unit }

// MethodologyInput is what the province publishes. Amounts are decimal
// strings; empty caps mean none. The version number is assigned.
type MethodologyInput struct {
	Code             string     `json:"code"`
	Kind             string     `json:"kind"`
	Unit             string     `json:"unit"`
	FactorGrams      string     `json:"factor_grams_per_unit"`
	QuantityScale    int        `json:"quantity_scale"`
	QuantityMax      string     `json:"quantity_max"`
	RecordCapGrams   string     `json:"record_cap_grams,omitempty"`
	DailyCapGrams    string     `json:"daily_cap_grams,omitempty"`
	DailyCapQuantity string     `json:"daily_cap_quantity,omitempty"`
	ClaimWindowDays  int        `json:"claim_window_days"`
	ValidityDays     int        `json:"validity_days"`
	ValidFrom        time.Time  `json:"valid_from"`
	ValidTo          *time.Time `json:"valid_to,omitempty"`
	Source           string     `json:"source"`
}

// Validate checks the input and returns the methodology (without version,
// id and creation fields). now is the ledger clock: valid_from may not be
// in the past.
func (in MethodologyInput) Validate(now time.Time) (Methodology, error) {
	var m Methodology
	if !validCode(in.Code, 48) {
		return m, ledger.Errf(ledger.CodeInvalidRequest, "code must be 1 to 48 characters of a-z, 0-9 and '-'").At("code")
	}
	if !validCode(in.Kind, KindBytesMax) {
		return m, ledger.Errf(ledger.CodeInvalidRequest, "kind must be 1 to %d characters of a-z, 0-9 and '-'", KindBytesMax).At("kind")
	}
	if !validCode(in.Unit, UnitBytesMax) {
		return m, ledger.Errf(ledger.CodeInvalidRequest, "unit must be 1 to %d characters of a-z, 0-9 and '-'", UnitBytesMax).At("unit")
	}
	f, err := parseDecimal(in.FactorGrams, 6)
	if err != nil || !f.IsPositive() || f.GreaterThan(decimal.NewFromInt(FactorGramsMax)) {
		return m, ledger.Errf(ledger.CodeInvalidAmount, "factor_grams_per_unit must be a decimal string above 0 and at most %d, with at most 6 decimals", FactorGramsMax).At("factor_grams_per_unit")
	}
	if in.QuantityScale < 0 || in.QuantityScale > QuantityScaleMax {
		return m, ledger.Errf(ledger.CodeInvalidRequest, "quantity_scale must be 0 to %d", QuantityScaleMax).At("quantity_scale")
	}
	qmax, err := parseDecimal(in.QuantityMax, int32(in.QuantityScale))
	if err != nil || !qmax.IsPositive() || qmax.GreaterThan(decimal.NewFromInt(1_000_000_000)) {
		return m, ledger.Errf(ledger.CodeInvalidAmount, "quantity_max must be a decimal string above 0 with at most quantity_scale decimals").At("quantity_max")
	}
	rc, rerr := optionalGrams(in.RecordCapGrams)
	if rerr != nil {
		return m, rerr.At("record_cap_grams")
	}
	dc, derr := optionalGrams(in.DailyCapGrams)
	if derr != nil {
		return m, derr.At("daily_cap_grams")
	}
	dq := decimal.Zero
	if in.DailyCapQuantity != "" {
		d, perr := parseDecimal(in.DailyCapQuantity, int32(in.QuantityScale))
		if perr != nil || !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(1_000_000_000)) {
			return m, ledger.Errf(ledger.CodeInvalidAmount, "daily_cap_quantity must be a decimal string above 0 with at most quantity_scale decimals").At("daily_cap_quantity")
		}
		dq = d
	}
	if in.ClaimWindowDays < 1 || in.ClaimWindowDays > ClaimWindowDaysMax {
		return m, ledger.Errf(ledger.CodeInvalidRequest, "claim_window_days must be 1 to %d", ClaimWindowDaysMax).At("claim_window_days")
	}
	if in.ValidityDays < 1 || in.ValidityDays > ValidityDaysMax {
		return m, ledger.Errf(ledger.CodeInvalidRequest, "validity_days must be 1 to %d (10 years)", ValidityDaysMax).At("validity_days")
	}
	from, to, verr := validWindow(in.ValidFrom, in.ValidTo, now)
	if verr != nil {
		return m, verr
	}
	if terr := validText(in.Source, SourceBytesMax); terr != nil {
		return m, terr.At("source")
	}
	return Methodology{
		Code: in.Code, Kind: in.Kind, Unit: in.Unit, FactorGrams: f, QuantityScale: int32(in.QuantityScale),
		QuantityMax: qmax, RecordCapGrams: rc, DailyCapGrams: dc, DailyCapQuantity: dq,
		ClaimWindowDays: in.ClaimWindowDays, ValidityDays: in.ValidityDays, ValidFrom: from, ValidTo: to,
		Source: strings.TrimSpace(in.Source),
	}, nil
}

// ProgrammeRules is one version of the programme-wide rules.
type ProgrammeRules struct {
	Version             int   `json:"version"`
	DailyCapGrams       int64 `json:"daily_cap_grams,string"`
	ReportingWindowDays int   `json:"reporting_window_days"`
	// Identity of records with an interval (DOMAIN.md §5 step 2): two
	// intervals of one citizen overlapping by more than the tolerance, with
	// kinds in one exclusivity group, are one event; the tolerance absorbs
	// operators' clock skew, so back-to-back trips both earn.
	OverlapToleranceSeconds int                `json:"overlap_tolerance_seconds"`
	ExclusivityGroups       []ExclusivityGroup `json:"exclusivity_groups"`
	// Kinds whose reports are a day's total (steps from a phone): the
	// largest report of a citizen's day counts once.
	DailyTotalKinds []string   `json:"daily_total_kinds"`
	ValidFrom       time.Time  `json:"valid_from"`
	ValidTo         *time.Time `json:"valid_to,omitempty"`
	Source          string     `json:"source"`
	CreatedBy       string     `json:"created_by"`
	CreatedAt       time.Time  `json:"created_at"`
}

// ExclusivityGroup names kinds one body cannot do at the same time: the
// travel modes (one person, one vehicle).
type ExclusivityGroup struct {
	Name  string   `json:"name"`
	Kinds []string `json:"kinds"`
}

// RulesInput is what the province publishes. An identity field left out
// (null) keeps the value of the version in effect at valid_from, so a
// client that publishes only the daily cap does not switch identity off;
// to publish none, send 0 or []. (Pointers, so that a left-out field
// neither reads as "none" nor changes the idempotency hash of a request
// that never had it.)
type RulesInput struct {
	DailyCapGrams           string              `json:"daily_cap_grams"`
	ReportingWindowDays     int                 `json:"reporting_window_days"`
	OverlapToleranceSeconds *int                `json:"overlap_tolerance_seconds,omitempty"`
	ExclusivityGroups       *[]ExclusivityGroup `json:"exclusivity_groups,omitempty"`
	DailyTotalKinds         *[]string           `json:"daily_total_kinds,omitempty"`
	ValidFrom               time.Time           `json:"valid_from"`
	ValidTo                 *time.Time          `json:"valid_to,omitempty"`
	Source                  string              `json:"source"`
}

// Validate checks the input at the ledger clock now. Identity fields left
// out are empty here; carryOver fills them from the predecessor.
func (in RulesInput) Validate(now time.Time) (ProgrammeRules, error) {
	var r ProgrammeRules
	capGrams, cerr := optionalGrams(in.DailyCapGrams)
	if cerr != nil || capGrams == 0 {
		return r, ledger.Errf(ledger.CodeInvalidAmount, "daily_cap_grams must be a whole number of grams above 0").At("daily_cap_grams")
	}
	if in.ReportingWindowDays < 1 || in.ReportingWindowDays > ReportingWindowDaysMax {
		return r, ledger.Errf(ledger.CodeInvalidRequest, "reporting_window_days must be 1 to %d", ReportingWindowDaysMax).At("reporting_window_days")
	}
	from, to, verr := validWindow(in.ValidFrom, in.ValidTo, now)
	if verr != nil {
		return r, verr
	}
	if terr := validText(in.Source, SourceBytesMax); terr != nil {
		return r, terr.At("source")
	}
	r = ProgrammeRules{DailyCapGrams: capGrams, ReportingWindowDays: in.ReportingWindowDays, ValidFrom: from, ValidTo: to, Source: strings.TrimSpace(in.Source)}
	if in.OverlapToleranceSeconds != nil {
		r.OverlapToleranceSeconds = *in.OverlapToleranceSeconds
	}
	if in.ExclusivityGroups != nil {
		r.ExclusivityGroups = *in.ExclusivityGroups
	}
	if in.DailyTotalKinds != nil {
		r.DailyTotalKinds = *in.DailyTotalKinds
	}
	return r.normalise()
}

// carryOver fills the identity fields the input left out from prev, the
// version in effect at the new version's valid_from.
func (in RulesInput) carryOver(r ProgrammeRules, prev ProgrammeRules) ProgrammeRules {
	if in.OverlapToleranceSeconds == nil {
		r.OverlapToleranceSeconds = prev.OverlapToleranceSeconds
	}
	if in.ExclusivityGroups == nil {
		r.ExclusivityGroups = prev.ExclusivityGroups
	}
	if in.DailyTotalKinds == nil {
		r.DailyTotalKinds = prev.DailyTotalKinds
	}
	return r
}

// normalise checks the identity rules and puts them in a canonical order
// (groups by name, kinds sorted): a kind is in at most one group, and a
// per-day total is in none.
func (r ProgrammeRules) normalise() (ProgrammeRules, error) {
	if r.OverlapToleranceSeconds < 0 || r.OverlapToleranceSeconds > OverlapToleranceSecondsMax {
		return r, ledger.Errf(ledger.CodeInvalidRequest, "overlap_tolerance_seconds must be 0 to %d", OverlapToleranceSecondsMax).At("overlap_tolerance_seconds")
	}
	if len(r.ExclusivityGroups) > ExclusivityGroupsMax {
		return r, ledger.Errf(ledger.CodeInvalidRequest, "exclusivity_groups lists at most %d groups", ExclusivityGroupsMax).At("exclusivity_groups")
	}
	inGroup := map[string]string{}
	groups := make([]ExclusivityGroup, 0, len(r.ExclusivityGroups))
	names := map[string]bool{}
	for i, g := range r.ExclusivityGroups {
		at := "exclusivity_groups[" + strconv.Itoa(i) + "]"
		if !validCode(g.Name, GroupNameBytesMax) || names[g.Name] {
			return r, ledger.Errf(ledger.CodeInvalidRequest, "a group's name must be 1 to %d characters of a-z, 0-9 and '-', and unique", GroupNameBytesMax).At(at + ".name")
		}
		names[g.Name] = true
		kinds, err := kindSet(g.Kinds, at+".kinds", 1)
		if err != nil {
			return r, err
		}
		for _, k := range kinds {
			if other, ok := inGroup[k]; ok {
				return r, ledger.Errf(ledger.CodeInvalidRequest, "kind %s is in groups %s and %s: a kind is in at most one group", k, other, g.Name).At(at + ".kinds")
			}
			inGroup[k] = g.Name
		}
		groups = append(groups, ExclusivityGroup{Name: g.Name, Kinds: kinds})
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	totals, err := kindSet(r.DailyTotalKinds, "daily_total_kinds", 0)
	if err != nil {
		return r, err
	}
	for _, k := range totals {
		if g, ok := inGroup[k]; ok {
			return r, ledger.Errf(ledger.CodeInvalidRequest, "kind %s is a per-day total and in group %s: a day's total is no interval of one vehicle", k, g).At("daily_total_kinds")
		}
	}
	r.ExclusivityGroups, r.DailyTotalKinds = groups, totals
	return r, nil
}

// kindSet validates a list of kinds (at least least, at most
// KindsPerOperatorMax) and returns it sorted without repeats.
func kindSet(in []string, at string, least int) ([]string, error) {
	if len(in) < least || len(in) > KindsPerOperatorMax {
		return nil, ledger.Errf(ledger.CodeInvalidRequest, "must list %d to %d behaviour kinds", least, KindsPerOperatorMax).At(at)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(in))
	for i, k := range in {
		if !validCode(k, KindBytesMax) {
			return nil, ledger.Errf(ledger.CodeInvalidRequest, "kind must be 1 to %d characters of a-z, 0-9 and '-'", KindBytesMax).At(at + "[" + strconv.Itoa(i) + "]")
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// GroupOf is the exclusivity group of kind under these rules ("" none).
func (r ProgrammeRules) GroupOf(kind string) string {
	for _, g := range r.ExclusivityGroups {
		for _, k := range g.Kinds {
			if k == kind {
				return g.Name
			}
		}
	}
	return ""
}

// IsDailyTotal tells whether kind's reports are a day's total.
func (r ProgrammeRules) IsDailyTotal(kind string) bool {
	for _, k := range r.DailyTotalKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Tolerance is the overlap two intervals may share and still be two events.
func (r ProgrammeRules) Tolerance() time.Duration {
	return time.Duration(r.OverlapToleranceSeconds) * time.Second
}

// Overlap is how long two intervals [s1, e1) and [s2, e2) share (0 when
// they do not meet).
func Overlap(s1, e1, s2, e2 time.Time) time.Duration {
	lo, hi := s1, e1
	if s2.After(lo) {
		lo = s2
	}
	if e2.Before(hi) {
		hi = e2
	}
	if !hi.After(lo) {
		return 0
	}
	return hi.Sub(lo)
}

func validWindow(from time.Time, to *time.Time, now time.Time) (time.Time, *time.Time, *ledger.Error) {
	if from.IsZero() {
		return from, nil, ledger.Errf(ledger.CodeInvalidRequest, "valid_from is required").At("valid_from")
	}
	from = from.UTC().Truncate(time.Microsecond)
	if from.Before(now.Add(-ValidFromSkewMax)) {
		return from, nil, ledger.Errf(ledger.CodeInvalidRequest, "valid_from may not be in the past: a version takes effect from now on, never retroactively").At("valid_from")
	}
	if to != nil {
		t := to.UTC().Truncate(time.Microsecond)
		if !t.After(from) {
			return from, nil, ledger.Errf(ledger.CodeInvalidRequest, "valid_to must be after valid_from").At("valid_to")
		}
		to = &t
	}
	return from, to, nil
}

// Config is the set of methodology and rule versions a batch is judged by.
type Config struct {
	Methodologies []Methodology
	Rules         []ProgrammeRules
}

func inWindow(from time.Time, to *time.Time, t time.Time) bool {
	return !from.After(t) && (to == nil || t.Before(*to))
}

// MethodologyAt returns the version in effect for kind and unit at t: the
// one with the latest valid_from not after t whose valid_to is after t.
func (c *Config) MethodologyAt(kind, unit string, t time.Time) (Methodology, bool) {
	var best Methodology
	found := false
	for _, m := range c.Methodologies {
		if m.Kind != kind || m.Unit != unit || !inWindow(m.ValidFrom, m.ValidTo, t) {
			continue
		}
		if !found || m.ValidFrom.After(best.ValidFrom) {
			best, found = m, true
		}
	}
	return best, found
}

// RulesAt returns the programme rules in effect at t.
func (c *Config) RulesAt(t time.Time) (ProgrammeRules, bool) {
	var best ProgrammeRules
	found := false
	for _, r := range c.Rules {
		if !inWindow(r.ValidFrom, r.ValidTo, t) {
			continue
		}
		if !found || r.ValidFrom.After(best.ValidFrom) {
			best, found = r, true
		}
	}
	return best, found
}

// Effective returns the methodology versions in effect at t, one per kind
// and unit, sorted by kind, unit.
func (c *Config) Effective(t time.Time) []Methodology {
	seen := map[string]bool{}
	var out []Methodology
	for _, m := range c.Methodologies {
		if seen[m.Scope()] {
			continue
		}
		if e, ok := c.MethodologyAt(m.Kind, m.Unit, t); ok {
			out = append(out, e)
		}
		seen[m.Scope()] = true
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scope() < out[j].Scope() })
	return out
}

// ParseQuantity parses a record's quantity for methodology m: a plain
// decimal string above 0, at most m.QuantityScale decimals, at most
// m.QuantityMax.
func (m Methodology) ParseQuantity(s string) (decimal.Decimal, error) {
	q, err := parseDecimal(s, m.QuantityScale)
	if err != nil {
		return q, ledger.Errf(CodeQuantityRange, "quantity %q must be a decimal string with at most %d decimals for %s", truncate(s, QuantityTextBytesMax), m.QuantityScale, m.Unit)
	}
	if !q.IsPositive() || q.GreaterThan(m.QuantityMax) {
		return q, ledger.Errf(CodeQuantityRange, "quantity must be above 0 and at most %s %s", m.QuantityMax.String(), m.Unit)
	}
	return q, nil
}

// Grams is floor(quantity × factor): whole grams, never rounded up.
func (m Methodology) Grams(q decimal.Decimal) int64 {
	return q.Mul(m.FactorGrams).Floor().IntPart()
}

// DayUsage is what a citizen already has credited on one day.
type DayUsage struct {
	KindGrams    int64           // under this methodology's kind and unit
	KindQuantity decimal.Decimal // quantity credited under this kind and unit
	TotalGrams   int64           // all behaviours
}

// CapResult is the outcome of applying the caps to one record.
type CapResult struct {
	ComputedGrams int64           // floor(quantity × factor), before caps
	Grams         int64           // credited (0: cap reached)
	Quantity      decimal.Decimal // quantity counted against the daily quantity cap
	Reason        string          // the cap that limited the record, "" when none
}

// ApplyCaps applies the caps, in the documented order, to a record of
// quantity q given what the citizen already has on that day.
func ApplyCaps(m Methodology, r ProgrammeRules, q decimal.Decimal, u DayUsage) CapResult {
	return ApplyCapsFrom(m, r, decimal.Zero, q, u)
}

// ApplyCapsFrom applies the caps to a report of a day's total q of which
// prev was counted already by an earlier, smaller report of the same day
// (DOMAIN.md §5 step 2: the largest step report counts once). The record
// counts the quantity q − prev, worth floor(q × factor) − floor(prev ×
// factor), so that the credits of the day add up to what its largest
// report alone is worth. With prev = 0 it is ApplyCaps.
func ApplyCapsFrom(m Methodology, r ProgrammeRules, prev, q decimal.Decimal, u DayUsage) CapResult {
	worth := func(x decimal.Decimal) int64 { return m.Grams(prev.Add(x)) - m.Grams(prev) }
	q = q.Sub(prev)
	res := CapResult{ComputedGrams: worth(q), Quantity: q}
	allowed := q
	if m.DailyCapQuantity.IsPositive() {
		left := m.DailyCapQuantity.Sub(u.KindQuantity)
		if !left.IsPositive() {
			res.Quantity, res.Reason = decimal.Zero, CapDailyQuantity
			return res
		}
		if allowed.GreaterThan(left) {
			allowed, res.Reason = left, CapDailyQuantity
		}
	}
	res.Quantity = allowed
	g := worth(allowed)
	limit := func(max int64, reason string) {
		if max < 0 {
			max = 0
		}
		if g > max {
			g, res.Reason = max, reason
		}
	}
	if m.RecordCapGrams > 0 {
		limit(m.RecordCapGrams, CapRecord)
	}
	if m.DailyCapGrams > 0 {
		limit(m.DailyCapGrams-u.KindGrams, CapDailyKind)
	}
	limit(r.DailyCapGrams-u.TotalGrams, CapDailyTotal)
	res.Grams = g
	if g == 0 {
		res.Quantity = decimal.Zero
	}
	return res
}

// BehaviourKey identifies the real-world event behind a record (see the
// package documentation). q is normalised to 6 decimals, the time to the
// minute in UTC.
func BehaviourKey(citizen, kind, unit string, occurredAt time.Time, q decimal.Decimal) []byte {
	var b []byte
	field := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	field("points.behaviour.v1")
	field(citizen)
	field(kind)
	field(unit)
	field(occurredAt.UTC().Truncate(time.Minute).Format("2006-01-02T15:04Z"))
	field(q.StringFixed(6))
	sum := sha256.Sum256(b)
	return sum[:]
}

// Lot is available points of one earn date.
type Lot struct {
	ID        uuid.UUID `json:"id"`
	EarnedAt  time.Time `json:"earned_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Points    int64     `json:"points,string"`
	Remaining int64     `json:"remaining,string"`
}

// Take is points taken from one lot.
type Take struct {
	LotID  uuid.UUID `json:"lot_id"`
	Points int64     `json:"points,string"`
}

// TakeOldestFirst takes amount points from lots, oldest earn date first
// (then lot id). It fails with insufficient_balance when the lots hold less.
func TakeOldestFirst(lots []Lot, amount int64) ([]Take, error) {
	if amount <= 0 {
		return nil, ledger.Errf(ledger.CodeInvalidAmount, "points must be above 0")
	}
	sorted := append([]Lot(nil), lots...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].EarnedAt.Equal(sorted[j].EarnedAt) {
			return sorted[i].EarnedAt.Before(sorted[j].EarnedAt)
		}
		return bytes.Compare(sorted[i].ID[:], sorted[j].ID[:]) < 0
	})
	var total int64
	for _, l := range sorted {
		if l.Remaining < 0 {
			return nil, ledger.Errf(ledger.CodeInternal, "lot %s has negative remaining points", l.ID)
		}
		total += l.Remaining
	}
	if total < amount {
		return nil, &ledger.Error{Code: ledger.CodeInsufficientBalance, Msg: "not enough available points",
			Detail: map[string]string{"available": strconv.FormatInt(total, 10), "requested": strconv.FormatInt(amount, 10)}}
	}
	var takes []Take
	left := amount
	for _, l := range sorted {
		if left == 0 {
			break
		}
		if l.Remaining == 0 {
			continue
		}
		n := min(l.Remaining, left)
		takes = append(takes, Take{LotID: l.ID, Points: n})
		left -= n
	}
	return takes, nil
}

// CheckCitizenMove enforces that carbon points leave a citizen's
// available account only to a sink or an approved donation pool, never to
// another owner (DOMAIN.md §3).
func CheckCitizenMove(from, to string) error {
	fs, err := ledger.ClassifyAccount(from)
	if err != nil {
		return err
	}
	ts, err := ledger.ClassifyAccount(to)
	if err != nil {
		return err
	}
	if fs.Asset != ledger.AssetCP || ts.Asset != ledger.AssetCP {
		return ledger.Errf(ledger.CodeInvalidAccount, "carbon points move between CP accounts only")
	}
	switch {
	case to == "programme:CP:redeemed", to == "programme:CP:expired", to == "programme:CP:reversed":
		return nil
	case ts.Type == "pool":
		return nil
	case ts.Owner == fs.Owner:
		return nil // pending -> available of the same citizen
	}
	return ledger.Errf(CodeNotTransferable, "carbon points cannot be sent to %s: only to rewards, donation pools and sinks", ts.Owner)
}

// parseDecimal parses a plain non-negative decimal (digits, at most one
// dot) with at most scale decimals.
func parseDecimal(s string, scale int32) (decimal.Decimal, error) {
	bad := ledger.Errf(ledger.CodeInvalidAmount, "not a plain decimal")
	if len(s) == 0 || len(s) > QuantityTextBytesMax {
		return decimal.Zero, bad
	}
	intDigits, frac, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if dot {
				frac++
			} else {
				intDigits++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return decimal.Zero, bad
		}
	}
	if intDigits == 0 || (dot && frac == 0) || frac > int(scale) || intDigits > 12 {
		return decimal.Zero, bad
	}
	return decimal.RequireFromString(s), nil
}

func optionalGrams(s string) (int64, *ledger.Error) {
	if s == "" {
		return 0, nil
	}
	d, err := parseDecimal(s, 0)
	if err != nil || !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(1_000_000_000)) {
		return 0, ledger.Errf(ledger.CodeInvalidAmount, "must be a whole number of grams above 0")
	}
	return d.IntPart(), nil
}

// parseCount parses a whole positive number up to max from a string.
func parseCount(s string, max int64) (int64, bool) {
	d, err := parseDecimal(s, 0)
	if err != nil || !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(max)) {
		return 0, false
	}
	return d.IntPart(), true
}

// validCode: lowercase letters, digits and '-', starting with a letter.
func validCode(s string, max int) bool {
	if len(s) == 0 || len(s) > max || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validText(s string, max int) *ledger.Error {
	t := strings.TrimSpace(s)
	if t == "" || len(t) > max {
		return ledger.Errf(ledger.CodeInvalidRequest, "must be 1 to %d bytes of text", max)
	}
	for _, r := range t {
		if r < 0x20 && r != '\n' && r != '\t' {
			return ledger.Errf(ledger.CodeInvalidRequest, "must not contain control characters")
		}
	}
	return nil
}

// validRecordID: printable ASCII without spaces, 1 to RecordIDBytesMax.
func validRecordID(s string) bool {
	if len(s) == 0 || len(s) > RecordIDBytesMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
