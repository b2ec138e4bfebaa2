package api

import (
	"slices"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// errorCodes is every stable code a problem response can carry: the
// enum of Problem.code in /openapi.json. TestProblemCodesComplete scans
// the source for every Code constant and literal and fails when one is
// missing here.
var errorCodes = []ledger.Code{
	// The engine's (ledger/errors.go).
	ledger.CodeInvalidRequest, ledger.CodeInvalidAmount, ledger.CodeInvalidAccount, ledger.CodeUnbalanced,
	ledger.CodeInsufficientBalance, ledger.CodeAccountNotFound, ledger.CodeAccountExists, ledger.CodeAccountFrozen,
	ledger.CodeAccountClosed, ledger.CodeNotFound, ledger.CodeForbidden, ledger.CodeConflict,
	ledger.CodeIdempotencyConflict, ledger.CodeIdempotencyKeyMissing, ledger.CodePendingResolved, ledger.CodePendingExpired,
	ledger.CodeNotPending, ledger.CodeAlreadyReversed, ledger.CodeLimitExceeded, ledger.CodeManagedAsset,
	ledger.CodeCommitUnknown, ledger.CodeUnavailable, ledger.CodeInternal,
	// The API's (problem.go).
	codeUnauthorized, codeRateLimited, codeBodyTooLarge, codeUnsupportedMedia, codeMethodNotAllowed,
	// The change feed (ledger/feed.go, webhooks.go).
	ledger.CodeCursorExpired, codeWebhookURLRefused,
	// Personal carbon accounts.
	points.CodeDuplicate, points.CodeCapReached, points.CodeUnknownCitizen, points.CodeNotEntrusted,
	points.CodeKindNotAllowed, points.CodeNoMethodology, points.CodeTimeOutOfWindow, points.CodeQuantityRange,
	points.CodeBelowOneGram, points.CodeOperatorInactive, points.CodeNothingToClaim, points.CodeClaimWindowClosed,
	points.CodeOutOfStock, points.CodeRewardWithdrawn, points.CodePoolNotApproved, points.CodeNotTransferable,
	points.CodeAlreadyClawedBack,
	// The registry.
	registry.CodeInvalidState, registry.CodeNoticeRunning, registry.CodeCertificationOpen, registry.CodePoolBelowOneTonne,
	registry.CodeNothingToIssue, registry.CodeAlreadyIssued, registry.CodeVerifierConflict, registry.CodeVerifierUnknown,
	registry.CodeSplitMismatch, registry.CodeUnitsUnavailable, registry.CodeOffsetCapExceeded, registry.CodeObligationMismatch,
	registry.CodeTradeNotOpen, registry.CodeHolderAlreadyInState, registry.CodePolicyInPast,
	registry.CodeObligationNotRecorded, registry.CodeObligationBelowSurrendered,
	// Two-high indices.
	quota.CodeOutsideShandong, quota.CodeFormedTooEarly, quota.CodeGapExceeded, quota.CodeInsufficientReserve,
	quota.CodeMakerChecker, quota.CodeDuplicateSource, quota.CodeConfigMissing, quota.CodeProjectConflict,
}

// problemCodes is the sorted, distinct enum of Problem.code.
func problemCodes() []string {
	out := make([]string, 0, len(errorCodes))
	for _, c := range errorCodes {
		out = append(out, string(c))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
