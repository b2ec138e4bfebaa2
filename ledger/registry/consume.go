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
		t, moved, err := consume(w, a, holder, sel, consumption{sink: RetiredAccount, status: StatusRetired, ref: id, kind: "registry.retirement",
			meta: map[string]string{"retirement_id": id.String(), "purpose": in.Purpose}})
		if err != nil {
			return Certificate{}, err
		}
		c := Certificate{ID: id, Holder: holder, Beneficiary: in.Beneficiary, Purpose: in.Purpose, Note: in.Note, Vintage: sel.vintage,
			Tonnes: FormatUnits(sel.units), Serials: serials(moved), TransactionID: t.ID, RetiredAt: w.Now()}
		_, err = w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_retirements (id, holder, vintage, units, purpose, beneficiary, note, tx_id, retired_by, retired_at, record_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			id, holder, sel.vintage, sel.units, in.Purpose, in.Beneficiary, in.Note, t.ID, a.ID(), c.RetiredAt, c.recordHash())
		if err != nil {
			return c, err
		}
		return c, w.Emit(EventRetired, "holder:"+holder, holdersSee(holder), c)
	})
}

// consumption is where consume sends units and what it records.
type consumption struct {
	sink, status, kind string
	ref                uuid.UUID
	meta               map[string]string
	// overFreeze: the province's cancellation takes units out of a frozen
	// holding, which stays frozen (the engine lets this one debit pass).
	overFreeze bool
	// check runs once the units are picked, under the holder's lock,
	// before anything is written (the offset's obligation and cap).
	check func() error
}

// consume moves the selected units of holder to a terminal sink: one
// journal transaction, and the blocks become terminal with c.ref.
func consume(w *ledger.Writer, a ledger.Actor, holder string, sel selection, c consumption) (*ledger.Transaction, []Block, error) {
	st, err := lockHolders(w, holder)
	if err != nil {
		return nil, nil, err
	}
	frozen := st[holder] == "frozen"
	if !c.overFreeze {
		if err := requireActive(st, holder); err != nil {
			return nil, nil, err
		}
	}
	picked, err := pick(w, holder, sel)
	if err != nil {
		return nil, nil, err
	}
	if c.check != nil {
		if err := c.check(); err != nil {
			return nil, nil, err
		}
	}
	if err := w.OpenAccounts(c.sink); err != nil {
		return nil, nil, err
	}
	if frozen {
		c.meta["holder_frozen"] = "true" // the journal says this debit passed a freeze
	}
	t, err := w.Build(a, ledger.TxInput{Kind: c.kind, Metadata: c.meta, Postings: unitLegs(ledger.HolderAccount(holder), c.sink, sel.units)})
	if err != nil {
		return nil, nil, err
	}
	if frozen && c.overFreeze {
		err = w.ApplyOverFreeze(ledger.HolderAccount(holder), t)
	} else {
		err = w.Apply(t)
	}
	if err != nil {
		return nil, nil, err
	}
	moved, err := moveBlocks(w, picked, target{from: holder, holder: holder, status: c.status, consumedRef: &c.ref, txID: &t.ID})
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

// OffsetInput surrenders units against the obligation the province
// recorded for a compliance year.
type OffsetInput struct {
	Selection
	ComplianceYear int `json:"compliance_year"`
	// ObligationTonnes is optional: an offset that states the obligation
	// must state the recorded one (a check the enterprise may ask for).
	ObligationTonnes string `json:"obligation_tonnes,omitempty"`
	EtsReference     string `json:"ets_reference"`
}

// Offset is a surrender against an obligation.
type Offset struct {
	ID                 uuid.UUID `json:"id"`
	Enterprise         string    `json:"enterprise"`
	ComplianceYear     int       `json:"compliance_year"`
	Units              string    `json:"units"`
	ObligationTonnes   string    `json:"obligation_tonnes"`
	ObligationRevision int64     `json:"obligation_revision"`
	CapShare           string    `json:"cap_share"`
	CapUnits           string    `json:"cap_units"`
	SurrenderedUnits   string    `json:"surrendered_units"` // for the year, including this one
	PolicyID           string    `json:"policy_id"`
	EtsReference       string    `json:"ets_reference"`
	Serials            []string  `json:"serials"`
	TransactionID      uuid.UUID `json:"transaction_id"`
	At                 time.Time `json:"at"`
}

// Surrender (enterprise) offsets part of an ETS obligation: at most
// floor(obligation × share) units per compliance year, against the
// obligation the province recorded (RecordObligation), with the share of
// the policy in force when it was recorded. Without a recorded
// obligation nothing is surrendered (obligation_not_recorded). Every
// offset of the year locks the obligation row, so concurrent offsets
// cannot pass the cap together.
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
	var stated *decimal.Decimal
	if in.ObligationTonnes != "" {
		d, err := ledger.ParsePositiveAmount(ledger.AssetSDCER, in.ObligationTonnes)
		if err != nil {
			return Offset{}, false, asField(err, "obligation_tonnes")
		}
		stated = &d
	}
	if err := validText(in.EtsReference, "ets_reference", true, TextBytesMax); err != nil {
		return Offset{}, false, err
	}
	return run(ctx, l, a, key, "registry.offset", in, func(w *ledger.Writer) (Offset, error) {
		id := ledger.NewID()
		var ob obligationRecord
		var used int64
		t, moved, err := consume(w, a, holder, sel, consumption{sink: SurrenderedAccount, status: StatusSurrendered, ref: id, kind: "registry.offset",
			meta: map[string]string{"offset_id": id.String(), "compliance_year": fmt.Sprint(in.ComplianceYear), "ets_reference": in.EtsReference},
			check: func() (err error) {
				ob, used, err = offsetObligation(w, holder, in.ComplianceYear, stated, sel.units)
				return err
			}})
		if err != nil {
			return Offset{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_obligations SET surrendered_units = surrendered_units + $3 WHERE enterprise = $1 AND compliance_year = $2`,
			holder, in.ComplianceYear, sel.units); err != nil {
			return Offset{}, translate(err)
		}
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_offsets (id, enterprise, compliance_year, units, ets_reference, tx_id, offset_by, offset_at, obligation_revision)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, holder, in.ComplianceYear, sel.units, in.EtsReference, t.ID, a.ID(), w.Now(), ob.Revision); err != nil {
			return Offset{}, err
		}
		o := Offset{ID: id, Enterprise: holder, ComplianceYear: in.ComplianceYear, Units: FormatUnits(sel.units), ObligationTonnes: ob.obligation.String(),
			ObligationRevision: ob.Revision, CapShare: ob.share.StringFixed(4), CapUnits: FormatUnits(ob.capUnits), SurrenderedUnits: FormatUnits(used + sel.units),
			PolicyID: ob.PolicyID, EtsReference: in.EtsReference, Serials: serials(moved), TransactionID: t.ID, At: w.Now()}
		return o, w.Emit(EventOffset, "holder:"+holder, holdersSee(holder), o)
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
	HolderFrozen  bool      `json:"holder_frozen"` // the holding was frozen, and stays so
	At            time.Time `json:"at"`
}

// CancelUnits (province) cancels a holder's units for good, citing its
// decision. A frozen holding is cancelled from as it is and stays frozen:
// the cancellation is the province's own decision on it, so the engine
// lets this one debit pass the freeze (Writer.ApplyOverFreeze), and the
// holder never gets a moment in which it could move units.
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
		t, moved, err := consume(w, a, in.Holder, sel, consumption{sink: CancelledAccount, status: StatusCancelled, ref: id, kind: "registry.cancellation",
			meta: map[string]string{"cancellation_id": id.String(), "decision_ref": in.DecisionRef}, overFreeze: true})
		if err != nil {
			return Cancellation{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_cancellations (id, holder, units, decision_ref, reason, tx_id, cancelled_by, cancelled_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, in.Holder, sel.units, in.DecisionRef, in.Reason, t.ID, a.ID(), w.Now()); err != nil {
			return Cancellation{}, err
		}
		frozen := t.Metadata["holder_frozen"] == "true"
		if err := event(w, a, "holder:"+in.Holder, "units.cancelled", map[string]string{"cancellation_id": id.String(), "decision_ref": in.DecisionRef,
			"reason": in.Reason, "holder_frozen": fmt.Sprint(frozen)}); err != nil {
			return Cancellation{}, err
		}
		return Cancellation{ID: id, Holder: in.Holder, Units: FormatUnits(sel.units), DecisionRef: in.DecisionRef, Reason: in.Reason,
			Serials: serials(moved), TransactionID: t.ID, HolderFrozen: frozen, At: w.Now()}, nil
	})
}
