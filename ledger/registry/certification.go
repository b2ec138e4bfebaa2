package registry

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Batch states.
const (
	StateDraft     = "draft"
	StateNotice    = "notice"
	StateSubmitted = "submitted"
	StateVerified  = "verified"
	StateIssued    = "issued"
	StateRejected  = "rejected"
	StateWithdrawn = "withdrawn"
)

// Batch is a certification batch: one operator pool period on its way to
// serial-numbered units.
type Batch struct {
	ID             uuid.UUID  `json:"id"`
	Operator       string     `json:"operator"`
	Methodology    string     `json:"methodology"`
	Period         string     `json:"period"`
	PoolAccount    string     `json:"pool_account"`
	Vintage        int        `json:"vintage"`
	Sector         string     `json:"sector"`
	Project        string     `json:"project"`
	State          string     `json:"state"`
	CapturedGrams  string     `json:"captured_grams"`
	CaptureTx      uuid.UUID  `json:"capture_transaction_id"`
	PolicyID       string     `json:"policy_id"`
	NoticeDays     *int       `json:"notice_days,omitempty"`
	NoticeStartsAt *time.Time `json:"notice_starts_at,omitempty"`
	NoticeEndsAt   *time.Time `json:"notice_ends_at,omitempty"`
	SubmittedAt    *time.Time `json:"submitted_at,omitempty"`
	Verifier       string     `json:"verifier,omitempty"`
	AssignedAt     *time.Time `json:"assigned_at,omitempty"`
	ApprovedGrams  string     `json:"approved_grams,omitempty"`
	RejectedGrams  string     `json:"rejected_grams,omitempty"`
	ReportRef      string     `json:"report_ref,omitempty"`
	VerifiedAt     *time.Time `json:"verified_at,omitempty"`
	ApprovalTx     *uuid.UUID `json:"approval_transaction_id,omitempty"`
	IssuedUnits    string     `json:"issued_units,omitempty"`
	Serial         string     `json:"serial,omitempty"`
	RemainderGrams string     `json:"remainder_grams,omitempty"` // approved grams under one tonne, left in the pool
	IssueTx        *uuid.UUID `json:"issue_transaction_id,omitempty"`
	IssuedAt       *time.Time `json:"issued_at,omitempty"`
	WithdrawnAt    *time.Time `json:"withdrawn_at,omitempty"`
	WithdrawReason string     `json:"withdraw_reason,omitempty"`
	RequestedBy    string     `json:"requested_by"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

type batchRow struct {
	Batch
	captured decimal.Decimal
	approved decimal.NullDecimal
	rejected decimal.NullDecimal
	issued   *int64
}

const batchSelect = `
	SELECT b.id, b.operator, b.methodology, b.period, b.pool_account, b.vintage, b.sector, b.project, b.state, b.captured_grams, b.capture_tx,
	       b.policy_id, b.notice_days, b.notice_starts_at, b.notice_ends_at, b.submitted_at, COALESCE(b.verifier, ''), b.assigned_at,
	       b.approved_grams, b.rejected_grams, COALESCE(b.report_ref, ''), b.verified_at, b.approval_tx, b.issued_units, b.issue_tx, b.issued_at,
	       b.withdrawn_at, COALESCE(b.withdraw_reason, ''), b.requested_by, b.created_at, b.updated_at, COALESCE(i.serial_number, '')
	FROM registry_batches b LEFT JOIN registry_issuances i ON i.batch_id = b.id`

func loadBatch(j ledger.Journal, id uuid.UUID, forUpdate bool) (batchRow, error) {
	sql := batchSelect + ` WHERE b.id = $1`
	if forUpdate {
		sql += ` FOR UPDATE OF b`
	}
	b, err := scanBatch(j.Tx().QueryRow(j.Ctx(), sql, id))
	if isNoRows(err) {
		return b, ledger.Errf(ledger.CodeNotFound, "certification batch %s not found", id)
	}
	return b, err
}

// scanBatch reads one row of batchSelect.
func scanBatch(row pgx.Row) (batchRow, error) {
	var b batchRow
	err := row.Scan(&b.ID, &b.Operator, &b.Methodology, &b.Period, &b.PoolAccount, &b.Vintage, &b.Sector, &b.Project, &b.State,
		&b.captured, &b.CaptureTx, &b.PolicyID, &b.NoticeDays, &b.NoticeStartsAt, &b.NoticeEndsAt, &b.SubmittedAt, &b.Verifier, &b.AssignedAt,
		&b.approved, &b.rejected, &b.ReportRef, &b.VerifiedAt, &b.ApprovalTx, &b.issued, &b.IssueTx, &b.IssuedAt,
		&b.WithdrawnAt, &b.WithdrawReason, &b.RequestedBy, &b.CreatedAt, &b.UpdatedAt, &b.Serial)
	if err != nil {
		return b, err
	}
	b.CapturedGrams = ledger.FormatAmount(ledger.AssetCO2E, b.captured)
	if b.approved.Valid {
		b.ApprovedGrams = ledger.FormatAmount(ledger.AssetCO2E, b.approved.Decimal)
		b.RejectedGrams = ledger.FormatAmount(ledger.AssetCO2E, b.rejected.Decimal)
	}
	if b.issued != nil {
		b.IssuedUnits = FormatUnits(*b.issued)
		_, rem := UnitsOfGrams(b.approved.Decimal)
		b.RemainderGrams = ledger.FormatAmount(ledger.AssetCO2E, rem)
	}
	for _, t := range []*time.Time{&b.CreatedAt, &b.UpdatedAt} {
		*t = t.UTC()
	}
	for _, t := range []**time.Time{&b.NoticeStartsAt, &b.NoticeEndsAt, &b.SubmittedAt, &b.AssignedAt, &b.VerifiedAt, &b.IssuedAt, &b.WithdrawnAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	return b, nil
}

func certifiedAccount(op string) string { return "operator:" + op + ":CO2E:certified" }
func rejectedAccount(op string) string  { return "operator:" + op + ":CO2E:rejected" }

// PoolAccount is the engine account of an operator's pool for a
// methodology and period (filled by the points package).
func PoolAccount(operator, methodology, period string) string {
	return "operator:" + operator + ":CO2E:pool:" + methodology + ":" + period
}

// CertificationRequest asks for certification of one pool period.
type CertificationRequest struct {
	Methodology string `json:"methodology"`
	Period      string `json:"period"`  // starts with the vintage year: "2025", "2025-Q1"
	Sector      string `json:"sector"`  // two digits, part of the serial
	Project     string `json:"project"` // four digits, part of the serial
}

// RequestCertification (operator) opens a draft batch that captures the
// pool's available grams with an engine hold, so they can be neither spent
// nor captured again while the batch is in progress.
func RequestCertification(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in CertificationRequest) (Batch, bool, error) {
	if err := a.Require(ledger.RoleOperator); err != nil {
		return Batch{}, false, err
	}
	if !ledger.ValidIdent(in.Methodology) {
		return Batch{}, false, ledger.Errf(ledger.CodeInvalidRequest, "methodology must be an identifier").At("methodology")
	}
	if !ledger.ValidIdent(in.Period) {
		return Batch{}, false, ledger.Errf(ledger.CodeInvalidRequest, "period must be an identifier").At("period")
	}
	vintage, err := VintageOfPeriod(in.Period)
	if err != nil {
		return Batch{}, false, err
	}
	if !ValidSector(in.Sector) {
		return Batch{}, false, ledger.Errf(ledger.CodeInvalidRequest, "sector must be two digits, e.g. 07").At("sector")
	}
	if !ValidProject(in.Project) {
		return Batch{}, false, ledger.Errf(ledger.CodeInvalidRequest, "project must be four digits, e.g. 0001").At("project")
	}
	pool := PoolAccount(a.Org, in.Methodology, in.Period)
	if _, err := ledger.ClassifyAccount(pool); err != nil {
		return Batch{}, false, err
	}
	return run(ctx, l, a, key, "registry.certification.request", in, func(w *ledger.Writer) (Batch, error) {
		pol, err := policyAt(w.Journal, w.Now())
		if err != nil {
			return Batch{}, err
		}
		var open uuid.UUID
		err = w.Tx().QueryRow(w.Ctx(), `SELECT id FROM registry_batches WHERE pool_account = $1 AND state IN ('draft', 'notice', 'submitted', 'verified')`, pool).Scan(&open)
		if err == nil {
			return Batch{}, &ledger.Error{Code: CodeCertificationOpen, Msg: "the pool already has a certification batch in progress: " + open.String(),
				Detail: map[string]string{"batch_id": open.String()}}
		}
		if !isNoRows(err) {
			return Batch{}, err
		}
		acct, err := w.Account(pool)
		if err != nil {
			if ledger.ErrorCode(err) == ledger.CodeNotFound {
				return Batch{}, ledger.Errf(ledger.CodeNotFound, "pool %s does not exist", pool).At("period")
			}
			return Batch{}, err
		}
		grams := acct.Available
		if grams.LessThan(decimal.NewFromInt(GramsPerUnit)) {
			return Batch{}, &ledger.Error{Code: CodePoolBelowOneTonne, Msg: fmt.Sprintf("the pool holds %s g available, less than one tonne", ledger.FormatAmount(ledger.AssetCO2E, grams)),
				Detail: map[string]string{"available_grams": ledger.FormatAmount(ledger.AssetCO2E, grams)}}
		}
		id := ledger.NewID()
		if err := w.OpenAccounts(certifiedAccount(a.Org), rejectedAccount(a.Org)); err != nil {
			return Batch{}, err
		}
		hold, err := post(w, a, ledger.TxInput{Kind: "registry.certification.capture", Pending: true,
			Postings: []ledger.PostingInput{{Account: pool, Amount: grams.Neg()}, {Account: certifiedAccount(a.Org), Amount: grams}},
			Metadata: map[string]string{"batch_id": id.String()}})
		if err != nil {
			return Batch{}, err
		}
		now := w.Now()
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_batches (id, operator, methodology, period, pool_account, vintage, sector, project, state, captured_grams, capture_tx,
			                              policy_id, requested_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'draft', $9, $10, $11, $12, $13, $13)`,
			id, a.Org, in.Methodology, in.Period, pool, vintage, in.Sector, in.Project, grams, hold.ID, pol.ID, a.ID(), now); err != nil {
			return Batch{}, translate(err)
		}
		return decided(w, a, id, "batch.requested", map[string]string{"captured_grams": ledger.FormatAmount(ledger.AssetCO2E, grams)})
	})
}

type batchIDInput struct {
	BatchID uuid.UUID `json:"batch_id"`
}

// ownBatch loads and locks a batch the operator actor owns; others get
// not_found, not to reveal drafts.
func ownBatch(w *ledger.Writer, a ledger.Actor, id uuid.UUID) (batchRow, error) {
	b, err := loadBatch(w.Journal, id, true)
	if err != nil {
		return b, err
	}
	if b.Operator != a.Org {
		return b, ledger.Errf(ledger.CodeNotFound, "certification batch %s not found", id)
	}
	return b, nil
}

// decided records a decision on batch id in the trail and returns the
// batch as it now stands.
func decided(w *ledger.Writer, a ledger.Actor, id uuid.UUID, kind string, detail map[string]string) (Batch, error) {
	if err := event(w, a, "batch:"+id.String(), kind, detail); err != nil {
		return Batch{}, err
	}
	b, err := loadBatch(w.Journal, id, false)
	return b.Batch, err
}

func wrongState(b batchRow, action string, want ...string) error {
	return &ledger.Error{Code: CodeInvalidState, Msg: fmt.Sprintf("cannot %s a batch in state %s (needs %v)", action, b.State, want),
		Detail: map[string]string{"state": b.State}}
}

// PublishNotice (operator) starts the public notice of a draft batch for
// the policy's number of days.
func PublishNotice(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID) (Batch, bool, error) {
	if err := a.Require(ledger.RoleOperator); err != nil {
		return Batch{}, false, err
	}
	return run(ctx, l, a, key, "registry.certification.notice", batchIDInput{id}, func(w *ledger.Writer) (Batch, error) {
		b, err := ownBatch(w, a, id)
		if err != nil {
			return Batch{}, err
		}
		if b.State != StateDraft {
			return Batch{}, wrongState(b, "publish the notice of", StateDraft)
		}
		pol, err := policyAt(w.Journal, w.Now())
		if err != nil {
			return Batch{}, err
		}
		now := w.Now()
		ends := now.Add(time.Duration(pol.NoticeDays) * 24 * time.Hour)
		if _, err := w.Tx().Exec(w.Ctx(), `
			UPDATE registry_batches SET state = 'notice', notice_days = $2, notice_starts_at = $3, notice_ends_at = $4, policy_id = $5, updated_at = $3
			WHERE id = $1`, id, pol.NoticeDays, now, ends, pol.ID); err != nil {
			return Batch{}, err
		}
		return decided(w, a, id, "batch.notice", map[string]string{"notice_days": fmt.Sprint(pol.NoticeDays), "policy_id": pol.ID})
	})
}

// SubmitCertification (operator) submits a batch whose notice has ended.
func SubmitCertification(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID) (Batch, bool, error) {
	if err := a.Require(ledger.RoleOperator); err != nil {
		return Batch{}, false, err
	}
	return run(ctx, l, a, key, "registry.certification.submit", batchIDInput{id}, func(w *ledger.Writer) (Batch, error) {
		b, err := ownBatch(w, a, id)
		if err != nil {
			return Batch{}, err
		}
		if b.State != StateNotice {
			return Batch{}, wrongState(b, "submit", StateNotice)
		}
		if w.Now().Before(*b.NoticeEndsAt) {
			return Batch{}, &ledger.Error{Code: CodeNoticeRunning, Msg: "the public notice runs until " + b.NoticeEndsAt.Format(time.RFC3339),
				Detail: map[string]string{"notice_ends_at": b.NoticeEndsAt.Format(time.RFC3339)}}
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_batches SET state = 'submitted', submitted_at = $2, updated_at = $2 WHERE id = $1`, id, w.Now()); err != nil {
			return Batch{}, err
		}
		return decided(w, a, id, "batch.submitted", nil)
	})
}

// AssignInput names the verification body.
type AssignInput struct {
	Verifier string `json:"verifier"`
}

// AssignVerifier (province) assigns an accredited verifier, never one of
// the requesting organisation, to a submitted batch (again, to replace it).
func AssignVerifier(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID, in AssignInput) (Batch, bool, error) {
	if err := cmp.Or(a.Require(ledger.RoleProvince), validHolderID(in.Verifier, "verifier")); err != nil {
		return Batch{}, false, err
	}
	input := struct {
		BatchID uuid.UUID
		In      AssignInput
	}{id, in}
	return run(ctx, l, a, key, "registry.certification.assign", input, func(w *ledger.Writer) (Batch, error) {
		b, err := loadBatch(w.Journal, id, true)
		if err != nil {
			return Batch{}, err
		}
		if b.State != StateSubmitted {
			return Batch{}, wrongState(b, "assign a verifier to", StateSubmitted)
		}
		if in.Verifier == b.Operator {
			return Batch{}, ledger.Errf(CodeVerifierConflict, "verifier %s is the requesting organisation", in.Verifier).At("verifier")
		}
		var status string
		err = w.Tx().QueryRow(w.Ctx(), `SELECT status FROM registry_verifiers WHERE org = $1`, in.Verifier).Scan(&status)
		if isNoRows(err) || status != "active" {
			return Batch{}, ledger.Errf(CodeVerifierUnknown, "%s is not an accredited, active verification body", in.Verifier).At("verifier")
		}
		if err != nil {
			return Batch{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_batches SET verifier = $2, assigned_at = $3, updated_at = $3 WHERE id = $1`, id, in.Verifier, w.Now()); err != nil {
			return Batch{}, translate(err)
		}
		return decided(w, a, id, "batch.verifier_assigned", map[string]string{"verifier": in.Verifier})
	})
}

// VerificationInput is the verifier's finding: approved and rejected
// grams, which must add up to the captured grams, and its report.
type VerificationInput struct {
	ApprovedGrams string `json:"approved_grams"`
	RejectedGrams string `json:"rejected_grams"`
	ReportRef     string `json:"report_ref"`
}

// VerifyCertification (the assigned verifier) approves part and rejects
// part: the rejected grams go to the operator's rejected sink at once, the
// approved grams stay held for issuance. Approving nothing rejects the
// batch.
func VerifyCertification(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID, in VerificationInput) (Batch, bool, error) {
	if err := a.Require(ledger.RoleVerifier); err != nil {
		return Batch{}, false, err
	}
	approved, err := ledger.ParseAmount(ledger.AssetCO2E, in.ApprovedGrams)
	if err != nil {
		return Batch{}, false, asField(err, "approved_grams")
	}
	rejected, err := ledger.ParseAmount(ledger.AssetCO2E, in.RejectedGrams)
	if err != nil {
		return Batch{}, false, asField(err, "rejected_grams")
	}
	if err := validText(in.ReportRef, "report_ref", true, TextBytesMax); err != nil {
		return Batch{}, false, err
	}
	input := struct {
		BatchID uuid.UUID
		In      VerificationInput
	}{id, in}
	return run(ctx, l, a, key, "registry.certification.verify", input, func(w *ledger.Writer) (Batch, error) {
		b, err := loadBatch(w.Journal, id, true)
		if err != nil {
			return Batch{}, err
		}
		// A verifier sees only the batches assigned to it.
		if b.Verifier == "" || b.Verifier != a.Org {
			return Batch{}, ledger.Errf(ledger.CodeNotFound, "certification batch %s not found", id)
		}
		if a.Org == b.Operator {
			return Batch{}, ledger.Errf(CodeVerifierConflict, "a verifier may not verify its own organisation's batch")
		}
		if b.State != StateSubmitted {
			return Batch{}, wrongState(b, "verify", StateSubmitted)
		}
		if !approved.Add(rejected).Equal(b.captured) {
			return Batch{}, &ledger.Error{Code: CodeSplitMismatch, Field: "approved_grams",
				Msg: fmt.Sprintf("approved %s g + rejected %s g must equal the %s g captured", ledger.FormatAmount(ledger.AssetCO2E, approved),
					ledger.FormatAmount(ledger.AssetCO2E, rejected), b.CapturedGrams),
				Detail: map[string]string{"captured_grams": b.CapturedGrams}}
		}
		if _, err := w.Resolve(a, b.CaptureTx, false); err != nil {
			return Batch{}, err
		}
		meta := map[string]string{"batch_id": id.String(), "report_ref": in.ReportRef}
		if rejected.IsPositive() {
			if _, err := post(w, a, ledger.TxInput{Kind: "registry.certification.rejection", Metadata: meta,
				Postings: []ledger.PostingInput{{Account: b.PoolAccount, Amount: rejected.Neg()}, {Account: rejectedAccount(b.Operator), Amount: rejected}}}); err != nil {
				return Batch{}, err
			}
		}
		state := StateRejected
		var approval *uuid.UUID
		if approved.IsPositive() {
			t, err := post(w, a, ledger.TxInput{Kind: "registry.certification.approval", Metadata: meta, Pending: true,
				Postings: []ledger.PostingInput{{Account: b.PoolAccount, Amount: approved.Neg()}, {Account: certifiedAccount(b.Operator), Amount: approved}}})
			if err != nil {
				return Batch{}, err
			}
			state, approval = StateVerified, &t.ID
		}
		if _, err := w.Tx().Exec(w.Ctx(), `
			UPDATE registry_batches SET state = $2, approved_grams = $3, rejected_grams = $4, report_ref = $5, verified_at = $6, approval_tx = $7, updated_at = $6
			WHERE id = $1`, id, state, approved, rejected, in.ReportRef, w.Now(), approval); err != nil {
			return Batch{}, err
		}
		return decided(w, a, id, "batch."+state, map[string]string{
			"approved_grams": ledger.FormatAmount(ledger.AssetCO2E, approved), "rejected_grams": ledger.FormatAmount(ledger.AssetCO2E, rejected), "report_ref": in.ReportRef})
	})
}

func asField(err error, field string) error {
	if e, ok := ledger.AsError(err); ok {
		return e.At(field)
	}
	return err
}

// IssueCertification (province) issues floor(approved grams / 1e6) units
// as one serial block to the operator's holding; in the same journal
// transaction the same tonnes of grams move from the pool to the certified
// sink. The remainder is released and stays in the pool. A batch is issued
// once: the state check, and behind it the primary key of
// registry_issuances.
func IssueCertification(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID) (Batch, bool, error) {
	if err := a.Require(ledger.RoleProvince); err != nil {
		return Batch{}, false, err
	}
	return run(ctx, l, a, key, "registry.certification.issue", batchIDInput{id}, func(w *ledger.Writer) (Batch, error) {
		b, err := loadBatch(w.Journal, id, true)
		if err != nil {
			return Batch{}, err
		}
		if b.State == StateIssued {
			return Batch{}, &ledger.Error{Code: CodeAlreadyIssued, Msg: "batch " + id.String() + " was already issued as " + b.Serial,
				Detail: map[string]string{"serial": b.Serial}}
		}
		if b.State != StateVerified {
			return Batch{}, wrongState(b, "issue", StateVerified)
		}
		units, _ := UnitsOfGrams(b.approved.Decimal)
		if units == 0 {
			return Batch{}, ledger.Errf(CodeNothingToIssue, "approved %s g is less than one tonne; withdraw the batch and certify the pool later", b.ApprovedGrams)
		}
		now := w.Now()
		if err := w.OpenAccounts("registry:SDCER:issuance"); err != nil {
			return Batch{}, err
		}
		if err := ensureHolder(w, b.Operator, now); err != nil {
			return Batch{}, err
		}
		status, err := lockHolders(w, b.Operator)
		if err != nil {
			return Batch{}, err
		}
		if err := requireActive(status, b.Operator); err != nil {
			return Batch{}, err
		}
		first, err := allocateSerials(w, b.Vintage, units)
		if err != nil {
			return Batch{}, err
		}
		serial := Serial{Region: Region, Programme: Programme, Sector: b.Sector, Project: b.Project, First: first, Last: first + units - 1, Vintage: b.Vintage}
		if _, err := w.Resolve(a, *b.ApprovalTx, false); err != nil {
			return Batch{}, err
		}
		grams := decimal.NewFromInt(units).Mul(decimal.NewFromInt(GramsPerUnit))
		t, err := post(w, a, ledger.TxInput{Kind: "registry.issuance",
			Metadata: map[string]string{"batch_id": id.String(), "serial": serial.String()},
			Postings: []ledger.PostingInput{
				{Account: b.PoolAccount, Amount: grams.Neg()},
				{Account: certifiedAccount(b.Operator), Amount: grams},
				{Account: "registry:SDCER:issuance", Amount: decimal.NewFromInt(-units)},
				{Account: ledger.HolderAccount(b.Operator), Amount: decimal.NewFromInt(units)},
			}})
		if err != nil {
			return Batch{}, err
		}
		batch := &pgx.Batch{}
		is := issuance{BatchID: id, Programme: Programme, Serial: serial.String(), Vintage: b.Vintage, First: serial.First, Last: serial.Last, TxID: t.ID, IssuedAt: now}
		batch.Queue(`INSERT INTO registry_issuances (batch_id, programme, vintage, first_unit, last_unit, serial_number, tx_id, issued_by, issued_at, record_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, id, Programme, b.Vintage, serial.First, serial.Last, is.Serial, t.ID, a.ID(), now, is.recordHash())
		batch.Queue(`INSERT INTO registry_blocks (id, programme, vintage, first_unit, last_unit, batch_id, methodology, region, sector, project, holder, status, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'held', $12)`,
			ledger.NewID(), Programme, b.Vintage, serial.First, serial.Last, id, b.Methodology, Region, b.Sector, b.Project, b.Operator, now)
		batch.Queue(`INSERT INTO registry_moves (tx_id, idx, programme, vintage, first_unit, last_unit, from_holder, to_holder, to_status, moved_at)
			VALUES ($1, 0, $2, $3, $4, $5, 'registry:issuance', $6, 'held', $7)`, t.ID, Programme, b.Vintage, serial.First, serial.Last, b.Operator, now)
		batch.Queue(`UPDATE registry_batches SET state = 'issued', issued_units = $2, issue_tx = $3, issued_at = $4, updated_at = $4 WHERE id = $1`, id, units, t.ID, now)
		if err := w.Tx().SendBatch(w.Ctx(), batch).Close(); err != nil {
			return Batch{}, translate(err)
		}
		return decided(w, a, id, "batch.issued", map[string]string{"serial": serial.String(), "units": FormatUnits(units)})
	})
}

// allocateSerials reserves units consecutive unit numbers of a vintage
// from the counter row, locked FOR UPDATE until commit: no sequence, and
// no gap or overlap between concurrent issuances.
func allocateSerials(w *ledger.Writer, vintage int, units int64) (int64, error) {
	if _, err := w.Tx().Exec(w.Ctx(), `INSERT INTO registry_serial_counters (programme, vintage, next_unit) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING`, Programme, vintage); err != nil {
		return 0, err
	}
	var next int64
	if err := w.Tx().QueryRow(w.Ctx(), `SELECT next_unit FROM registry_serial_counters WHERE programme = $1 AND vintage = $2 FOR UPDATE`, Programme, vintage).Scan(&next); err != nil {
		return 0, err
	}
	if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_serial_counters SET next_unit = $3 WHERE programme = $1 AND vintage = $2`, Programme, vintage, next+units); err != nil {
		return 0, err
	}
	return next, nil
}

// WithdrawInput says why.
type WithdrawInput struct {
	Reason string `json:"reason"`
}

// WithdrawCertification (operator) abandons a batch before issuance: its
// hold is voided and the grams are available in the pool again (grams a
// verifier already rejected stay rejected).
func WithdrawCertification(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID, in WithdrawInput) (Batch, bool, error) {
	if err := cmp.Or(a.Require(ledger.RoleOperator), validText(in.Reason, "reason", true, TextBytesMax)); err != nil {
		return Batch{}, false, err
	}
	input := struct {
		BatchID uuid.UUID
		In      WithdrawInput
	}{id, in}
	return run(ctx, l, a, key, "registry.certification.withdraw", input, func(w *ledger.Writer) (Batch, error) {
		b, err := ownBatch(w, a, id)
		if err != nil {
			return Batch{}, err
		}
		if !slices.Contains([]string{StateDraft, StateNotice, StateSubmitted, StateVerified}, b.State) {
			return Batch{}, wrongState(b, "withdraw", StateDraft, StateNotice, StateSubmitted, StateVerified)
		}
		hold := b.CaptureTx
		if b.State == StateVerified {
			hold = *b.ApprovalTx
		}
		if _, err := w.Resolve(a, hold, false); err != nil {
			return Batch{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_batches SET state = 'withdrawn', withdrawn_at = $2, withdraw_reason = $3, updated_at = $2 WHERE id = $1`,
			id, w.Now(), in.Reason); err != nil {
			return Batch{}, err
		}
		return decided(w, a, id, "batch.withdrawn", map[string]string{"reason": in.Reason})
	})
}

// GetCertification reads a batch. A draft is visible to its operator, the
// province and auditors; from the public notice on, a batch is public
// information, except that a verifier sees only batches assigned to it
// while they are under verification. Without a token (a zero Actor) a
// batch is readable while it is under public notice (公示): a notice
// nobody can read is not public.
func GetCertification(ctx context.Context, l *ledger.Ledger, a ledger.Actor, id uuid.UUID) (Batch, error) {
	b, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) (batchRow, error) { return loadBatch(r.Journal, id, false) })
	if err != nil {
		return Batch{}, err
	}
	visible := false
	switch {
	case a.Role == "":
		// Without a token (public notice, 公示): a batch under notice only.
		visible = b.State == StateNotice
	case a.SeesAll():
		visible = true
	case a.Is(ledger.RoleOperator) && a.Org == b.Operator:
		visible = true
	case b.State == StateDraft:
		visible = false
	case a.Is(ledger.RoleVerifier) && b.State == StateSubmitted:
		visible = b.Verifier == a.Org
	default:
		visible = true
	}
	if !visible {
		return Batch{}, ledger.Errf(ledger.CodeNotFound, "certification batch %s not found", id)
	}
	return b.Batch, nil
}

// VerifierInput accredits a verification body.
type VerifierInput struct {
	Org  string `json:"org"`
	Name string `json:"name"`
}

// Verifier is an accredited verification body.
type Verifier struct {
	Org       string    `json:"org"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// AccreditVerifier (province) registers a verification body.
func AccreditVerifier(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in VerifierInput) (Verifier, bool, error) {
	if err := cmp.Or(a.Require(ledger.RoleProvince), validHolderID(in.Org, "org"), validText(in.Name, "name", true, TextBytesMax)); err != nil {
		return Verifier{}, false, err
	}
	return run(ctx, l, a, key, "registry.verifier.accredit", in, func(w *ledger.Writer) (Verifier, error) {
		return accredit(w, a, in)
	})
}

func accredit(w *ledger.Writer, a ledger.Actor, in VerifierInput) (Verifier, error) {
	v := Verifier{Org: in.Org, Name: in.Name, Status: "active", CreatedAt: w.Now()}
	tag, err := w.Tx().Exec(w.Ctx(), `INSERT INTO registry_verifiers (org, name, created_by, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (org) DO NOTHING`,
		in.Org, in.Name, a.ID(), v.CreatedAt)
	if err != nil {
		return v, err
	}
	if tag.RowsAffected() == 0 {
		return v, ledger.Errf(ledger.CodeConflict, "verifier %s is already accredited", in.Org).At("org")
	}
	return v, event(w, a, "verifier:"+in.Org, "verifier.accredited", map[string]string{"name": in.Name})
}
