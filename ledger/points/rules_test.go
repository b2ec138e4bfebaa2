package points

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Pure rules: no database.

var now = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)

func validMethodology() MethodologyInput {
	return MethodologyInput{Code: "metro-km", Kind: "metro", Unit: "km", FactorGrams: "211", QuantityScale: 3, QuantityMax: "200",
		ClaimWindowDays: 7, ValidityDays: 730, ValidFrom: now.Add(time.Hour), Source: "Shandong notice 2026-1"}
}

func TestMethodologyValidate(t *testing.T) {
	if _, err := validMethodology().Validate(now); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
	before := now.Add(-time.Hour)
	same := now.Add(time.Hour)
	cases := []struct {
		name  string
		edit  func(*MethodologyInput)
		code  ledger.Code
		field string
	}{
		{"empty code", func(m *MethodologyInput) { m.Code = "" }, ledger.CodeInvalidRequest, "code"},
		{"upper-case code", func(m *MethodologyInput) { m.Code = "Metro" }, ledger.CodeInvalidRequest, "code"},
		{"code with dot", func(m *MethodologyInput) { m.Code = "metro.v2" }, ledger.CodeInvalidRequest, "code"},
		{"code too long", func(m *MethodologyInput) { m.Code = "m" + string(bytes.Repeat([]byte("x"), 48)) }, ledger.CodeInvalidRequest, "code"},
		{"kind with space", func(m *MethodologyInput) { m.Kind = "metro rail" }, ledger.CodeInvalidRequest, "kind"},
		{"empty unit", func(m *MethodologyInput) { m.Unit = "" }, ledger.CodeInvalidRequest, "unit"},
		{"zero factor", func(m *MethodologyInput) { m.FactorGrams = "0" }, ledger.CodeInvalidAmount, "factor_grams_per_unit"},
		{"negative factor", func(m *MethodologyInput) { m.FactorGrams = "-211" }, ledger.CodeInvalidAmount, "factor_grams_per_unit"},
		{"exponent factor", func(m *MethodologyInput) { m.FactorGrams = "2.11e2" }, ledger.CodeInvalidAmount, "factor_grams_per_unit"},
		{"NaN factor", func(m *MethodologyInput) { m.FactorGrams = "NaN" }, ledger.CodeInvalidAmount, "factor_grams_per_unit"},
		{"factor 7 decimals", func(m *MethodologyInput) { m.FactorGrams = "0.0000001" }, ledger.CodeInvalidAmount, "factor_grams_per_unit"},
		{"factor too large", func(m *MethodologyInput) { m.FactorGrams = "1000001" }, ledger.CodeInvalidAmount, "factor_grams_per_unit"},
		{"factor with spaces", func(m *MethodologyInput) { m.FactorGrams = " 211" }, ledger.CodeInvalidAmount, "factor_grams_per_unit"},
		{"scale 4", func(m *MethodologyInput) { m.QuantityScale = 4 }, ledger.CodeInvalidRequest, "quantity_scale"},
		{"negative scale", func(m *MethodologyInput) { m.QuantityScale = -1 }, ledger.CodeInvalidRequest, "quantity_scale"},
		{"zero quantity max", func(m *MethodologyInput) { m.QuantityMax = "0" }, ledger.CodeInvalidAmount, "quantity_max"},
		{"quantity max finer than scale", func(m *MethodologyInput) { m.QuantityMax = "1.2345" }, ledger.CodeInvalidAmount, "quantity_max"},
		{"zero record cap", func(m *MethodologyInput) { m.RecordCapGrams = "0" }, ledger.CodeInvalidAmount, "record_cap_grams"},
		{"fractional daily cap", func(m *MethodologyInput) { m.DailyCapGrams = "296.5" }, ledger.CodeInvalidAmount, "daily_cap_grams"},
		{"zero daily quantity", func(m *MethodologyInput) { m.DailyCapQuantity = "0" }, ledger.CodeInvalidAmount, "daily_cap_quantity"},
		{"claim window 0", func(m *MethodologyInput) { m.ClaimWindowDays = 0 }, ledger.CodeInvalidRequest, "claim_window_days"},
		{"claim window 31", func(m *MethodologyInput) { m.ClaimWindowDays = 31 }, ledger.CodeInvalidRequest, "claim_window_days"},
		{"validity 0", func(m *MethodologyInput) { m.ValidityDays = 0 }, ledger.CodeInvalidRequest, "validity_days"},
		{"validity over 10 years", func(m *MethodologyInput) { m.ValidityDays = 3651 }, ledger.CodeInvalidRequest, "validity_days"},
		{"no valid_from", func(m *MethodologyInput) { m.ValidFrom = time.Time{} }, ledger.CodeInvalidRequest, "valid_from"},
		{"retroactive valid_from", func(m *MethodologyInput) { m.ValidFrom = before }, ledger.CodeInvalidRequest, "valid_from"},
		{"valid_to not after valid_from", func(m *MethodologyInput) { m.ValidTo = &same }, ledger.CodeInvalidRequest, "valid_to"},
		{"no source", func(m *MethodologyInput) { m.Source = "  " }, ledger.CodeInvalidRequest, "source"},
		{"source with control character", func(m *MethodologyInput) { m.Source = "a\x00b" }, ledger.CodeInvalidRequest, "source"},
		{"source too long", func(m *MethodologyInput) { m.Source = string(bytes.Repeat([]byte("x"), SourceBytesMax+1)) }, ledger.CodeInvalidRequest, "source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := validMethodology()
			c.edit(&in)
			_, err := in.Validate(now)
			e, ok := ledger.AsError(err)
			if !ok || e.Code != c.code || e.Field != c.field {
				t.Fatalf("got %v, want %s at %s", err, c.code, c.field)
			}
		})
	}
}

func TestRulesValidate(t *testing.T) {
	ok := RulesInput{DailyCapGrams: "3000", ReportingWindowDays: 7, ValidFrom: now, Source: "notice"}
	if _, err := ok.Validate(now); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*RulesInput){
		"no cap":         func(r *RulesInput) { r.DailyCapGrams = "" },
		"zero cap":       func(r *RulesInput) { r.DailyCapGrams = "0" },
		"negative cap":   func(r *RulesInput) { r.DailyCapGrams = "-1" },
		"window 0":       func(r *RulesInput) { r.ReportingWindowDays = 0 },
		"window 91":      func(r *RulesInput) { r.ReportingWindowDays = 91 },
		"past":           func(r *RulesInput) { r.ValidFrom = now.Add(-2 * time.Minute) },
		"empty source":   func(r *RulesInput) { r.Source = "" },
		"to before from": func(r *RulesInput) { x := now.Add(-time.Hour); r.ValidTo = &x },
	} {
		in := ok
		edit(&in)
		if _, err := in.Validate(now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustValidate(t *testing.T, in MethodologyInput) Methodology {
	t.Helper()
	m, err := in.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseQuantity(t *testing.T) {
	km := mustValidate(t, validMethodology())
	steps := km
	steps.QuantityScale, steps.QuantityMax = 0, decimal.NewFromInt(100000)
	for _, c := range []struct {
		m    Methodology
		in   string
		want string // "" = rejected
	}{
		{km, "12", "12"}, {km, "12.5", "12.5"}, {km, "0.001", "0.001"}, {km, "200", "200"},
		{km, "12.3456", ""}, {km, "0", ""}, {km, "0.000", ""}, {km, "-1", ""}, {km, "1e2", ""}, {km, " 12", ""},
		{km, "", ""}, {km, "200.001", ""}, {km, "12.", ""}, {km, ".5", ""}, {km, "1,5", ""}, {km, "NaN", ""},
		{km, "Infinity", ""}, {km, "0x10", ""}, {km, "１２", ""}, {km, "99999999999999999999999", ""},
		{steps, "15000", "15000"}, {steps, "1.5", ""}, {steps, "100001", ""},
	} {
		q, err := c.m.ParseQuantity(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%q (%s): accepted as %s", c.in, c.m.Unit, q)
		case c.want == "" && ledger.ErrorCode(err) != CodeQuantityRange:
			t.Errorf("%q: code %s, want %s", c.in, ledger.ErrorCode(err), CodeQuantityRange)
		case c.want != "" && (err != nil || !q.Equal(decimal.RequireFromString(c.want))):
			t.Errorf("%q: got %s, %v; want %s", c.in, q, err, c.want)
		}
	}
}

func seeded(code string) Methodology {
	for _, m := range withWindows(defaultMethodologies()) {
		if m.Code == code {
			m.ID = code + ".v1"
			return m
		}
	}
	panic(code)
}

var rules3000 = ProgrammeRules{DailyCapGrams: 3000, ReportingWindowDays: 7}

func TestGramsAndCaps(t *testing.T) {
	d := decimal.RequireFromString
	metro, ride, walk := seeded("metro-km"), seeded("metro-ride"), seeded("walking-steps")
	recCapped := metro
	recCapped.RecordCapGrams = 1000
	for _, c := range []struct {
		name       string
		m          Methodology
		q          string
		used       DayUsage
		computed   int64
		grams      int64
		reason     string
		qtyCounted string
	}{
		{"metro 12 km", metro, "12", DayUsage{}, 2532, 2532, "", "12"},
		{"floor, never round up", metro, "4.74", DayUsage{}, 1000, 1000, "", "4.74"},
		{"floor of a fraction", metro, "0.001", DayUsage{}, 0, 0, "", "0"},
		{"all-behaviour cap", metro, "15", DayUsage{}, 3165, 3000, CapDailyTotal, "15"},
		{"all-behaviour cap partly used", metro, "12", DayUsage{TotalGrams: 2532}, 2532, 468, CapDailyTotal, "12"},
		{"all-behaviour cap used up", metro, "1", DayUsage{TotalGrams: 3000}, 211, 0, CapDailyTotal, "0"},
		{"walking 15,000 steps", walk, "15000", DayUsage{}, 300, 296, CapDailyKind, "15000"},
		{"walking after the cap", walk, "2000", DayUsage{KindGrams: 296, TotalGrams: 296}, 40, 0, CapDailyKind, "0"},
		{"walking next day", walk, "5000", DayUsage{}, 100, 100, "", "5000"},
		{"fifth ride", ride, "1", DayUsage{KindQuantity: d("4")}, 52, 52, "", "1"},
		{"sixth ride", ride, "1", DayUsage{KindQuantity: d("5")}, 52, 0, CapDailyQuantity, "0"},
		{"3 rides with 2 left", ride, "3", DayUsage{KindQuantity: d("3")}, 156, 104, CapDailyQuantity, "2"},
		{"record cap", recCapped, "12", DayUsage{}, 2532, 1000, CapRecord, "12"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := d(c.q)
			r := ApplyCaps(c.m, rules3000, q, c.used)
			if r.ComputedGrams != c.computed || r.Grams != c.grams || r.Reason != c.reason || !r.Quantity.Equal(d(c.qtyCounted)) {
				t.Fatalf("got %+v, want computed %d grams %d reason %q quantity %s", r, c.computed, c.grams, c.reason, c.qtyCounted)
			}
		})
	}
}

func TestBehaviourKey(t *testing.T) {
	d := decimal.RequireFromString
	at := time.Date(2026, 3, 2, 8, 15, 10, 0, time.UTC)
	base := BehaviourKey("C1", "metro", "km", at, d("12"))
	for _, c := range []struct {
		name string
		key  []byte
		same bool
	}{
		{"same minute, other second", BehaviourKey("C1", "metro", "km", at.Add(40*time.Second), d("12")), true},
		{"same instant in another zone", BehaviourKey("C1", "metro", "km", at.In(time.FixedZone("CST", 8*3600)), d("12")), true},
		{"same quantity written differently", BehaviourKey("C1", "metro", "km", at, d("12.000")), true},
		{"next minute", BehaviourKey("C1", "metro", "km", at.Add(time.Minute), d("12")), false},
		{"other quantity", BehaviourKey("C1", "metro", "km", at, d("12.001")), false},
		{"other citizen", BehaviourKey("C2", "metro", "km", at, d("12")), false},
		{"other kind", BehaviourKey("C1", "bus", "km", at, d("12")), false},
		{"other unit", BehaviourKey("C1", "metro", "rides", at, d("12")), false},
		{"fields do not run together", BehaviourKey("C1m", "etro", "km", at, d("12")), false},
	} {
		if got := bytes.Equal(base, c.key); got != c.same {
			t.Errorf("%s: same key = %v, want %v", c.name, got, c.same)
		}
	}
}

func TestTakeOldestFirst(t *testing.T) {
	older := Lot{ID: uuid.MustParse("00000000-0000-0000-0000-000000000002"), EarnedAt: now, Points: 3000, Remaining: 3000}
	newer := Lot{ID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), EarnedAt: now.Add(24 * time.Hour), Points: 4000, Remaining: 4000}
	takes, err := TakeOldestFirst([]Lot{newer, older}, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(takes) != 2 || takes[0] != (Take{older.ID, 3000}) || takes[1] != (Take{newer.ID, 2000}) {
		t.Fatalf("takes %+v", takes)
	}
	// Same earn date: by id.
	twin := older
	twin.ID = uuid.MustParse("00000000-0000-0000-0000-000000000001")
	takes, _ = TakeOldestFirst([]Lot{older, twin}, 10)
	if takes[0].LotID != twin.ID {
		t.Fatalf("ties go by id: %+v", takes)
	}
	empty := older
	empty.Remaining = 0
	takes, _ = TakeOldestFirst([]Lot{empty, newer}, 1)
	if len(takes) != 1 || takes[0].LotID != newer.ID {
		t.Fatalf("empty lots are skipped: %+v", takes)
	}
	for _, c := range []struct {
		lots   []Lot
		amount int64
		code   ledger.Code
	}{
		{[]Lot{older, newer}, 7001, ledger.CodeInsufficientBalance},
		{nil, 1, ledger.CodeInsufficientBalance},
		{[]Lot{older}, 0, ledger.CodeInvalidAmount},
		{[]Lot{older}, -5, ledger.CodeInvalidAmount},
		{[]Lot{{ID: uuid.New(), Remaining: -1}}, 1, ledger.CodeInternal},
	} {
		if _, err := TakeOldestFirst(c.lots, c.amount); ledger.ErrorCode(err) != c.code {
			t.Errorf("amount %d over %d lots: %v, want %s", c.amount, len(c.lots), err, c.code)
		}
	}
}

func TestCheckCitizenMove(t *testing.T) {
	from := ledger.CitizenAvailableAccount("C1")
	for _, c := range []struct {
		to   string
		code ledger.Code // "" = allowed
	}{
		{ProgrammeRedeemed, ""}, {ProgrammeExpired, ""}, {ProgrammeReversed, ""}, {DonationPoolAccount("trees-2026"), ""},
		{ledger.CitizenPendingAccount("C1"), ""},
		{ledger.CitizenAvailableAccount("C2"), CodeNotTransferable},
		{ledger.CitizenPendingAccount("C2"), CodeNotTransferable},
		{ProgrammeIssuance, CodeNotTransferable},
		{"operator:metro-jinan:CO2E:pool:metro-km.v1:2026-03", ledger.CodeInvalidAccount},
		{"nonsense", ledger.CodeInvalidAccount},
	} {
		err := CheckCitizenMove(from, c.to)
		if (c.code == "" && err != nil) || (c.code != "" && ledger.ErrorCode(err) != c.code) {
			t.Errorf("to %s: %v, want %q", c.to, err, c.code)
		}
	}
}

func TestMethodologySelection(t *testing.T) {
	v1 := seeded("metro-km")
	v2 := v1
	v2.ID, v2.Version, v2.FactorGrams, v2.ValidFrom = "metro-km.v2", 2, decimal.NewFromInt(250), now
	campaignEnd := now.Add(48 * time.Hour)
	bus := seeded("bus-km")
	bus.ValidFrom, bus.ValidTo = now.Add(24*time.Hour), &campaignEnd
	c := Config{Methodologies: []Methodology{v2, v1, bus}}
	for _, x := range []struct {
		kind, unit string
		at         time.Time
		want       string
	}{
		{"metro", "km", now.Add(-time.Second), "metro-km.v1"},
		{"metro", "km", now, "metro-km.v2"},
		{"metro", "km", now.Add(1000 * time.Hour), "metro-km.v2"},
		{"metro", "rides", now, ""},
		{"bus", "km", now, ""},
		{"bus", "km", now.Add(24 * time.Hour), "bus-km.v1"},
		{"bus", "km", campaignEnd, ""},
		{"metro", "km", SeedValidFrom.Add(-time.Second), ""},
	} {
		m, ok := c.MethodologyAt(x.kind, x.unit, x.at)
		if got := map[bool]string{true: m.ID, false: ""}[ok]; got != x.want {
			t.Errorf("%s/%s at %s: %q, want %q", x.kind, x.unit, x.at, got, x.want)
		}
	}
	eff := c.Effective(now)
	if len(eff) != 1 || eff[0].ID != "metro-km.v2" {
		t.Fatalf("effective now: %+v", eff)
	}
}

func TestDayAndPeriodAreChinaTime(t *testing.T) {
	// 16:00 UTC is midnight in Jinan.
	for _, c := range []struct {
		at          time.Time
		day, period string
	}{
		{time.Date(2026, 3, 1, 15, 59, 59, 0, time.UTC), "2026-03-01", "2026-03"},
		{time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC), "2026-03-02", "2026-03"},
		{time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), "2026-03-01", "2026-03"},
		{time.Date(2026, 2, 28, 15, 0, 0, 0, time.UTC), "2026-02-28", "2026-02"},
	} {
		if Day(c.at) != c.day || Period(c.at) != c.period {
			t.Errorf("%s: %s %s, want %s %s", c.at, Day(c.at), Period(c.at), c.day, c.period)
		}
	}
}

func TestOperatorInputValidate(t *testing.T) {
	ok := OperatorInput{ID: "metro-jinan", Name: "Jinan metro", Kinds: []string{"metro", "bus", "metro"}}
	v, err := ok.validate()
	if err != nil || len(v.Kinds) != 2 || v.Kinds[0] != "bus" || v.Status != "active" {
		t.Fatalf("%+v %v", v, err)
	}
	for name, in := range map[string]OperatorInput{
		"no id":      {Name: "x", Kinds: []string{"metro"}},
		"bad id":     {ID: "Metro Jinan", Name: "x", Kinds: []string{"metro"}},
		"no name":    {ID: "m", Kinds: []string{"metro"}},
		"no kinds":   {ID: "m", Name: "x"},
		"bad kind":   {ID: "m", Name: "x", Kinds: []string{"Metro"}},
		"bad status": {ID: "m", Name: "x", Kinds: []string{"metro"}, Status: "closed"},
		"many kinds": {ID: "m", Name: "x", Kinds: make([]string, KindsPerOperatorMax+1)},
	} {
		if _, err := in.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseQuantity: whatever the text, an accepted quantity is positive,
// within the maximum and exactly the decimal written.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"12", "12.5", "0.001", "1e3", "-1", "", "200.0001", "00012", "9999999999999"} {
		f.Add(s)
	}
	m := mustValidateF(f, validMethodology())
	f.Fuzz(func(t *testing.T, s string) {
		q, err := m.ParseQuantity(s)
		if err != nil {
			return
		}
		if !q.IsPositive() || q.GreaterThan(m.QuantityMax) || q.Exponent() < -m.QuantityScale {
			t.Fatalf("%q accepted as %s", s, q)
		}
		if !q.Equal(decimal.RequireFromString(s)) {
			t.Fatalf("%q parsed as %s", s, q)
		}
	})
}

// FuzzApplyCaps: a credit is never negative, never more than computed,
// and never takes a day over any cap.
func FuzzApplyCaps(f *testing.F) {
	f.Add(int64(15000), int64(0), int64(0), int64(0), int64(296), int64(0), int64(5), int64(3000))
	f.Add(int64(3), int64(100), int64(4), int64(2900), int64(0), int64(1000), int64(5), int64(3000))
	f.Fuzz(func(t *testing.T, qty, kindGrams, kindQty, total, dailyCap, recordCap, qtyCap, totalCap int64) {
		if qty <= 0 || qty > 1_000_000 || kindGrams < 0 || kindQty < 0 || total < 0 || dailyCap < 0 || recordCap < 0 || qtyCap < 0 || totalCap <= 0 {
			return
		}
		m := seeded("metro-ride")
		m.DailyCapGrams, m.RecordCapGrams, m.DailyCapQuantity = dailyCap, recordCap, decimal.NewFromInt(qtyCap)
		r := ApplyCaps(m, ProgrammeRules{DailyCapGrams: totalCap}, decimal.NewFromInt(qty), DayUsage{KindGrams: kindGrams, KindQuantity: decimal.NewFromInt(kindQty), TotalGrams: total})
		switch {
		case r.Grams < 0 || r.Grams > r.ComputedGrams:
			t.Fatalf("grams %d of computed %d", r.Grams, r.ComputedGrams)
		case r.Grams > 0 && total+r.Grams > totalCap:
			t.Fatalf("total %d + %d over %d", total, r.Grams, totalCap)
		case r.Grams > 0 && dailyCap > 0 && kindGrams+r.Grams > dailyCap:
			t.Fatalf("kind %d + %d over %d", kindGrams, r.Grams, dailyCap)
		case r.Grams > 0 && recordCap > 0 && r.Grams > recordCap:
			t.Fatalf("record %d over %d", r.Grams, recordCap)
		case qtyCap > 0 && r.Quantity.IntPart()+kindQty > max(qtyCap, kindQty):
			t.Fatalf("quantity %s + %d over %d", r.Quantity, kindQty, qtyCap)
		case r.Quantity.IsNegative() || r.Quantity.GreaterThan(decimal.NewFromInt(qty)):
			t.Fatalf("quantity %s of %d", r.Quantity, qty)
		}
	})
}

func mustValidateF(f *testing.F, in MethodologyInput) Methodology {
	m, err := in.Validate(now)
	if err != nil {
		f.Fatal(err)
	}
	return m
}
