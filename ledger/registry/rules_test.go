package registry

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

func TestSerialFormatRoundTrip(t *testing.T) {
	s := Serial{Region: Region, Programme: Programme, Sector: "07", Project: "0001", First: 1, Last: 6203, Vintage: 2025}
	if got := s.String(); got != "CN37-SDCER-07-0001-1-6203-2025" {
		t.Fatalf("serial %q", got)
	}
	back, err := ParseSerial(s.String())
	if err != nil || back != s {
		t.Fatalf("parse: %+v %v", back, err)
	}
	if s.Units() != 6203 {
		t.Fatalf("units %d", s.Units())
	}
}

func TestParseSerialRejects(t *testing.T) {
	for _, in := range []string{
		"", "CN37-SDCER-07-0001-1-6203", "CN11-SDCER-07-0001-1-6203-2025", "CN37-CCER-07-0001-1-6203-2025",
		"CN37-SDCER-7-0001-1-6203-2025", "CN37-SDCER-07-001-1-6203-2025", "CN37-SDCER-07-0001-0-6203-2025",
		"CN37-SDCER-07-0001-01-6203-2025", "CN37-SDCER-07-0001-10-9-2025", "CN37-SDCER-07-0001-1-6203-25",
		"CN37-SDCER-07-0001-1-6203-1999", "CN37-SDCER-07-0001--1-6203-2025", "CN37-SDCER-07-0001-1-+6203-2025",
		"CN37-SDCER-07-0001-1-99999999999999999999-2025",
	} {
		if _, err := ParseSerial(in); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
			t.Errorf("ParseSerial(%q) = %v, want invalid_request", in, err)
		}
	}
}

func FuzzParseSerial(f *testing.F) {
	f.Add("CN37-SDCER-07-0001-1-6203-2025")
	f.Add("CN37-SDCER-99-9999-5-5-2999")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSerial(in)
		if err != nil {
			return
		}
		if s.String() != in {
			t.Fatalf("ParseSerial(%q) accepted a non-canonical form %q", in, s.String())
		}
		if s.First < 1 || s.Last < s.First {
			t.Fatalf("bad range %+v", s)
		}
	})
}

func TestVintageOfPeriod(t *testing.T) {
	for in, want := range map[string]int{"2025": 2025, "2025-Q1": 2025, "2024-06": 2024, "202506": 2025} {
		if got, err := VintageOfPeriod(in); err != nil || got != want {
			t.Errorf("VintageOfPeriod(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "25", "Q1-2025", "1999", "abcd"} {
		if _, err := VintageOfPeriod(in); err == nil {
			t.Errorf("VintageOfPeriod(%q) accepted", in)
		}
	}
}

func TestUnitsOfGrams(t *testing.T) {
	for _, c := range []struct {
		grams string
		units int64
		rem   string
	}{
		{"6203400000", 6203, "400000"}, {"999999", 0, "999999"}, {"1000000", 1, "0"}, {"0", 0, "0"},
		{"6330000000", 6330, "0"},
	} {
		u, r := UnitsOfGrams(decimal.RequireFromString(c.grams))
		if u != c.units || !r.Equal(decimal.RequireFromString(c.rem)) {
			t.Errorf("UnitsOfGrams(%s) = %d, %s", c.grams, u, r)
		}
	}
}

func TestOffsetCapUnits(t *testing.T) {
	for _, c := range []struct {
		obligation, share string
		want              int64
	}{{"10000", "0.05", 500}, {"10019", "0.05", 500}, {"10020", "0.05", 501}, {"19", "0.05", 0}, {"10000", "0", 0}} {
		if got := OffsetCapUnits(decimal.RequireFromString(c.obligation), decimal.RequireFromString(c.share)); got != c.want {
			t.Errorf("cap(%s, %s) = %d, want %d", c.obligation, c.share, got, c.want)
		}
	}
}

func blocks(spans ...int64) []freeBlock {
	var out []freeBlock
	for i := 0; i+1 < len(spans); i += 2 {
		out = append(out, freeBlock{ID: string(rune('a' + i/2)), Vintage: 2025, span: span{spans[i], spans[i+1]}})
	}
	return out
}

func TestPlanFIFOTakesWholeBlocksThenTheTail(t *testing.T) {
	bs := blocks(1, 100, 201, 300, 401, 1000)
	got, err := planFIFO(bs, 250)
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{1, 100}, {201, 300}, {951, 1000}}
	if len(got) != len(want) {
		t.Fatalf("takes %+v", got)
	}
	for i, w := range want {
		if got[i].Move != w {
			t.Errorf("take %d = %+v, want %+v", i, got[i].Move, w)
		}
	}
	if _, err := planFIFO(bs, 801); ledger.ErrorCode(err) != ledger.CodeInsufficientBalance {
		t.Fatalf("over-draw: %v", err)
	}
	for _, bad := range []int64{0, -1} {
		if _, err := planFIFO(bs, bad); err == nil {
			t.Fatalf("planFIFO(%d) accepted", bad)
		}
	}
}

func TestPlanRange(t *testing.T) {
	bs := blocks(1, 100, 101, 300, 401, 500)
	takes, _, ok := planRange(bs, span{50, 150})
	if !ok || len(takes) != 2 || takes[0].Move != (span{50, 100}) || takes[1].Move != (span{101, 150}) {
		t.Fatalf("takes %+v ok=%v", takes, ok)
	}
	if _, missing, ok := planRange(bs, span{250, 450}); ok || missing != 301 {
		t.Fatalf("gap not found: missing=%d ok=%v", missing, ok)
	}
	if _, missing, ok := planRange(bs, span{501, 510}); ok || missing != 501 {
		t.Fatalf("beyond the blocks: missing=%d ok=%v", missing, ok)
	}
	if takes, _, ok := planRange(bs, span{401, 500}); !ok || len(takes) != 1 || takes[0].Move != (span{401, 500}) {
		t.Fatalf("whole block: %+v", takes)
	}
}

func TestCarve(t *testing.T) {
	b := span{10, 20}
	for _, c := range []struct {
		m          span
		head, tail *span
	}{
		{span{10, 20}, nil, nil},
		{span{15, 20}, &span{10, 14}, nil},
		{span{10, 12}, nil, &span{13, 20}},
		{span{12, 14}, &span{10, 11}, &span{15, 20}},
	} {
		h, tl := carve(b, c.m)
		if !eqSpan(h, c.head) || !eqSpan(tl, c.tail) {
			t.Errorf("carve(%v, %v) = %v, %v", b, c.m, h, tl)
		}
		// Conservation: head + moved + tail = block.
		n := c.m.units()
		if h != nil {
			n += h.units()
		}
		if tl != nil {
			n += tl.units()
		}
		if n != b.units() {
			t.Errorf("carve(%v, %v) loses units", b, c.m)
		}
	}
}

func eqSpan(a, b *span) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestSelectionParse(t *testing.T) {
	for _, c := range []struct {
		in       Selection
		vRequire bool
		code     ledger.Code
	}{
		{Selection{Units: ""}, false, ledger.CodeInvalidAmount},
		{Selection{Units: "0"}, false, ledger.CodeInvalidAmount},
		{Selection{Units: "1.5"}, false, ledger.CodeInvalidAmount},
		{Selection{Units: "-3"}, false, ledger.CodeInvalidAmount},
		{Selection{Units: "10"}, true, ledger.CodeInvalidRequest},
		{Selection{Units: "10", FirstUnit: 5}, false, ledger.CodeInvalidRequest},
		{Selection{Units: "10", Vintage: 1800}, false, ledger.CodeInvalidRequest},
		{Selection{Units: "10", Vintage: 2025, FirstUnit: -1}, false, ledger.CodeInvalidRequest},
		{Selection{Units: "2000000000"}, false, ledger.CodeLimitExceeded},
	} {
		if _, err := c.in.parse(c.vRequire); ledger.ErrorCode(err) != c.code {
			t.Errorf("parse(%+v) = %v, want %s", c.in, err, c.code)
		}
	}
	s, err := Selection{Units: "300", Vintage: 2025, FirstUnit: 5904}.parse(true)
	if err != nil || s.units != 300 || s.first != 5904 {
		t.Fatalf("parse: %+v %v", s, err)
	}
}

// A trade's status is the journal's word alone: an unresolved offer is
// offered — its units are still reserved — even past its timeout, until
// the engine's sweep voids it (issue 10: it used to read expired then).
func TestTradeStatus(t *testing.T) {
	post, void, timeout := ledger.KindPendingPost, ledger.KindPendingVoid, "timeout"
	for _, c := range []struct {
		kind, reason *string
		want         string
	}{
		{nil, nil, TradeOffered},
		{&post, nil, TradeSettled},
		{&void, &timeout, TradeExpired},
		{&void, nil, TradeCancelled},
	} {
		if got := tradeStatus(c.kind, c.reason); got != c.want {
			t.Errorf("status = %s, want %s", got, c.want)
		}
	}
}
