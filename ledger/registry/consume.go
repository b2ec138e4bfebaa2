package registry

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Terminal sinks.
const (
	RetiredAccount     = "registry:SDCER:retired"
	CancelledAccount   = "registry:SDCER:cancelled"
	SurrenderedAccount = "registry:SDCER:surrendered"
)

// RetireInput retires units of one vintage for a purpose and beneficiary.
type RetireInput struct {
	Selection
	Purpose     string `json:"purpose"`
	Beneficiary string `json:"beneficiary"`
	Note        string `json:"note,omitempty"`
}

// Certificate is the public proof of a retirement.
type Certificate struct {
	ID            uuid.UUID `json:"id"`
	Holder        string    `json:"holder"`
	Beneficiary   string    `json:"beneficiary"`
	Purpose       string    `json:"purpose"`
	Note          string    `json:"note,omitempty"`
	Vintage       int       `json:"vintage"`
	Tonnes        string    `json:"tonnes"`
	Serials       []string  `json:"serials"`
	TransactionID uuid.UUID `json:"transaction_id"`
	RetiredAt     time.Time `json:"retired_at"`
}

// Retire (holder) retires units of one vintage for good: they go to the
// retired sink and their blocks become terminal. The certificate is
// public.
func Retire(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in RetireInput) (Certificate, bool, error) {
	holder, err := holderOf(a)
	if err != nil {
		return Certificate{}, false, err
	}
	sel, err := in.Selection.parse(true)
	if err != nil {
		return Certificate{}, false, err
	}
	if !ValidPurpose(in.Purpose) {
		return Certificate{}, false, ledger.Errf(ledger.CodeInvalidRequest, "purpose must be one of %s, %s, %s, %s",
			PurposeVoluntaryNeutrality, PurposeEventNeutrality, PurposePublicInstitution, PurposeOther).At("purpose")
	}
	if err := cmp.Or(validText(in.Beneficiary, "beneficiary", true, TextBytesMax), validText(in.Note, "note", false, NoteBytesMax)); err != nil {
		return Certificate{}, false, err
	}
	return run(ctx, l, a, key, "registry.retire", in, func(w *ledger.Writer) (Certificate, error) {
		id := ledger.NewID()
		t, moved, err := consume(w, a, holder, sel, RetiredAccount, StatusRetired, id, "registry.retirement",
			map[string]string{"retirement_id": id.String(), "purpose": in.Purpose})
		if err != nil {
			return Certificate{}, err
		}
		c := Certificate{ID: id, Holder: holder, Beneficiary: in.Beneficiary, Purpose: in.Purpose, Note: in.Note, Vintage: sel.vintage,
			Tonnes: FormatUnits(sel.units), Serials: serials(moved), TransactionID: t.ID, RetiredAt: w.Now()}
		_, err = w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_retirements (id, holder, vintage, units, purpose, beneficiary, note, tx_id, retired_by, retired_at, record_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			id, holder, sel.vintage, sel.units, in.Purpose, in.Beneficiary, in.Note, t.ID, a.ID(), c.RetiredAt, c.recordHash())
		return c, err
	})
}

// consume moves the selected units of holder to a terminal sink: one
// journal transaction, and the blocks become terminal with ref.
func consume(w *ledger.Writer, a ledger.Actor, holder string, sel selection, sink, status string, ref uuid.UUID, kind string, meta map[string]string) (*ledger.Transaction, []Block, error) {
	st, err := lockHolders(w, holder)
	if err != nil {
		return nil, nil, err
	}
	if err := requireActive(st, holder); err != nil {
		return nil, nil, err
	}
	picked, err := pick(w, holder, sel)
	if err != nil {
		return nil, nil, err
	}
	if err := w.OpenAccounts(sink); err != nil {
		return nil, nil, err
	}
	t, err := post(w, a, ledger.TxInput{Kind: kind, Metadata: meta, Postings: unitLegs(ledger.HolderAccount(holder), sink, sel.units)})
	if err != nil {
		return nil, nil, err
	}
	moved, err := moveBlocks(w, picked, target{from: holder, holder: holder, status: status, consumedRef: &ref, txID: &t.ID})
	return t, moved, err
}

// GetCertificate reads a retirement certificate. It is public: anyone can
// check a neutrality claim against the registry.
func GetCertificate(ctx context.Context, l *ledger.Ledger, id uuid.UUID) (Certificate, error) {
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (c Certificate, err error) {
		found := false
		err = eachCertificate(r.Journal, `r.id = $1`, func(got Certificate, _ []byte) error {
			c, found = got, true
			return nil
		}, id)
		if err == nil && !found {
			err = ledger.Errf(ledger.CodeNotFound, "retirement certificate %s not found", id)
		}
		return c, err
	})
}

// OffsetInput surrenders units against a declared ETS obligation.
type OffsetInput struct {
	Selection
	ComplianceYear   int    `json:"compliance_year"`
	ObligationTonnes string `json:"obligation_tonnes"` // declared obligation of that year
	EtsReference     string `json:"ets_reference"`
}

// Offset is a surrender against an obligation.
type Offset struct {
	ID               uuid.UUID `json:"id"`
	Enterprise       string    `json:"enterprise"`
	ComplianceYear   int       `json:"compliance_year"`
	Units            string    `json:"units"`
	ObligationTonnes string    `json:"obligation_tonnes"`
	CapShare         string    `json:"cap_share"`
	CapUnits         string    `json:"cap_units"`
	SurrenderedUnits string    `json:"surrendered_units"` // for the year, including this one
	PolicyID         string    `json:"policy_id"`
	EtsReference     string    `json:"ets_reference"`
	Serials          []string  `json:"serials"`
	TransactionID    uuid.UUID `json:"transaction_id"`
	At               time.Time `json:"at"`
}

// Surrender (enterprise) offsets part of an ETS obligation. The first
// offset of a compliance year declares the obligation and fixes the cap:
// floor(obligation × the policy's share, 5 % by default); every offset of
// that year locks the obligation row, so concurrent offsets cannot pass
// the cap together.
func Surrender(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in OffsetInput) (Offset, bool, error) {
	if err := a.Require(ledger.RoleEnterprise); err != nil {
		return Offset{}, false, err
	}
	holder := a.Org
	sel, err := in.Selection.parse(false)
	if err != nil {
		return Offset{}, false, err
	}
	if in.ComplianceYear < ComplianceYearMin || in.ComplianceYear > ComplianceYearMax {
		return Offset{}, false, ledger.Errf(ledger.CodeInvalidRequest, "compliance_year must be a year").At("compliance_year")
	}
	obligation, err := ledger.ParsePositiveAmount(ledger.AssetSDCER, in.ObligationTonnes)
	if err != nil {
		return Offset{}, false, asField(err, "obligation_tonnes")
	}
	if err := validText(in.EtsReference, "ets_reference", true, TextBytesMax); err != nil {
		return Offset{}, false, err
	}
	return run(ctx, l, a, key, "registry.offset", in, func(w *ledger.Writer) (Offset, error) {
		// Lock order: holder row (in consume) comes before the obligation
		// row everywhere, so take the holder lock first here too.
		if _, err := lockHolders(w, holder); err != nil {
			return Offset{}, err
		}
		pol, err := policyAt(w.Journal, w.Now())
		if err != nil {
			return Offset{}, err
		}
		capUnits := OffsetCapUnits(obligation, pol.capShare)
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_obligations (enterprise, compliance_year, obligation_tonnes, cap_share, cap_units, policy_id, declared_by, declared_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (enterprise, compliance_year) DO NOTHING`,
			holder, in.ComplianceYear, obligation, pol.capShare, capUnits, pol.ID, a.ID(), w.Now()); err != nil {
			return Offset{}, err
		}
		var declared, share decimal.Decimal
		var capped, used int64
		var policyID string
		if err := w.Tx().QueryRow(w.Ctx(), `
			SELECT obligation_tonnes, cap_share, cap_units, surrendered_units, policy_id FROM registry_obligations
			WHERE enterprise = $1 AND compliance_year = $2 FOR UPDATE`, holder, in.ComplianceYear).Scan(&declared, &share, &capped, &used, &policyID); err != nil {
			return Offset{}, err
		}
		if !declared.Equal(obligation) {
			return Offset{}, &ledger.Error{Code: CodeObligationMismatch, Field: "obligation_tonnes",
				Msg:    fmt.Sprintf("the obligation for %d was declared as %s t; offsets of that year must state the same", in.ComplianceYear, declared.String()),
				Detail: map[string]string{"declared_tonnes": declared.String()}}
		}
		if used+sel.units > capped {
			return Offset{}, &ledger.Error{Code: CodeOffsetCapExceeded, Field: "units",
				Msg: fmt.Sprintf("offsets for %d are capped at %d units (%s of %s t); %d already surrendered, %d requested",
					in.ComplianceYear, capped, share.StringFixed(4), declared.String(), used, sel.units),
				Detail: map[string]string{"cap_units": FormatUnits(capped), "surrendered_units": FormatUnits(used), "remaining_units": FormatUnits(capped - used)}}
		}
		id := ledger.NewID()
		t, moved, err := consume(w, a, holder, sel, SurrenderedAccount, StatusSurrendered, id, "registry.offset",
			map[string]string{"offset_id": id.String(), "compliance_year": fmt.Sprint(in.ComplianceYear), "ets_reference": in.EtsReference})
		if err != nil {
			return Offset{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_obligations SET surrendered_units = surrendered_units + $3 WHERE enterprise = $1 AND compliance_year = $2`,
			holder, in.ComplianceYear, sel.units); err != nil {
			return Offset{}, translate(err)
		}
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_offsets (id, enterprise, compliance_year, units, ets_reference, tx_id, offset_by, offset_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, holder, in.ComplianceYear, sel.units, in.EtsReference, t.ID, a.ID(), w.Now()); err != nil {
			return Offset{}, err
		}
		return Offset{ID: id, Enterprise: holder, ComplianceYear: in.ComplianceYear, Units: FormatUnits(sel.units), ObligationTonnes: declared.String(),
			CapShare: share.StringFixed(4), CapUnits: FormatUnits(capped), SurrenderedUnits: FormatUnits(used + sel.units), PolicyID: policyID,
			EtsReference: in.EtsReference, Serials: serials(moved), TransactionID: t.ID, At: w.Now()}, nil
	})
}

// CancelInput is the province's administrative cancellation of a holder's
// units.
type CancelInput struct {
	Holder string `json:"holder"`
	Selection
	DecisionRef string `json:"decision_ref"`
	Reason      string `json:"reason"`
}

// Cancellation is a recorded administrative cancellation.
type Cancellation struct {
	ID            uuid.UUID `json:"id"`
	Holder        string    `json:"holder"`
	Units         string    `json:"units"`
	DecisionRef   string    `json:"decision_ref"`
	Reason        string    `json:"reason"`
	Serials       []string  `json:"serials"`
	TransactionID uuid.UUID `json:"transaction_id"`
	At            time.Time `json:"at"`
}

// CancelUnits (province) cancels a holder's units for good, citing its
// decision. The engine refuses debits from a frozen account, so a frozen
// holding is unfrozen first (see the package report on a needed engine
// change).
func CancelUnits(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in CancelInput) (Cancellation, bool, error) {
	if err := cmp.Or(a.Require(ledger.RoleProvince), validHolderID(in.Holder, "holder")); err != nil {
		return Cancellation{}, false, err
	}
	sel, err := in.Selection.parse(false)
	if err != nil {
		return Cancellation{}, false, err
	}
	if err := cmp.Or(validText(in.DecisionRef, "decision_ref", true, TextBytesMax), validText(in.Reason, "reason", true, TextBytesMax)); err != nil {
		return Cancellation{}, false, err
	}
	return run(ctx, l, a, key, "registry.cancel", in, func(w *ledger.Writer) (Cancellation, error) {
		id := ledger.NewID()
		t, moved, err := consume(w, a, in.Holder, sel, CancelledAccount, StatusCancelled, id, "registry.cancellation",
			map[string]string{"cancellation_id": id.String(), "decision_ref": in.DecisionRef})
		if err != nil {
			return Cancellation{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_cancellations (id, holder, units, decision_ref, reason, tx_id, cancelled_by, cancelled_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, in.Holder, sel.units, in.DecisionRef, in.Reason, t.ID, a.ID(), w.Now()); err != nil {
			return Cancellation{}, err
		}
		if err := event(w, a, "holder:"+in.Holder, "units.cancelled", map[string]string{"cancellation_id": id.String(), "decision_ref": in.DecisionRef, "reason": in.Reason}); err != nil {
			return Cancellation{}, err
		}
		return Cancellation{ID: id, Holder: in.Holder, Units: FormatUnits(sel.units), DecisionRef: in.DecisionRef, Reason: in.Reason,
			Serials: serials(moved), TransactionID: t.ID, At: w.Now()}, nil
	})
}
