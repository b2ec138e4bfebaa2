package api

import (
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// GET /v1/audit/verify checks what was written since the last clean run
// by default, the whole journal with ?mode=full, and refuses another mode.
func TestVerifyModes(t *testing.T) {
	h := newHarness(t, true)
	aud := h.token(ledger.RoleAuditor, "auditor-1", "", "")
	if err := h.l.EnsureAccounts(t.Context(), "external:CNY"); err != nil {
		t.Fatal(err)
	}
	full := h.get("/v1/audit/verify?mode=full", aud).want(t, 200)
	if full.JSON["ok"] != true || full.str("mode") != "full" || full.str("root") == "" {
		t.Fatalf("full: %s", full.Body)
	}
	inc := h.get("/v1/audit/verify", aud).want(t, 200)
	if inc.JSON["ok"] != true || inc.str("mode") != "incremental" || inc.str("since") == "" {
		t.Fatalf("incremental: %s", inc.Body)
	}
	h.get("/v1/audit/verify?mode=sometimes", aud).want(t, 400, "invalid_request")
}
