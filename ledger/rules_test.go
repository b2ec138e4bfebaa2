package ledger

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestParseAmountRejects(t *testing.T) {
	cases := []struct {
		asset Asset
		in    string
	}{
		{AssetCP, ""}, {AssetCP, "-1"}, {AssetCP, "+1"}, {AssetCP, "1.5"}, {AssetCP, "1e3"}, {AssetCP, "NaN"},
		{AssetCP, "Infinity"}, {AssetCP, " 1"}, {AssetCP, "1 "}, {AssetCP, "0x10"}, {AssetCP, "1,000"}, {AssetCP, "."},
		{AssetCP, "1."}, {AssetCP, ".5"}, {AssetCNY, "1.234"}, {AssetCNY, "1..2"}, {AssetCP, "1234567890123456789012345678901"},
		{AssetCP, "12345678901234567890123456789012345678901"}, {Asset("XYZ"), "1"}, {AssetCP, "١٢"},
	}
	for _, c := range cases {
		if d, err := ParseAmount(c.asset, c.in); err == nil {
			t.Errorf("ParseAmount(%s, %q) = %s, want error", c.asset, c.in, d)
		} else if ErrorCode(err) != CodeInvalidAmount {
			t.Errorf("ParseAmount(%s, %q) code %s, want invalid_amount", c.asset, c.in, ErrorCode(err))
		}
	}
	if _, err := ParsePositiveAmount(AssetCP, "0"); err == nil {
		t.Error("zero accepted as positive")
	}
}

func TestParseAmountAccepts(t *testing.T) {
	cases := map[string]struct {
		asset Asset
		in    string
		want  string
	}{
		"whole":     {AssetCP, "2532", "2532"},
		"cny fen":   {AssetCNY, "18000.00", "18000.00"},
		"cny short": {AssetCNY, "0.5", "0.50"},
		"zero":      {AssetCEI, "0", "0"},
		"big":       {AssetCO2E, "123456789012345678901234567890", "123456789012345678901234567890"},
	}
	for name, c := range cases {
		d, err := ParseAmount(c.asset, c.in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := FormatAmount(c.asset, d); got != c.want {
			t.Errorf("%s: got %s want %s", name, got, c.want)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1", "0.01", "18000.00", "-1", "1e9", "NaN", "00012", "9999999999999999999999999999999"} {
		f.Add("CNY", s)
		f.Add("CP", s)
	}
	f.Fuzz(func(t *testing.T, asset, s string) {
		a := Asset(asset)
		d, err := ParseAmount(a, s)
		if err != nil {
			return
		}
		if d.IsNegative() {
			t.Fatalf("negative amount accepted: %q", s)
		}
		if err := checkScale(a, d); err != nil {
			t.Fatalf("accepted %q but it violates the scale: %v", s, err)
		}
		back, err := ParseAmount(a, FormatAmount(a, d))
		if err != nil || !back.Equal(d) {
			t.Fatalf("round trip of %q: %v %v", s, back, err)
		}
	})
}

func TestClassifyAccount(t *testing.T) {
	good := map[string]AccountSpec{
		"programme:CP:issuance":                     {Asset: AssetCP, Issuer: true, Owner: "programme", Type: "issuance"},
		"citizen:C1:CP:available":                   {Asset: AssetCP, Owner: "citizen:C1", Type: "available"},
		"operator:metro:CO2E:pool:metro-v1:2025-06": {Asset: AssetCO2E, Owner: "operator:metro", Type: "pool"},
		"holder:E1:SDCER":                           {Asset: AssetSDCER, Owner: "holder:E1", Type: "holder"},
		"external:CNY":                              {Asset: AssetCNY, Issuer: true, Owner: "external", Type: "external"},
		"city:3704:CEI:reserve":                     {Asset: AssetCEI, Owner: "city:3704", Type: "reserve"},
	}
	for id, want := range good {
		got, err := ClassifyAccount(id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		want.ID = id
		if got != want {
			t.Errorf("%s: got %+v want %+v", id, got, want)
		}
	}
	for _, id := range []string{"", "citizen:C1:CP", "citizen::CP:available", "citizen:C 1:CP:available", "citizen:C1:CNY:available",
		"programme:CP:issuance:x", "holder:" + string(make([]byte, 65)) + ":SDCER", "world", "citizen:C1:CP:available:"} {
		if _, err := ClassifyAccount(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestNewTransactionRejects(t *testing.T) {
	d := decimal.NewFromInt
	leg := func(a string, n int64) PostingInput { return PostingInput{Account: a, Amount: d(n)} }
	ok := []PostingInput{leg("external:CNY", -5), leg("org:E1:CNY", 5)}
	cases := map[string]struct {
		in   TxInput
		code Code
	}{
		"no kind":        {TxInput{Postings: ok}, CodeInvalidRequest},
		"bad kind":       {TxInput{Kind: "Drop Table", Postings: ok}, CodeInvalidRequest},
		"one posting":    {TxInput{Kind: "t", Postings: ok[:1]}, CodeInvalidRequest},
		"unbalanced":     {TxInput{Kind: "t", Postings: []PostingInput{leg("external:CNY", -5), leg("org:E1:CNY", 4)}}, CodeUnbalanced},
		"cross asset":    {TxInput{Kind: "t", Postings: []PostingInput{leg("external:CNY", -5), leg("holder:E1:SDCER", 5)}}, CodeUnbalanced},
		"zero leg":       {TxInput{Kind: "t", Postings: []PostingInput{leg("external:CNY", 0), leg("org:E1:CNY", 0)}}, CodeInvalidAmount},
		"bad account":    {TxInput{Kind: "t", Postings: []PostingInput{leg("world", -5), leg("org:E1:CNY", 5)}}, CodeInvalidAccount},
		"duplicate":      {TxInput{Kind: "t", Postings: []PostingInput{leg("org:E1:CNY", -5), leg("org:E1:CNY", 5)}}, CodeInvalidRequest},
		"scale":          {TxInput{Kind: "t", Postings: []PostingInput{{"programme:CP:issuance", decimal.RequireFromString("-1.5")}, {"citizen:C1:CP:pending", decimal.RequireFromString("1.5")}}}, CodeInvalidAmount},
		"timeout posted": {TxInput{Kind: "t", Postings: ok, Timeout: time.Second}, CodeInvalidRequest},
		"future":         {TxInput{Kind: "t", Postings: ok, EffectiveAt: time.Now().Add(time.Hour)}, CodeInvalidRequest},
		"meta key":       {TxInput{Kind: "t", Postings: ok, Metadata: map[string]string{"bad key": "x"}}, CodeInvalidRequest},
	}
	for name, c := range cases {
		_, err := NewTransaction(c.in, "test", time.Now())
		if ErrorCode(err) != c.code {
			t.Errorf("%s: got %v, want code %s", name, err, c.code)
		}
	}
	too := make([]PostingInput, PostingsPerTransactionMax+1)
	for i := range too {
		too[i] = leg("org:E"+string(rune('a'+i%26))+string(rune('a'+i/26))+":CNY", 0)
	}
	if _, err := NewTransaction(TxInput{Kind: "t", Postings: too}, "test", time.Now()); ErrorCode(err) != CodeInvalidRequest {
		t.Errorf("too many postings: %v", err)
	}
}

var fuzzAccounts = []string{"external:CNY", "org:A:CNY", "org:B:CNY", "programme:CP:issuance", "citizen:C1:CP:pending",
	"citizen:C1:CP:available", "holder:E1:SDCER", "registry:SDCER:issuance", "world", "org:A:CNY"}

// FuzzNewTransaction: whatever the constructor accepts balances per asset.
func FuzzNewTransaction(f *testing.F) {
	f.Add([]byte{0, 1, 1, 5}, int64(7), int64(-7), int64(0))
	f.Add([]byte{3, 4, 5, 2}, int64(10), int64(-3), int64(-7))
	f.Fuzz(func(t *testing.T, picks []byte, a, b, c int64) {
		amounts := []int64{a, b, c, -(a + b + c)}
		var legs []PostingInput
		for i, p := range picks {
			if i >= 8 {
				break
			}
			amt := decimal.NewFromInt(amounts[i%len(amounts)])
			if p&0x80 != 0 {
				amt = amt.Shift(-2)
			}
			legs = append(legs, PostingInput{Account: fuzzAccounts[int(p)%len(fuzzAccounts)], Amount: amt})
		}
		tx, err := NewTransaction(TxInput{Kind: "fuzz", Postings: legs}, "fuzz", time.Now())
		if err != nil {
			return
		}
		sums := map[Asset]decimal.Decimal{}
		for _, p := range tx.Postings {
			spec, err := ClassifyAccount(p.Account)
			if err != nil || spec.Asset != p.Asset {
				t.Fatalf("accepted posting to %q with asset %s", p.Account, p.Asset)
			}
			if p.Amount.IsZero() || checkScale(p.Asset, p.Amount) != nil {
				t.Fatalf("accepted bad amount %s", p.Amount)
			}
			sums[p.Asset] = sums[p.Asset].Add(p.Amount)
		}
		for a, s := range sums {
			if !s.IsZero() {
				t.Fatalf("accepted unbalanced %s: %s", a, s)
			}
		}
		if len(tx.Postings) < 2 {
			t.Fatal("accepted fewer than two postings")
		}
	})
}

func TestTransactionHashCoversContent(t *testing.T) {
	in := TxInput{Kind: "t", Postings: []PostingInput{{"external:CNY", decimal.NewFromInt(-5)}, {"org:E1:CNY", decimal.NewFromInt(5)}}, Metadata: map[string]string{"a": "1"}}
	tx, err := NewTransaction(in, "actor", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := tx.computeHash()
	mutations := []func(*Transaction){
		func(x *Transaction) { x.Kind = "u" },
		func(x *Transaction) { x.Actor = "other" },
		func(x *Transaction) { x.Metadata["a"] = "2" },
		func(x *Transaction) { x.Postings[0].Amount = decimal.NewFromInt(-6) },
		func(x *Transaction) { x.Postings[1].Account = "org:E2:CNY" },
		func(x *Transaction) { x.Postings = x.Postings[:1] },
		func(x *Transaction) { x.EffectiveAt = x.EffectiveAt.Add(time.Microsecond) },
	}
	for i, m := range mutations {
		c := *tx
		c.Metadata = copyMetadata(tx.Metadata)
		c.Postings = append([]Posting(nil), tx.Postings...)
		m(&c)
		if string(c.computeHash()) == string(h) {
			t.Errorf("mutation %d not detected by the hash", i)
		}
	}
}
