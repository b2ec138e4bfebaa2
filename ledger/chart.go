package ledger

import (
	"strings"
)

// The chart of accounts: every account id must match one of these shapes.
// `*` is an identifier segment (letters, digits, '_', '-', '.'; 1 to 64
// characters). The shape fixes the asset, whether the account is an issuer
// (may go negative: its negative balance is the total ever created), and
// who owns it.
type chartEntry struct {
	pattern string
	asset   Asset
	issuer  bool
	sink    bool // credit-only and sharded like an issuer: see AccountSpec.Sink
}

var chart = []chartEntry{
	{"programme:CP:issuance", AssetCP, true, false},
	{"citizen:*:CP:pending", AssetCP, false, false},
	{"citizen:*:CP:available", AssetCP, false, false},
	{"programme:CP:redeemed", AssetCP, false, true},
	{"programme:CP:expired", AssetCP, false, true},
	{"programme:CP:reversed", AssetCP, false, true},
	{"pool:*:CP", AssetCP, false, false},

	{"methodology:*:CO2E:issuance", AssetCO2E, true, false},
	{"operator:*:CO2E:pool:*:*", AssetCO2E, false, false},
	{"operator:*:CO2E:certified", AssetCO2E, false, false},
	{"operator:*:CO2E:rejected", AssetCO2E, false, false},
	{"programme:CO2E:reversed", AssetCO2E, false, false},

	{"registry:SDCER:issuance", AssetSDCER, true, false},
	{"holder:*:SDCER", AssetSDCER, false, false},
	{"registry:SDCER:retired", AssetSDCER, false, false},
	{"registry:SDCER:cancelled", AssetSDCER, false, false},
	{"registry:SDCER:surrendered", AssetSDCER, false, false},

	// The index family: one set of shapes for every index kind (CEI and
	// the pollutant totals COD, NH3N, NOX, VOCS, and any kind a later
	// migration adds to the assets table with family 'index'). The asset
	// is the {index} segment itself; the Ledger checks at Build that it is
	// a loaded asset (see Ledger.AssetScale), so a new kind is a row, not
	// a chart entry.
	{"province:" + indexSegment + ":recognition", "", true, false},
	{"enterprise:*:" + indexSegment + ":source", "", false, false},
	{"province:" + indexSegment + ":reserve", "", false, false},
	{"city:*:" + indexSegment + ":reserve", "", false, false},
	{"project:*:" + indexSegment + ":allocated", "", false, false},
	{"province:" + indexSegment + ":consumed", "", false, false},

	{"org:*:CNY", AssetCNY, false, false},
	{"province:CNY:revenue", AssetCNY, false, false},
	{"external:CNY", AssetCNY, true, false},
}

const identSegmentBytesMax = 64

// indexSegment stands for the asset of an index-family shape.
const indexSegment = "{index}"

// ValidIndexAsset reports whether s can name an index kind's asset: 2 to
// 16 upper-case letters and digits, starting with a letter, and not one of
// the engine's own non-index assets. ("NH3-N" is written "NH3N": a code is
// also a path segment and a CSV column, where '-' would need care.)
func ValidIndexAsset(s string) bool {
	if len(s) < 2 || len(s) > 16 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	switch Asset(s) {
	case AssetCP, AssetCO2E, AssetSDCER, AssetCNY:
		return false
	}
	return true
}

// AccountSpec is what the chart says about an account id.
type AccountSpec struct {
	ID     string
	Asset  Asset
	Issuer bool
	// Sink accounts only ever receive (every citizen's redemption or
	// expiry lands on one), so their balance is sharded like an issuer's
	// and a debit from them is refused: they can never go negative.
	Sink  bool
	Owner string // "citizen:C1", "programme", "operator:metro-jn"
	Type  string // "available", "issuance", "pool", ...
}

// ClassifyAccount checks id against the chart.
func ClassifyAccount(id string) (AccountSpec, error) {
	if len(id) < 3 || len(id) > 200 {
		return AccountSpec{}, Errf(CodeInvalidAccount, "account id must be 3 to 200 characters")
	}
	// Every posting is classified several times on the write path (the
	// request, the transaction, the balances, the event's visibility), so
	// this splits into a fixed array and matches against shapes split
	// once (chartShapes), allocating only the owner it returns.
	var buf [chartSegmentsMax]string
	segs, ok := splitSegments(id, &buf)
	if !ok {
		return AccountSpec{}, Errf(CodeInvalidAccount, "account id %q matches no shape in the chart of accounts", id)
	}
	for _, sh := range chartShapes {
		pat := sh.segs
		if len(pat) != len(segs) {
			continue
		}
		match := true
		asset := sh.entry.asset
		for i, p := range pat {
			if p == indexSegment {
				if !ValidIndexAsset(segs[i]) {
					match = false
					break
				}
				asset = Asset(segs[i])
			} else if p == "*" {
				if !ValidIdent(segs[i]) {
					match = false
					break
				}
			} else if p != segs[i] {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		owner := segs[0]
		if pat[1] == "*" {
			owner = id[:len(segs[0])+1+len(segs[1])] // "operator:metro-jn", a substring of id
		}
		return AccountSpec{ID: id, Asset: asset, Issuer: sh.entry.issuer, Sink: sh.entry.sink, Owner: owner, Type: sh.typ}, nil
	}
	return AccountSpec{}, Errf(CodeInvalidAccount, "account id %q matches no shape in the chart of accounts", id)
}

// chartSegmentsMax is more segments than any shape of the chart has.
const chartSegmentsMax = 8

// splitSegments splits id at ':' into buf; false when it has more
// segments than any shape.
func splitSegments(id string, buf *[chartSegmentsMax]string) ([]string, bool) {
	n := 0
	for {
		i := strings.IndexByte(id, ':')
		if n == chartSegmentsMax {
			return nil, false
		}
		if i < 0 {
			buf[n] = id
			return buf[:n+1], true
		}
		buf[n] = id[:i]
		n++
		id = id[i+1:]
	}
}

// chartShape is a chart entry with its pattern split into segments and
// its type: the last fixed segment other than the asset ("available",
// "pool", "issuance", "holder", "external").
type chartShape struct {
	entry chartEntry
	segs  []string
	typ   string
}

var chartShapes = func() []chartShape {
	out := make([]chartShape, len(chart))
	for n, e := range chart {
		pat := strings.Split(e.pattern, ":")
		if len(pat) > chartSegmentsMax || len(pat) < 2 {
			panic("chart shape " + e.pattern + " has too many or too few segments")
		}
		typ := ""
		for i := len(pat) - 1; i >= 0 && typ == ""; i-- {
			if pat[i] != "*" && pat[i] != indexSegment && pat[i] != string(e.asset) {
				typ = pat[i]
			}
		}
		out[n] = chartShape{entry: e, segs: pat, typ: typ}
	}
	return out
}()

// Sharded reports whether the account's balance lives in shards.
func (s AccountSpec) Sharded() bool { return s.Issuer || s.Sink }

// ValidIdent reports whether s is a valid identifier segment.
func ValidIdent(s string) bool {
	if len(s) == 0 || len(s) > identSegmentBytesMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Account id builders, so callers do not format ids by hand.
func CitizenPendingAccount(id string) string   { return "citizen:" + id + ":CP:pending" }
func CitizenAvailableAccount(id string) string { return "citizen:" + id + ":CP:available" }
func HolderAccount(id string) string           { return "holder:" + id + ":SDCER" }
func OrgMoneyAccount(id string) string         { return "org:" + id + ":CNY" }
