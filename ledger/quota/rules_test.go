package quota

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestComputeGap(t *testing.T) {
	for _, c := range []struct {
		emissions, coef, own, required, gap string
	}{
		{"800000", "1.5", "400000", "1200000", "800000"}, // DOMAIN.md §7 two-high
		{"800000", "1.5", "0", "1200000", "1200000"},
		{"100", "1.2", "0", "120", "120"},
		{"101", "1.2", "0", "122", "122"}, // 121.2 rounds up: never cover less than the rule
		{"1", "1.5", "2", "2", "0"},
	} {
		g := ComputeGap(d(c.emissions), d(c.coef), d(c.own))
		if !g.Required.Equal(d(c.required)) || !g.Gap.Equal(d(c.gap)) {
			t.Errorf("%s × %s − %s: got required %s gap %s, want %s %s", c.emissions, c.coef, c.own, g.Required, g.Gap, c.required, c.gap)
		}
	}
}

func TestSplitStockpile(t *testing.T) {
	for _, c := range []struct{ tonnes, pct, prov, city string }{
		{"1000000", "50", "500000", "500000"},
		{"3", "50", "1", "2"}, // the province takes the floor, the city the rest
		{"10", "0", "0", "10"},
		{"10", "100", "10", "0"},
		{"7", "33.333333", "2", "5"},
	} {
		p, ci := SplitStockpile(d(c.tonnes), d(c.pct))
		if !p.Equal(d(c.prov)) || !ci.Equal(d(c.city)) {
			t.Errorf("split %s at %s%%: got %s/%s, want %s/%s", c.tonnes, c.pct, p, ci, c.prov, c.city)
		}
		if !p.Add(ci).Equal(d(c.tonnes)) {
			t.Errorf("split %s does not conserve tonnes", c.tonnes)
		}
	}
}

func TestShandongCities(t *testing.T) {
	if n := len(Cities()); n != 16 {
		t.Fatalf("Shandong has 16 prefecture-level cities, got %d", n)
	}
	for _, c := range []string{"3701", "3704", "3709", "3711", "3713", "3717"} {
		if !ShandongCity(c) {
			t.Errorf("%s should be a Shandong city", c)
		}
	}
	for _, c := range []string{"3712", "3700", "3718", "3201", "1101", "", "37", "370400", "province"} {
		if ShandongCity(c) {
			t.Errorf("%q should not be a Shandong city", c)
		}
	}
	if !ValidReserve("province") || ValidReserve("3712") {
		t.Error("reserve names: province and the 16 cities only")
	}
	for _, n := range ReserveNames() {
		if _, err := ledger.ClassifyAccount(ReserveAccount(n)); err != nil {
			t.Errorf("reserve account of %s does not match the chart: %v", n, err)
		}
	}
}

func TestCheckFormed(t *testing.T) {
	now := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC) // 2025-06-02 04:00 in China
	for _, c := range []struct {
		date string
		code ledger.Code
	}{
		{"2020-12-31", CodeFormedTooEarly},
		{"2021-01-01", ""},
		{"2025-06-02", ""}, // today on the China calendar
		{"2025-06-03", ledger.CodeInvalidRequest},
	} {
		err := checkFormed(mustDate(c.date), now)
		if c.code == "" && err != nil || c.code != "" && ledger.ErrorCode(err) != c.code {
			t.Errorf("formed %s: got %v, want %q", c.date, err, c.code)
		}
	}
}

func TestParseConfigValue(t *testing.T) {
	for _, c := range []struct {
		kind, value string
		ok          bool
	}{
		{ConfigSplit, "50", true}, {ConfigSplit, "0", true}, {ConfigSplit, "100", true}, {ConfigSplit, "100.1", false},
		{ConfigSplit, "-1", false}, {ConfigSplit, "1e2", false}, {ConfigSplit, "NaN", false}, {ConfigSplit, ".5", false}, {ConfigSplit, "5.", false},
		{ConfigSplit, "33.3333333", false},
		{ConfigCoefficient, "1.5", true}, {ConfigCoefficient, "1.2", true}, {ConfigCoefficient, "0.9", false}, {ConfigCoefficient, "11", false},
		{ConfigThreshold, "1000000", true}, {ConfigThreshold, "0", false}, {ConfigThreshold, "1.5", false},
		{ConfigPrice, "50.00", true}, {ConfigPrice, "0", true}, {ConfigPrice, "1.001", false}, {ConfigPrice, "", false},
	} {
		_, err := parseConfigValue(c.kind, c.value)
		if (err == nil) != c.ok {
			t.Errorf("%s %q: got %v, want ok=%v", c.kind, c.value, err, c.ok)
		}
	}
}

func TestEmissionsBreakdown(t *testing.T) {
	b := EmissionsBreakdown{FuelCombustion: "600000", IndustrialProcess: "150000", NetPurchasedPower: "100000", CO2Recovered: "50000"}
	got, err := b.Total()
	if err != nil || !got.Equal(d("800000")) {
		t.Fatalf("got %s %v, want 800000", got, err)
	}
	if _, err := (EmissionsBreakdown{FuelCombustion: "1.5"}).Total(); err == nil {
		t.Fatal("fractional tonnes must be refused")
	}
}

func TestCSVCellsCannotBeFormulas(t *testing.T) {
	var buf bytes.Buffer
	err := WriteLineageCSV(&buf, []LineageRow{{EvidenceRef: "=HYPERLINK(\"x\")", Project: "N1", Tonnes: "5"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `'=HYPERLINK`) {
		t.Fatalf("formula not neutralised: %s", buf.String())
	}
}

func TestLegsNetPerAccount(t *testing.T) {
	var l legs
	l.add("a", d("5"))
	l.add("b", d("-5"))
	l.add("a", d("-5"))
	l.add("c", d("5"))
	in := l.inputs()
	if len(in) != 2 || in[0].Account != "b" || in[1].Account != "c" {
		t.Fatalf("got %+v", in)
	}
}
