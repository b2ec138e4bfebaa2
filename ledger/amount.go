package ledger

import (
	"github.com/shopspring/decimal"
)

// Asset codes. Assets are never fungible with each other: a transaction
// balances per asset, and every account holds exactly one asset.
type Asset string

const (
	AssetCP    Asset = "CP"    // carbon points, 1 point = 1 g CO2e, whole points
	AssetCO2E  Asset = "CO2E"  // recognised reductions, whole grams
	AssetSDCER Asset = "SDCER" // certified units, 1 unit = 1 t CO2e, whole units
	AssetCEI   Asset = "CEI"   // two-high emission index, whole t CO2 per year
	AssetCNY   Asset = "CNY"   // money, yuan with 2 decimals (exact to the fen)
)

// assetScales is the fixed number of decimals per asset. The same values
// are seeded into the assets table by migration 0001.
var assetScales = map[Asset]int32{
	AssetCP: 0, AssetCO2E: 0, AssetSDCER: 0, AssetCEI: 0, AssetCNY: 2,
}

const (
	amountIntegerDigitsMax = 30 // NUMERIC(38,6) leaves 32; keep headroom for sums
	amountTextBytesMax     = 40
)

// Scale returns the asset's fixed scale and whether the asset is known.
func (a Asset) Scale() (int32, bool) {
	s, ok := assetScales[a]
	return s, ok
}

// Managed reports whether the asset's balances are tied to a use case's
// own records (points lots, serial blocks, index tranches), so that only
// that use case may post it. The generic administrative transactions move
// CNY only; a direct CP, CO2E, SDCER or CEI posting would put the journal
// and those records out of step.
func (a Asset) Managed() bool { return a != AssetCNY }

// ParseAmount parses a non-negative decimal string for asset a. The grammar
// is deliberately narrow: digits, optionally a dot and digits; no sign,
// exponent, spaces, NaN or Infinity. More decimals than the asset's scale
// is an error rather than a rounding, because an amount the client meant
// differently must not post silently.
func ParseAmount(a Asset, s string) (decimal.Decimal, error) {
	scale, ok := a.Scale()
	return parseAmount(a, scale, ok, s)
}

func parseAmount(a Asset, scale int32, ok bool, s string) (decimal.Decimal, error) {
	if !ok {
		return decimal.Decimal{}, Errf(CodeInvalidAmount, "unknown asset %q", string(a))
	}
	if len(s) == 0 || len(s) > amountTextBytesMax {
		return decimal.Decimal{}, Errf(CodeInvalidAmount, "amount must be a decimal string of 1 to %d characters", amountTextBytesMax)
	}
	intDigits, fracDigits, seenDot := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if seenDot {
				fracDigits++
			} else {
				intDigits++
			}
		case c == '.' && !seenDot:
			seenDot = true
		default:
			return decimal.Decimal{}, Errf(CodeInvalidAmount, "amount %q is not a plain decimal (digits and at most one dot)", s)
		}
	}
	if intDigits == 0 || (seenDot && fracDigits == 0) {
		return decimal.Decimal{}, Errf(CodeInvalidAmount, "amount %q is not a plain decimal", s)
	}
	if fracDigits > int(scale) {
		return decimal.Decimal{}, Errf(CodeInvalidAmount, "amount %q has more than %d decimals allowed for %s", s, scale, a)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, Errf(CodeInvalidAmount, "amount %q: %v", s, err)
	}
	if d.Truncate(0).String() != "0" && len(d.Truncate(0).String()) > amountIntegerDigitsMax {
		return decimal.Decimal{}, Errf(CodeInvalidAmount, "amount %q exceeds %d integer digits", s, amountIntegerDigitsMax)
	}
	return d, nil
}

// ParsePositiveAmount is ParseAmount that also refuses zero.
func ParsePositiveAmount(a Asset, s string) (decimal.Decimal, error) {
	d, err := ParseAmount(a, s)
	if err != nil {
		return d, err
	}
	if !d.IsPositive() {
		return d, Errf(CodeInvalidAmount, "amount must be greater than zero")
	}
	return d, nil
}

// ParseSignedAmount parses an optionally negative amount (a posting leg).
func ParseSignedAmount(a Asset, s string) (decimal.Decimal, error) {
	if len(s) > 0 && s[0] == '-' {
		d, err := ParseAmount(a, s[1:])
		return d.Neg(), err
	}
	return ParseAmount(a, s)
}

// FormatAmount renders d with exactly the asset's scale ("18000.00").
func FormatAmount(a Asset, d decimal.Decimal) string {
	scale, _ := a.Scale()
	return d.StringFixed(scale)
}

// checkScale reports whether d fits the asset's scale and range.
func checkScale(a Asset, d decimal.Decimal) error {
	return checkScaleOf(Asset.Scale, a, d)
}

// scaleOf looks an asset's scale up: Asset.Scale for the engine's own
// assets, Ledger.AssetScale for those loaded from the assets table too.
type scaleOf func(Asset) (int32, bool)

func checkScaleOf(lookup scaleOf, a Asset, d decimal.Decimal) error {
	scale, ok := lookup(a)
	if !ok {
		return Errf(CodeInvalidAmount, "unknown asset %q", string(a))
	}
	if !d.Equal(d.Truncate(scale)) {
		return Errf(CodeInvalidAmount, "amount %s has more than %d decimals allowed for %s", d.String(), scale, a)
	}
	if len(d.Abs().Truncate(0).String()) > amountIntegerDigitsMax {
		return Errf(CodeInvalidAmount, "amount exceeds %d integer digits", amountIntegerDigitsMax)
	}
	return nil
}
