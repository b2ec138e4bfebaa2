package registry

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Obligations (DOMAIN.md §5 step 8). The province records, per enterprise
// and compliance year, the verified emissions and the surrender obligation
// with the document they come from; the cap on offsets is floor(obligation
// × the policy's offset share) with the policy in force when the record is
// made. A record is never edited: a revision is a new record (revision
// n+1, with its reason) and every revision stays in the history. Revision
// 0 is a figure an enterprise declared at its first offset before
// obligations were recorded: it is kept, with the units surrendered under
// it, but no offset may use it.

// ObligationRevisionsMax bounds the history of one obligation.
const ObligationRevisionsMax = 100

// ObligationInput records an obligation (Revises 0) or revises the record
// in force (Revises = its revision, with a reason).
type ObligationInput struct {
	Enterprise              string `json:"enterprise"`
	ComplianceYear          int    `json:"compliance_year"`
	VerifiedEmissionsTonnes string `json:"verified_emissions_tonnes"`
	ObligationTonnes        string `json:"obligation_tonnes"`
	DocumentRef             string `json:"document_ref"`
	Revises                 int64  `json:"revises,omitempty"`
	Reason                  string `json:"reason,omitempty"`
}

// ObligationRecord is one revision of an obligation.
type ObligationRecord struct {
	Revision                int64     `json:"revision"`
	Recorded                bool      `json:"recorded"` // false: revision 0, declared by the enterprise; no offset may use it
	VerifiedEmissionsTonnes string    `json:"verified_emissions_tonnes,omitempty"`
	ObligationTonnes        string    `json:"obligation_tonnes"`
	CapShare                string    `json:"cap_share"`
	CapUnits                string    `json:"cap_units"`
	PolicyID                string    `json:"policy_id"`
	DocumentRef             string    `json:"document_ref,omitempty"`
	Reason                  string    `json:"reason,omitempty"`
	RecordedBy              string    `json:"recorded_by"`
	RecordedAt              time.Time `json:"recorded_at"`
}

// Obligation is an enterprise's obligation for a compliance year: the
// revision in force, what has been surrendered against it, and (read
// through GetObligation) every revision.
type Obligation struct {
	Enterprise     string `json:"enterprise"`
	ComplianceYear int    `json:"compliance_year"`
	ObligationRecord
	SurrenderedUnits string             `json:"surrendered_units"`
	RemainingUnits   string             `json:"remaining_units"`
	History          []ObligationRecord `json:"history"`
}

type obligationRecord struct {
	ObligationRecord
	enterprise string
	year       int
	verified   *decimal.Decimal
	obligation decimal.Decimal
	share      decimal.Decimal
	capUnits   int64
	hash       []byte
}

// recordHash covers everything a record says.
func (r obligationRecord) recordHash() []byte {
	verified := ""
	if r.verified != nil {
		verified = r.verified.String()
	}
	return ledger.RecordHash("registry.obligation", r.enterprise, strconv.Itoa(r.year), strconv.FormatInt(r.Revision, 10), verified,
		r.obligation.String(), r.share.StringFixed(4), strconv.FormatInt(r.capUnits, 10), r.PolicyID, r.DocumentRef, r.Reason,
		r.RecordedBy, hashTime(r.RecordedAt))
}

func (in ObligationInput) parse() (verified, obligation decimal.Decimal, err error) {
	if err := validHolderID(in.Enterprise, "enterprise"); err != nil {
		return verified, obligation, err
	}
	if in.ComplianceYear < ComplianceYearMin || in.ComplianceYear > ComplianceYearMax {
		return verified, obligation, ledger.Errf(ledger.CodeInvalidRequest, "compliance_year must be a year").At("compliance_year")
	}
	if verified, err = ledger.ParsePositiveAmount(ledger.AssetSDCER, in.VerifiedEmissionsTonnes); err != nil {
		return verified, obligation, asField(err, "verified_emissions_tonnes")
	}
	if obligation, err = ledger.ParsePositiveAmount(ledger.AssetSDCER, in.ObligationTonnes); err != nil {
		return verified, obligation, asField(err, "obligation_tonnes")
	}
	if in.Revises < 0 || in.Revises >= ObligationRevisionsMax {
		return verified, obligation, ledger.Errf(ledger.CodeInvalidRequest, "revises must be 0 (a first record) to %d", ObligationRevisionsMax-1).At("revises")
	}
	return verified, obligation, cmp.Or(validText(in.DocumentRef, "document_ref", true, TextBytesMax),
		validText(in.Reason, "reason", in.Revises > 0, TextBytesMax))
}

// RecordObligation (province) records an enterprise's obligation for a
// compliance year, or revises the record in force. Revises names the
// revision it replaces (0 for a first record, also over an enterprise's
// old declaration), so two province users cannot overwrite each other
// unseen: a stale Revises is a conflict. A revision whose cap is below
// the units already surrendered that year is refused.
func RecordObligation(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in ObligationInput) (Obligation, bool, error) {
	if err := a.Require(ledger.RoleProvince); err != nil {
		return Obligation{}, false, err
	}
	verified, obligation, err := in.parse()
	if err != nil {
		return Obligation{}, false, err
	}
	return run(ctx, l, a, key, "registry.obligation.record", in, func(w *ledger.Writer) (Obligation, error) {
		cur, surrendered, exists := int64(0), int64(0), true
		err := w.Tx().QueryRow(w.Ctx(), `SELECT revision, surrendered_units FROM registry_obligations WHERE enterprise = $1 AND compliance_year = $2 FOR UPDATE`,
			in.Enterprise, in.ComplianceYear).Scan(&cur, &surrendered)
		if isNoRows(err) {
			exists, err = false, nil
		}
		if err != nil {
			return Obligation{}, err
		}
		if in.Revises != cur {
			return Obligation{}, &ledger.Error{Code: ledger.CodeConflict, Field: "revises",
				Msg:    fmt.Sprintf("the obligation of %s for %d is at revision %d; revises must name it", in.Enterprise, in.ComplianceYear, cur),
				Detail: map[string]string{"revision": strconv.FormatInt(cur, 10)}}
		}
		pol, err := policyAt(w.Journal, w.Now())
		if err != nil {
			return Obligation{}, err
		}
		r := obligationRecord{enterprise: in.Enterprise, year: in.ComplianceYear, verified: &verified, obligation: obligation, share: pol.capShare,
			capUnits: OffsetCapUnits(obligation, pol.capShare)}
		r.Revision, r.PolicyID, r.DocumentRef, r.Reason, r.RecordedBy, r.RecordedAt = cur+1, pol.ID, in.DocumentRef, in.Reason, a.ID(), w.Now()
		if r.capUnits < surrendered {
			return Obligation{}, &ledger.Error{Code: CodeObligationBelowSurrendered, Field: "obligation_tonnes",
				Msg: fmt.Sprintf("%d units were already surrendered for %d; an obligation of %s t allows %d (%s); nothing was recorded",
					surrendered, in.ComplianceYear, obligation, r.capUnits, pol.capShare.StringFixed(4)),
				Detail: map[string]string{"surrendered_units": FormatUnits(surrendered), "cap_units": FormatUnits(r.capUnits)}}
		}
		if err := writeObligation(w, r, exists); err != nil {
			return Obligation{}, err
		}
		verb := "obligation.recorded"
		if cur > 0 {
			verb = "obligation.revised"
		}
		if err := w.Trail("registry", obligationSubject(in.Enterprise, in.ComplianceYear), verb, a, in.Reason, map[string]string{
			"revision": strconv.FormatInt(r.Revision, 10), "verified_emissions_tonnes": verified.String(), "obligation_tonnes": obligation.String(),
			"cap_units": FormatUnits(r.capUnits), "policy_id": pol.ID, "document_ref": in.DocumentRef}, nil); err != nil {
			return Obligation{}, err
		}
		return loadObligation(w.Journal, in.Enterprise, in.ComplianceYear, false)
	})
}

func obligationSubject(enterprise string, year int) string {
	return fmt.Sprintf("obligation:%s/%d", enterprise, year)
}

// writeObligation appends the record and makes it the one in force.
func writeObligation(w *ledger.Writer, r obligationRecord, exists bool) error {
	if _, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO registry_obligation_records (enterprise, compliance_year, revision, verified_emissions_tonnes, obligation_tonnes, cap_share,
			cap_units, policy_id, document_ref, reason, recorded_by, recorded_at, record_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		r.enterprise, r.year, r.Revision, r.verified, r.obligation, r.share, r.capUnits, r.PolicyID, r.DocumentRef, r.Reason, r.RecordedBy,
		r.RecordedAt, r.recordHash()); err != nil {
		return err
	}
	if exists {
		_, err := w.Tx().Exec(w.Ctx(), `
			UPDATE registry_obligations SET revision = $3, obligation_tonnes = $4, cap_share = $5, cap_units = $6, policy_id = $7
			WHERE enterprise = $1 AND compliance_year = $2`, r.enterprise, r.year, r.Revision, r.obligation, r.share, r.capUnits, r.PolicyID)
		return translate(err)
	}
	_, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO registry_obligations (enterprise, compliance_year, revision, obligation_tonnes, cap_share, cap_units, policy_id, declared_by, declared_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.enterprise, r.year, r.Revision, r.obligation, r.share, r.capUnits, r.PolicyID, r.RecordedBy, r.RecordedAt)
	return translate(err)
}

// ObligationKey names an obligation: an enterprise and a compliance year.
type ObligationKey struct {
	Enterprise     string
	ComplianceYear int
}

// GetObligation reads an obligation with its history. The province,
// auditors and the enterprise itself may.
func GetObligation(ctx context.Context, l *ledger.Ledger, a ledger.Actor, k ObligationKey) (Obligation, error) {
	if !a.SeesAll() && (!a.Is(ledger.RoleEnterprise) || a.Org != k.Enterprise) {
		return Obligation{}, ledger.Errf(ledger.CodeNotFound, "no obligation of %s for %d", k.Enterprise, k.ComplianceYear)
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (Obligation, error) {
		return loadObligation(r.Journal, k.Enterprise, k.ComplianceYear, true)
	})
}

// obligationCols selects an obligationRecord from registry_obligation_records r.
const obligationCols = `r.enterprise, r.compliance_year, r.revision, r.verified_emissions_tonnes, r.obligation_tonnes, r.cap_share, r.cap_units,
	r.policy_id, r.document_ref, r.reason, r.recorded_by, r.recorded_at, r.record_hash`

func scanObligation(row pgx.CollectableRow) (obligationRecord, error) {
	var r obligationRecord
	err := row.Scan(&r.enterprise, &r.year, &r.Revision, &r.verified, &r.obligation, &r.share, &r.capUnits, &r.PolicyID, &r.DocumentRef,
		&r.Reason, &r.RecordedBy, &r.RecordedAt, &r.hash)
	r.Recorded, r.RecordedAt = r.Revision > 0, r.RecordedAt.UTC()
	r.ObligationTonnes, r.CapShare, r.CapUnits = r.obligation.String(), r.share.StringFixed(4), FormatUnits(r.capUnits)
	if r.verified != nil {
		r.VerifiedEmissionsTonnes = r.verified.String()
	}
	return r, err
}

// loadObligation reads the record in force (and, with history, every
// revision, oldest first).
func loadObligation(j ledger.Journal, enterprise string, year int, history bool) (Obligation, error) {
	var rev, surrendered int64
	err := j.Tx().QueryRow(j.Ctx(), `SELECT revision, surrendered_units FROM registry_obligations WHERE enterprise = $1 AND compliance_year = $2`,
		enterprise, year).Scan(&rev, &surrendered)
	if isNoRows(err) {
		return Obligation{}, ledger.Errf(ledger.CodeNotFound, "no obligation of %s for %d", enterprise, year)
	}
	if err != nil {
		return Obligation{}, err
	}
	rows, err := j.Tx().Query(j.Ctx(), `SELECT `+obligationCols+` FROM registry_obligation_records r
		WHERE r.enterprise = $1 AND r.compliance_year = $2 AND ($3 OR r.revision = $4) ORDER BY r.revision`, enterprise, year, history, rev)
	if err != nil {
		return Obligation{}, err
	}
	recs, err := pgx.CollectRows(rows, scanObligation)
	if err != nil {
		return Obligation{}, err
	}
	o := Obligation{Enterprise: enterprise, ComplianceYear: year, SurrenderedUnits: FormatUnits(surrendered), History: []ObligationRecord{}}
	for _, r := range recs {
		if r.Revision == rev {
			o.ObligationRecord = r.ObligationRecord
			o.RemainingUnits = FormatUnits(max(r.capUnits-surrendered, 0))
		}
		if history {
			o.History = append(o.History, r.ObligationRecord)
		}
	}
	if o.RecordedBy == "" {
		return Obligation{}, ledger.Errf(ledger.CodeInternal, "obligation %s/%d is at revision %d, which has no record", enterprise, year, rev)
	}
	return o, nil
}

// offsetObligation locks the obligation an offset of units is made under
// and checks it: recorded by the province, stated the same if the offset
// states it, and with room under its cap. The caller holds the holder's
// lock (holder row before obligation row, everywhere).
func offsetObligation(w *ledger.Writer, holder string, year int, stated *decimal.Decimal, units int64) (obligationRecord, int64, error) {
	var r obligationRecord
	var used int64
	err := w.Tx().QueryRow(w.Ctx(), `
		SELECT revision, obligation_tonnes, cap_share, cap_units, surrendered_units, policy_id FROM registry_obligations
		WHERE enterprise = $1 AND compliance_year = $2 FOR UPDATE`, holder, year).Scan(&r.Revision, &r.obligation, &r.share, &r.capUnits, &used, &r.PolicyID)
	if isNoRows(err) || (err == nil && r.Revision == 0) {
		msg := fmt.Sprintf("the province has recorded no obligation of %s for %d; offsets wait for its record", holder, year)
		if err == nil {
			msg = fmt.Sprintf("the obligation of %s for %d was only declared by the enterprise (%s t); offsets wait for the province's record", holder, year, r.obligation)
		}
		return r, 0, &ledger.Error{Code: CodeObligationNotRecorded, Field: "compliance_year", Msg: msg,
			Detail: map[string]string{"enterprise": holder, "compliance_year": strconv.Itoa(year)}}
	}
	if err != nil {
		return r, 0, err
	}
	if stated != nil && !stated.Equal(r.obligation) {
		return r, 0, &ledger.Error{Code: CodeObligationMismatch, Field: "obligation_tonnes",
			Msg:    fmt.Sprintf("the province recorded the obligation for %d as %s t (revision %d); an offset that states it must state the same", year, r.obligation, r.Revision),
			Detail: map[string]string{"recorded_tonnes": r.obligation.String(), "revision": strconv.FormatInt(r.Revision, 10)}}
	}
	if used+units > r.capUnits {
		return r, 0, &ledger.Error{Code: CodeOffsetCapExceeded, Field: "units",
			Msg: fmt.Sprintf("offsets for %d are capped at %d units (%s of %s t); %d already surrendered, %d requested",
				year, r.capUnits, r.share.StringFixed(4), r.obligation, used, units),
			Detail: map[string]string{"cap_units": FormatUnits(r.capUnits), "surrendered_units": FormatUnits(used), "remaining_units": FormatUnits(r.capUnits - used)}}
	}
	return r, used, nil
}
