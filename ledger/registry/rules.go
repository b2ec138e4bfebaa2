package registry

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Fixed identifiers of this registry (DOMAIN.md §5.6).
const (
	Region    = "CN37" // Shandong: country code and provincial administrative code 37
	Programme = "SDCER"
)

// GramsPerUnit: one SDCER unit is one tonne of CO2e.
const GramsPerUnit = 1_000_000

// Named limits (TIGER_STYLE).
const (
	BlocksPerMoveMax  = 500           // blocks one move may touch; name a range to move more
	UnitsPerMoveMax   = 1_000_000_000 // units in one request
	TextBytesMax      = 200           // beneficiary, references, reasons
	NoteBytesMax      = 1000          // free-text note on a certificate
	VintageMin        = 2000
	VintageMax        = 2999
	ComplianceYearMin = 2000
	ComplianceYearMax = 2999
)

// Retirement purposes (DOMAIN.md §5.8).
const (
	PurposeVoluntaryNeutrality = "voluntary_neutrality"
	PurposeEventNeutrality     = "event_neutrality"
	PurposePublicInstitution   = "public_institution"
	PurposeOther               = "other"
)

// ValidPurpose reports whether p is a retirement purpose.
func ValidPurpose(p string) bool {
	switch p {
	case PurposeVoluntaryNeutrality, PurposeEventNeutrality, PurposePublicInstitution, PurposeOther:
		return true
	}
	return false
}

// Serial is a block of consecutive units of one programme and vintage.
type Serial struct {
	Region    string
	Programme string
	Sector    string // two digits
	Project   string // four digits
	First     int64
	Last      int64
	Vintage   int
}

// String renders the documented format, e.g. CN37-SDCER-07-0001-1-6203-2025.
func (s Serial) String() string {
	return fmt.Sprintf("%s-%s-%s-%s-%d-%d-%d", s.Region, s.Programme, s.Sector, s.Project, s.First, s.Last, s.Vintage)
}

// Units is the number of units in the block.
func (s Serial) Units() int64 { return s.Last - s.First + 1 }

// ParseSerial parses the format String writes and checks every field.
func ParseSerial(v string) (Serial, error) {
	bad := func(why string) (Serial, error) {
		return Serial{}, ledger.Errf(ledger.CodeInvalidRequest, "serial %q: %s (want e.g. CN37-SDCER-07-0001-1-6203-2025)", truncate(v, 80), why)
	}
	if len(v) > 100 {
		return bad("too long")
	}
	parts := strings.Split(v, "-")
	if len(parts) != 7 {
		return bad("expected 7 fields separated by '-'")
	}
	s := Serial{Region: parts[0], Programme: parts[1], Sector: parts[2], Project: parts[3]}
	if s.Region != Region || s.Programme != Programme {
		return bad("unknown region or programme")
	}
	if !ValidSector(s.Sector) || !ValidProject(s.Project) {
		return bad("sector must be 2 digits and project 4 digits")
	}
	var err error
	if s.First, err = parseUnitNumber(parts[4]); err != nil {
		return bad("first unit is not a positive number")
	}
	if s.Last, err = parseUnitNumber(parts[5]); err != nil {
		return bad("last unit is not a positive number")
	}
	if s.Last < s.First {
		return bad("last unit before first")
	}
	y, err := strconv.Atoi(parts[6])
	if err != nil || len(parts[6]) != 4 || y < VintageMin || y > VintageMax {
		return bad("vintage must be a year")
	}
	s.Vintage = y
	return s, nil
}

func parseUnitNumber(p string) (int64, error) {
	if p == "" || p[0] == '0' || len(p) > 18 || !allDigits(p) {
		return 0, fmt.Errorf("bad unit number")
	}
	return strconv.ParseInt(p, 10, 64)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ValidSector and ValidProject check the serial's code fields.
func ValidSector(s string) bool  { return len(s) == 2 && allDigits(s) }
func ValidProject(s string) bool { return len(s) == 4 && allDigits(s) }

// VintageOfPeriod is the year a pool period starts with: "2025", "2025-Q1"
// and "2025-06" are all vintage 2025.
func VintageOfPeriod(period string) (int, error) {
	if len(period) < 4 || !allDigits(period[:4]) {
		return 0, ledger.Errf(ledger.CodeInvalidRequest, "period %q must start with its four-digit year (the vintage), e.g. 2025 or 2025-Q1", truncate(period, 64)).At("period")
	}
	y, _ := strconv.Atoi(period[:4])
	if y < VintageMin || y > VintageMax {
		return 0, ledger.Errf(ledger.CodeInvalidRequest, "period year %d is out of range", y).At("period")
	}
	return y, nil
}

// UnitsOfGrams is the number of whole tonnes in grams: floor(grams / 1e6).
// The remainder stays in the pool.
func UnitsOfGrams(grams decimal.Decimal) (units int64, remainder decimal.Decimal) {
	if !grams.IsPositive() {
		return 0, grams
	}
	q := grams.Div(decimal.NewFromInt(GramsPerUnit)).Floor()
	return q.IntPart(), grams.Sub(q.Mul(decimal.NewFromInt(GramsPerUnit)))
}

// OffsetCapUnits is the most units an enterprise may surrender against an
// obligation: floor(obligation tonnes × share). Rounding down keeps the
// surrendered amount within the share.
func OffsetCapUnits(obligationTonnes, share decimal.Decimal) int64 {
	return obligationTonnes.Mul(share).Floor().IntPart()
}

// ParseUnits parses a whole, positive number of units given as a decimal
// string (amounts are never JSON numbers).
func ParseUnits(s, field string) (int64, error) {
	d, err := ledger.ParsePositiveAmount(ledger.AssetSDCER, s)
	if err != nil {
		if e, ok := ledger.AsError(err); ok {
			return 0, e.At(field)
		}
		return 0, err
	}
	if d.GreaterThan(decimal.NewFromInt(UnitsPerMoveMax)) {
		return 0, ledger.Errf(ledger.CodeLimitExceeded, "at most %d units per request", UnitsPerMoveMax).At(field)
	}
	return d.IntPart(), nil
}

// FormatUnits renders a unit count as an amount string.
func FormatUnits(n int64) string { return strconv.FormatInt(n, 10) }

// span is an inclusive range of unit numbers.
type span struct{ First, Last int64 }

func (s span) units() int64 { return s.Last - s.First + 1 }

// freeBlock is a block a holder may move: held, unreserved, its own.
type freeBlock struct {
	ID      string
	Vintage int
	span
}

// take is the part of a block that leaves it.
type take struct {
	Block freeBlock
	Move  span
}

// planFIFO takes units from blocks in the order given (ascending vintage
// and first unit): whole blocks, then the tail of the last one. It fails
// when the blocks hold fewer units.
func planFIFO(blocks []freeBlock, units int64) ([]take, error) {
	if units <= 0 {
		return nil, ledger.Errf(ledger.CodeInvalidAmount, "units must be positive")
	}
	var out []take
	need := units
	for _, b := range blocks {
		if need == 0 {
			break
		}
		n := b.units()
		if n <= need {
			out = append(out, take{Block: b, Move: b.span})
			need -= n
			continue
		}
		out = append(out, take{Block: b, Move: span{First: b.Last - need + 1, Last: b.Last}})
		need = 0
	}
	if need > 0 {
		return nil, errNotEnough(units, units-need)
	}
	return out, nil
}

// planRange takes exactly the units [want.First, want.Last] from blocks:
// the holder's free blocks overlapping that range, sorted by first unit.
// When a unit of the range is not covered by one of them, it returns that
// unit and ok=false: it is not the caller's to move.
func planRange(blocks []freeBlock, want span) (takes []take, missing int64, ok bool) {
	next := want.First
	for _, b := range blocks {
		if b.Last < want.First || b.First > want.Last {
			continue
		}
		if b.First > next {
			break
		}
		mv := span{First: max(b.First, want.First), Last: min(b.Last, want.Last)}
		if mv.First != next {
			break
		}
		takes = append(takes, take{Block: b, Move: mv})
		next = mv.Last + 1
		if next > want.Last {
			return takes, 0, true
		}
	}
	return nil, next, false
}

// carve splits block b so that m leaves it: what stays is the head before
// m and the tail after it (either may be empty).
func carve(b span, m span) (head *span, tail *span) {
	if m.First > b.First {
		head = &span{First: b.First, Last: m.First - 1}
	}
	if m.Last < b.Last {
		tail = &span{First: m.Last + 1, Last: b.Last}
	}
	return head, tail
}

func errNotEnough(want, have int64) *ledger.Error {
	return &ledger.Error{Code: ledger.CodeInsufficientBalance,
		Msg:    fmt.Sprintf("the holding has %d free units matching the request; %d requested", have, want),
		Detail: map[string]string{"requested": FormatUnits(want), "available": FormatUnits(have)}}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// validText checks a required (or optional) free-text field.
func validText(s, field string, required bool, maxBytes int) error {
	if required && strings.TrimSpace(s) == "" {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s is required", field).At(field)
	}
	if len(s) > maxBytes {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s exceeds %d bytes", field, maxBytes).At(field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return ledger.Errf(ledger.CodeInvalidRequest, "%s contains control characters", field).At(field)
		}
	}
	return nil
}
