package api

import (
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// withReadLedger gives the server a read replica: a read-only ledger on
// another database, standing for a standby that has not caught up.
func withReadLedger(t *testing.T, closed bool) harnessOpt {
	pool := ledgertest.Fresh(t)
	rl := ledgertest.Ledger(t, pool, ledger.Options{ReadOnly: true})
	if closed {
		pool.Close() // a standby that is down
	}
	return func(c *Config, _ *ledger.Options) { c.ReadLedger = rl }
}

// A Replica route's request without a token reads the replica (here one
// that has nothing yet: the verifier is not listed); with a token it reads
// the primary; a row the replica does not have yet is read from the
// primary rather than answered 404.
func TestReadReplicaServesAnonymousPublicReads(t *testing.T) {
	h := newHarness(t, true, withReadLedger(t, false))
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	opTok := h.token(ledger.RoleOperator, "ops-1", "metro-jn", "")
	e1 := h.token(ledger.RoleEnterprise, "e-1", "E1", "")
	h.registryIssue("metro-jn", "6330000000", "126600000") // accredits verifier-sd1

	h.wantItems("/v1/verifiers", "", 0) // the replica, behind
	h.wantItems("/v1/verifiers", prov, 1)

	h.post("/v1/holders", e1, map[string]any{"holder": "E1"}).want(t, 201)
	h.post("/v1/transfers", opTok, map[string]any{"to": "E1", "units": "500"}).want(t, 201)
	cert := h.post("/v1/retirements", e1, map[string]any{"units": "300", "vintage": 2025, "purpose": "event_neutrality", "beneficiary": "2025 Jinan Marathon"}).want(t, 201)
	if pub := h.get("/v1/retirements/"+cert.str("id"), "").want(t, 200); pub.str("tonnes") != "300" {
		t.Fatalf("a certificate the replica does not have yet, read without a token: %s", pub.Body)
	}
	h.get("/v1/retirements/00000000-0000-0000-0000-000000000000", "").want(t, 404, "not_found")
	h.wantItems("/v1/retirements", "", 0)
	h.wantItems("/v1/retirements?mine=true", e1, 1)
}

// A replica that is down costs a second read, not a 503: the primary
// answers.
func TestReadReplicaDownFallsBackToPrimary(t *testing.T) {
	h := newHarness(t, true, withReadLedger(t, true))
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	h.post("/v1/verifiers", prov, map[string]any{"org": "verifier-sd2", "name": "Shandong verification body 2"}).want(t, 201)
	h.wantItems("/v1/verifiers", "", 1)
	h.get("/v1/registry/stats", "").want(t, 200)
}
