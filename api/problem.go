package api

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// API-only error codes (the ledger's codes are in ledger/errors.go).
const (
	codeUnauthorized     ledger.Code = "unauthorized"
	codeRateLimited      ledger.Code = "rate_limited"
	codeBodyTooLarge     ledger.Code = "body_too_large"
	codeUnsupportedMedia ledger.Code = "unsupported_media_type"
	codeMethodNotAllowed ledger.Code = "method_not_allowed"
)

// statusByCode is the one table from stable error codes to HTTP statuses.
// Codes a use-case package defines and this table does not list are rule
// violations: 422.
var statusByCode = map[ledger.Code]int{
	ledger.CodeInvalidRequest:         http.StatusBadRequest,
	ledger.CodeInvalidAmount:          http.StatusBadRequest,
	ledger.CodeInvalidAccount:         http.StatusBadRequest,
	ledger.CodeIdempotencyKeyMissing:  http.StatusBadRequest,
	ledger.CodeLimitExceeded:          http.StatusBadRequest,
	codeUnauthorized:                  http.StatusUnauthorized,
	ledger.CodeForbidden:              http.StatusForbidden,
	ledger.CodeNotFound:               http.StatusNotFound,
	codeMethodNotAllowed:              http.StatusMethodNotAllowed,
	ledger.CodeInsufficientBalance:    http.StatusConflict,
	ledger.CodeAccountFrozen:          http.StatusConflict,
	ledger.CodeAccountClosed:          http.StatusConflict,
	ledger.CodeAccountExists:          http.StatusConflict,
	ledger.CodeConflict:               http.StatusConflict,
	ledger.CodeIdempotencyConflict:    http.StatusConflict,
	ledger.CodePendingResolved:        http.StatusConflict,
	ledger.CodePendingExpired:         http.StatusConflict,
	ledger.CodeAlreadyReversed:        http.StatusConflict,
	ledger.CodeNotPending:             http.StatusConflict,
	quota.CodeInsufficientReserve:     http.StatusConflict,
	points.CodeOutOfStock:             http.StatusConflict,
	points.CodeAlreadyClawedBack:      http.StatusConflict,
	registry.CodeInvalidState:         http.StatusConflict,
	registry.CodeAlreadyIssued:        http.StatusConflict,
	registry.CodeCertificationOpen:    http.StatusConflict,
	registry.CodeTradeNotOpen:         http.StatusConflict,
	registry.CodeHolderAlreadyInState: http.StatusConflict,
	registry.CodeUnitsUnavailable:     http.StatusConflict,
	quota.CodeMakerChecker:            http.StatusForbidden,
	codeBodyTooLarge:                  http.StatusRequestEntityTooLarge,
	codeUnsupportedMedia:              http.StatusUnsupportedMediaType,
	ledger.CodeUnbalanced:             http.StatusUnprocessableEntity,
	ledger.CodeAccountNotFound:        http.StatusUnprocessableEntity,
	codeRateLimited:                   http.StatusTooManyRequests,
	ledger.CodeCommitUnknown:          http.StatusServiceUnavailable,
	ledger.CodeUnavailable:            http.StatusServiceUnavailable,
	ledger.CodeInternal:               http.StatusInternalServerError,

	// Offsets wait for the obligation the province records (issue 10).
	registry.CodeObligationNotRecorded:      http.StatusConflict,
	registry.CodeObligationBelowSurrendered: http.StatusConflict,
}

func statusOf(code ledger.Code) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusUnprocessableEntity
}

// Problem is an RFC 9457 problem document with our stable code.
type Problem struct {
	Type      string      `json:"type"`
	Title     string      `json:"title"`
	Status    int         `json:"status"`
	Code      ledger.Code `json:"code"`
	Detail    string      `json:"detail,omitempty"`
	Field     string      `json:"field,omitempty"`
	Instance  string      `json:"instance,omitempty"`
	RequestID string      `json:"request_id,omitempty"`
	// Outcome is on every 503 of a write: not_committed (nothing changed;
	// send it again) or unknown (it may have committed: replay it with
	// the same Idempotency-Key to learn its result).
	Outcome string            `json:"outcome,omitempty"`
	Extra   map[string]string `json:"extra,omitempty"`
}

func problemFor(err error) Problem {
	e, ok := ledger.AsError(err)
	if !ok {
		e = &ledger.Error{Code: ledger.CodeInternal, Msg: "internal error"}
	}
	status := statusOf(e.Code)
	detail := e.Msg
	if e.Code == ledger.CodeInternal {
		detail = "internal error; the request id identifies it in the server log"
	}
	return Problem{
		Type:   "urn:carbonledger:problem:" + string(e.Code),
		Title:  http.StatusText(status),
		Status: status, Code: e.Code, Detail: detail, Field: e.Field, Extra: e.Detail,
	}
}

// writeError renders err as problem+json. Errors that are not domain
// errors are logged with the request id and shown as "internal".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := problemFor(err)
	p.Instance = r.URL.Path
	p.RequestID = requestIDFrom(r.Context())
	if p.Status == http.StatusServiceUnavailable {
		p.Outcome = p.Extra["outcome"]
		if len(p.Extra) == 1 && p.Outcome != "" {
			p.Extra = nil
		} else if p.Outcome != "" {
			p.Extra = maps.Clone(p.Extra)
			delete(p.Extra, "outcome")
		}
		switch {
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			p.Outcome = "" // a read changes nothing
		case p.Outcome == "":
			// A write whose failure the engine did not classify (a read
			// after its commit, say) may have committed.
			p.Outcome = ledger.OutcomeUnknown
		}
	}
	if p.Status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "err", err, "code", p.Code, "path", r.URL.Path, "request_id", p.RequestID)
	}
	if p.Code == ledger.CodeCommitUnknown || p.Code == ledger.CodeUnavailable || p.Code == codeRateLimited {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func errorf(code ledger.Code, format string, args ...any) error {
	return ledger.Errf(code, format, args...)
}
