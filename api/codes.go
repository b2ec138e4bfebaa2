package api

import (
	"slices"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// The stable codes a problem response can carry, grouped by where they
// arise. Their union is the enum of Problem.code in /openapi.json
// (TestProblemCodesComplete scans the source for every Code constant and
// literal and fails when one is missing here), and the groups give each
// operation its error responses (routeErrors).

// requestCodes answer what the route list says of a request: token,
// role, rate, body, key, path, query, the database and the server.
var requestCodes = []ledger.Code{
	ledger.CodeInvalidRequest, ledger.CodeIdempotencyKeyMissing, ledger.CodeIdempotencyConflict,
	ledger.CodeNotFound, ledger.CodeForbidden, ledger.CodeCommitUnknown, ledger.CodeUnavailable, ledger.CodeInternal,
	codeUnauthorized, codeRateLimited, codeBodyTooLarge, codeUnsupportedMedia, codeMethodNotAllowed,
}

// engineWriteCodes are the engine's rules, met by any write (every use
// case posts through the engine).
var engineWriteCodes = []ledger.Code{
	ledger.CodeInvalidAmount, ledger.CodeInvalidAccount, ledger.CodeLimitExceeded, ledger.CodeUnbalanced,
	ledger.CodeInsufficientBalance, ledger.CodeAccountNotFound, ledger.CodeAccountExists, ledger.CodeAccountFrozen,
	ledger.CodeAccountClosed, ledger.CodeConflict, ledger.CodePendingResolved, ledger.CodePendingExpired,
	ledger.CodeNotPending, ledger.CodeAlreadyReversed, ledger.CodeManagedAsset,
}

// useCaseCodes are each use case's own rules, by the tag of its routes.
var useCaseCodes = map[string][]ledger.Code{
	"points": {
		points.CodeDuplicate, points.CodeCapReached, points.CodeUnknownCitizen, points.CodeNotEntrusted,
		points.CodeKindNotAllowed, points.CodeNoMethodology, points.CodeTimeOutOfWindow, points.CodeQuantityRange,
		points.CodeBelowOneGram, points.CodeOperatorInactive, points.CodeNothingToClaim, points.CodeClaimWindowClosed,
		points.CodeOutOfStock, points.CodeRewardWithdrawn, points.CodePoolNotApproved, points.CodeNotTransferable,
		points.CodeAlreadyClawedBack,
	},
	"registry": {
		registry.CodeInvalidState, registry.CodeNoticeRunning, registry.CodeCertificationOpen, registry.CodePoolBelowOneTonne,
		registry.CodeNothingToIssue, registry.CodeAlreadyIssued, registry.CodeVerifierConflict, registry.CodeVerifierUnknown,
		registry.CodeSplitMismatch, registry.CodeUnitsUnavailable, registry.CodeOffsetCapExceeded, registry.CodeObligationMismatch,
		registry.CodeTradeNotOpen, registry.CodeHolderAlreadyInState, registry.CodePolicyInPast,
		registry.CodeObligationNotRecorded, registry.CodeObligationBelowSurrendered,
	},
	"quota": {
		quota.CodeOutsideShandong, quota.CodeFormedTooEarly, quota.CodeGapExceeded, quota.CodeInsufficientReserve,
		quota.CodeMakerChecker, quota.CodeDuplicateSource, quota.CodeConfigMissing, quota.CodeProjectConflict,
	},
}

// errorCodes is every code: the enum of Problem.code.
var errorCodes = func() []ledger.Code {
	all := slices.Concat(requestCodes, engineWriteCodes)
	for _, tag := range []string{"points", "registry", "quota"} {
		all = append(all, useCaseCodes[tag]...)
	}
	return all
}()

// problemCodes is the sorted, distinct enum of Problem.code.
func problemCodes() []string {
	out := make([]string, 0, len(errorCodes))
	for _, c := range errorCodes {
		out = append(out, string(c))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
