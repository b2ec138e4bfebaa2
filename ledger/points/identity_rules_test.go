package points

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Pure identity rules: no database.

func TestIdentityRulesValidate(t *testing.T) {
	groups := []ExclusivityGroup{{Name: "travel", Kinds: []string{"metro", "bus", "metro"}}, {Name: "air", Kinds: []string{"flight"}}}
	totals := []string{"walking"}
	tol := 60
	ok := RulesInput{DailyCapGrams: "3000", ReportingWindowDays: 7, ValidFrom: now, Source: "notice",
		OverlapToleranceSeconds: &tol, ExclusivityGroups: &groups, DailyTotalKinds: &totals}
	r, err := ok.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	// Canonical: groups by name, kinds sorted without repeats.
	if len(r.ExclusivityGroups) != 2 || r.ExclusivityGroups[0].Name != "air" || len(r.ExclusivityGroups[1].Kinds) != 2 || r.ExclusivityGroups[1].Kinds[0] != "bus" {
		t.Fatalf("groups %+v", r.ExclusivityGroups)
	}
	if r.GroupOf("metro") != "travel" || r.GroupOf("walking") != "" || !r.IsDailyTotal("walking") || r.IsDailyTotal("metro") || r.Tolerance() != time.Minute {
		t.Fatalf("lookups on %+v", r)
	}
	for name, edit := range map[string]func(*RulesInput){
		"negative tolerance": func(r *RulesInput) { v := -1; r.OverlapToleranceSeconds = &v },
		"tolerance too long": func(r *RulesInput) { v := OverlapToleranceSecondsMax + 1; r.OverlapToleranceSeconds = &v },
		"kind in two groups": func(r *RulesInput) {
			g := []ExclusivityGroup{{Name: "a", Kinds: []string{"metro"}}, {Name: "b", Kinds: []string{"metro"}}}
			r.ExclusivityGroups = &g
		},
		"same name twice": func(r *RulesInput) {
			g := []ExclusivityGroup{{Name: "a", Kinds: []string{"metro"}}, {Name: "a", Kinds: []string{"bus"}}}
			r.ExclusivityGroups = &g
		},
		"empty group": func(r *RulesInput) { g := []ExclusivityGroup{{Name: "a"}}; r.ExclusivityGroups = &g },
		"bad group name": func(r *RulesInput) {
			g := []ExclusivityGroup{{Name: "A b", Kinds: []string{"bus"}}}
			r.ExclusivityGroups = &g
		},
		"bad kind": func(r *RulesInput) {
			g := []ExclusivityGroup{{Name: "a", Kinds: []string{"Bus"}}}
			r.ExclusivityGroups = &g
		},
		"total in group":  func(r *RulesInput) { k := []string{"metro"}; r.DailyTotalKinds = &k },
		"too many groups": func(r *RulesInput) { g := make([]ExclusivityGroup, ExclusivityGroupsMax+1); r.ExclusivityGroups = &g },
	} {
		in := ok
		edit(&in)
		if _, err := in.Validate(now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Left out, a field is carried over from the predecessor; [] and 0 are
	// kept as none.
	prev := r
	bare := RulesInput{DailyCapGrams: "3000", ReportingWindowDays: 7, ValidFrom: now, Source: "notice"}
	v, err := bare.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	v = bare.carryOver(v, prev)
	if v.OverlapToleranceSeconds != 60 || len(v.ExclusivityGroups) != 2 || len(v.DailyTotalKinds) != 1 {
		t.Fatalf("carried over: %+v", v)
	}
	zero, none := 0, []ExclusivityGroup{}
	bare.OverlapToleranceSeconds, bare.ExclusivityGroups = &zero, &none
	v, _ = bare.Validate(now)
	v = bare.carryOver(v, prev)
	if v.OverlapToleranceSeconds != 0 || len(v.ExclusivityGroups) != 0 || len(v.DailyTotalKinds) != 1 {
		t.Fatalf("set to none: %+v", v)
	}
}

func TestOverlap(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	for _, c := range []struct {
		name           string
		s1, e1, s2, e2 time.Time
		want           time.Duration
	}{
		{"apart", m(0), m(10), m(20), m(30), 0},
		{"back to back", m(0), m(10), m(10), m(20), 0},
		{"partly", m(0), m(10), m(5), m(20), 5 * time.Minute},
		{"inside", m(0), m(30), m(5), m(10), 5 * time.Minute},
		{"same", m(0), m(10), m(0), m(10), 10 * time.Minute},
	} {
		if got := Overlap(c.s1, c.e1, c.s2, c.e2); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if got := Overlap(c.s2, c.e2, c.s1, c.e1); got != c.want {
			t.Errorf("%s (swapped): %v, want %v", c.name, got, c.want)
		}
	}
}

// A day's total counts what the largest report alone is worth: the
// difference of the floors, so no gram is lost or gained by rounding in
// between.
func TestApplyCapsFrom(t *testing.T) {
	d := decimal.RequireFromString
	steps := Methodology{Kind: "walking", Unit: "steps", FactorGrams: d("0.02"), QuantityMax: d("100000"), DailyCapGrams: 296}
	rules := ProgrammeRules{DailyCapGrams: 3000}
	first := ApplyCapsFrom(steps, rules, decimal.Zero, d("10049"), DayUsage{KindQuantity: decimal.Zero})
	if first.Grams != 200 {
		t.Fatalf("first %+v", first)
	}
	// 10,049 -> 15,001 steps: floor(300.02) - floor(200.98) = 100 g over
	// 4,952 steps (floor(4,952 × 0.02) would be 99).
	top := ApplyCapsFrom(steps, rules, d("10049"), d("15001"), DayUsage{KindGrams: 200, KindQuantity: d("10049"), TotalGrams: 200})
	if top.Grams != 96 || top.ComputedGrams != 100 || top.Reason != CapDailyKind || !top.Quantity.Equal(d("4952")) {
		t.Fatalf("top-up %+v", top)
	}
	got, want := ApplyCaps(steps, rules, d("15000"), DayUsage{KindQuantity: decimal.Zero}), ApplyCapsFrom(steps, rules, decimal.Zero, d("15000"), DayUsage{KindQuantity: decimal.Zero})
	if got.Grams != want.Grams || got.ComputedGrams != want.ComputedGrams || got.Reason != want.Reason || !got.Quantity.Equal(want.Quantity) {
		t.Fatalf("ApplyCaps is ApplyCapsFrom with nothing before: %+v, %+v", got, want)
	}
}

func TestRecordEnd(t *testing.T) {
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	end := at.Add(20 * time.Minute)
	for _, c := range []struct {
		name string
		r    BehaviourRecord
		want time.Time
		code string
	}{
		{"instant", BehaviourRecord{}, time.Time{}, ""},
		{"ended_at", BehaviourRecord{EndedAt: &end}, end, ""},
		{"duration", BehaviourRecord{DurationSeconds: 1200}, end, ""},
		{"both", BehaviourRecord{EndedAt: &end, DurationSeconds: 1200}, time.Time{}, "invalid_request"},
		{"negative", BehaviourRecord{DurationSeconds: -1}, time.Time{}, "invalid_request"},
		{"over a day", BehaviourRecord{DurationSeconds: 24*3600 + 1}, time.Time{}, "invalid_request"},
		{"ends at its start", BehaviourRecord{EndedAt: &at}, time.Time{}, "invalid_request"},
	} {
		got, code, _ := recordEnd(&c.r, at, at.Add(time.Hour))
		if string(code) != c.code || (code == "" && !got.Equal(c.want)) {
			t.Errorf("%s: %v %q, want %v %q", c.name, got, code, c.want, c.code)
		}
	}
	if _, code, _ := recordEnd(&BehaviourRecord{EndedAt: &end}, at, at); code != CodeTimeOutOfWindow {
		t.Errorf("an end in the future: %q", code)
	}
}
