package registry

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Domain error codes of the registry. Clients switch on these.
const (
	CodeInvalidState         ledger.Code = "invalid_state"         // the batch or trade is not in a state that allows the action
	CodeNoticeRunning        ledger.Code = "notice_period_running" // submission before the public notice ended
	CodeCertificationOpen    ledger.Code = "certification_open"    // the pool already has a batch in progress
	CodePoolBelowOneTonne    ledger.Code = "pool_below_one_tonne"  // nothing worth certifying
	CodeNothingToIssue       ledger.Code = "nothing_to_issue"      // approved grams under one tonne
	CodeAlreadyIssued        ledger.Code = "already_issued"        // the batch was issued before
	CodeVerifierConflict     ledger.Code = "verifier_not_independent"
	CodeVerifierUnknown      ledger.Code = "verifier_not_accredited"
	CodeSplitMismatch        ledger.Code = "verification_split_mismatch" // approved + rejected ≠ captured
	CodeUnitsUnavailable     ledger.Code = "units_unavailable"           // a named unit is not the caller's free unit
	CodeOffsetCapExceeded    ledger.Code = "offset_cap_exceeded"
	CodeObligationMismatch   ledger.Code = "obligation_mismatch"
	CodeTradeNotOpen         ledger.Code = "trade_not_open"
	CodeHolderAlreadyInState ledger.Code = "holder_already_in_state"
	CodePolicyInPast         ledger.Code = "policy_in_past"

	CodeObligationNotRecorded      ledger.Code = "obligation_not_recorded"      // no obligation recorded by the province for that year
	CodeObligationBelowSurrendered ledger.Code = "obligation_below_surrendered" // a revision whose cap is below what was surrendered
)

// run is ledger.Run with this package's constraint names translated.
func run[T any](ctx context.Context, l *ledger.Ledger, a ledger.Actor, key, op string, input any, fn func(w *ledger.Writer) (T, error)) (T, bool, error) {
	res, replayed, err := ledger.Run(ctx, l, ledger.KeyOf(a, key), op, input, fn)
	return res, replayed, translate(err)
}

// post builds a journal transaction at the writer's clock and applies it.
func post(w *ledger.Writer, a ledger.Actor, in ledger.TxInput) (*ledger.Transaction, error) {
	t, err := w.Build(a, in)
	if err != nil {
		return nil, err
	}
	return t, w.Apply(t)
}

// translate maps this package's named constraints to domain errors: they
// are the second line of defence behind the checks in Go, so reaching one
// means a concurrent writer won a race the checks could not see.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.ConstraintName {
	case "registry_batches_one_open_per_pool":
		return ledger.Errf(CodeCertificationOpen, "the pool already has a certification batch in progress")
	case "registry_issuances_pkey", "registry_batches_issued":
		return ledger.Errf(CodeAlreadyIssued, "the batch was already issued")
	case "registry_obligations_within_cap":
		return ledger.Errf(CodeOffsetCapExceeded, "the offset exceeds the cap of the recorded obligation")
	case "registry_obligations_pkey", "registry_obligation_records_pkey":
		return ledger.Errf(ledger.CodeConflict, "the obligation was recorded by a concurrent request; read it and revise it")
	case "registry_batches_verifier_independent":
		return ledger.Errf(CodeVerifierConflict, "a verifier may not verify its own organisation's batch")
	case "registry_blocks_first_unique", "registry_blocks_last_unique", "registry_issuances_first_unique":
		return ledger.Errf(ledger.CodeInternal, "serial block overlap refused by the database (%s)", pgErr.ConstraintName)
	}
	return err
}

// holderOf is the holding an actor moves: its own organisation's.
func holderOf(a ledger.Actor) (string, error) {
	return a.Org, a.Require(ledger.RoleEnterprise, ledger.RoleOperator)
}

func validHolderID(id, field string) error {
	if !ledger.ValidIdent(id) {
		return ledger.Errf(ledger.CodeInvalidRequest, "%s must be an identifier (letters, digits, '_', '-', '.'; 1 to 64 characters)", field).At(field)
	}
	return nil
}

// event appends one decision to the registry's trail (a reason in the
// detail is the event's reason too).
func event(w *ledger.Writer, a ledger.Actor, subject, kind string, detail map[string]string) error {
	if !strings.HasPrefix(subject, "batch:") { // decided emits a batch's step with the batch
		if err := w.Emit("registry."+kind, subject, subjectSees(subject), TrailEventData{Subject: subject, Actor: a.ID(), Detail: detail}); err != nil {
			return err
		}
	}
	return w.Trail("registry", subject, kind, a, detail["reason"], detail, nil)
}
