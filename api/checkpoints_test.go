package api

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// (c, d) A third party, holding nothing but what the service publishes
// without a token — the JWKS and the checkpoint — verifies the signature.
func TestPublicCheckpointVerifiesWithOnlyTheJWKS(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	h.get("/v1/public/checkpoints/latest", "").want(t, 404, "not_found")
	if err := h.l.EnsureAccounts(ctx, "external:CNY", ledger.OrgMoneyAccount("cp1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.l.Post(ctx, ledger.Actor{Sub: "p1", Role: ledger.RoleProvince}, "cp-deposit", ledger.TxInput{Kind: "deposit", Postings: []ledger.PostingInput{
		{Account: "external:CNY", Amount: decimal.NewFromInt(-5)}, {Account: ledger.OrgMoneyAccount("cp1"), Amount: decimal.NewFromInt(5)}}}); err != nil {
		t.Fatal(err)
	}
	job := CheckpointJob(h.key, time.Minute)
	for i, want := range []int{1, 0} { // the second run is not due yet
		if n, err := job.Run(ctx, h.l); err != nil || n != want {
			t.Fatalf("job run %d: %d %v", i, n, err)
		}
	}
	if _, err := h.l.Checkpoint(ctx, h.key.Private, h.key.KID); err != nil {
		t.Fatal(err)
	}

	// The third party's side: only HTTP, no token, no server internals.
	var jwks struct {
		Keys []struct{ Kty, Crv, Kid, X string }
	}
	if err := json.Unmarshal(h.get("/.well-known/jwks.json", "").want(t, 200).Body, &jwks); err != nil {
		t.Fatal(err)
	}
	cp := h.get("/v1/public/checkpoints/latest", "").want(t, 200)
	var pub ed25519.PublicKey
	for _, k := range jwks.Keys {
		if k.Kid == cp.str("kid") && k.Kty == "OKP" && k.Crv == "Ed25519" {
			pub, _ = base64.RawURLEncoding.DecodeString(k.X)
		}
	}
	if len(pub) != ed25519.PublicKeySize {
		t.Fatalf("no Ed25519 key %q in the JWKS: %+v", cp.str("kid"), jwks)
	}
	input := cp.str("signing_input")
	sig, err := base64.RawURLEncoding.DecodeString(cp.str("signature"))
	if err != nil || !ed25519.Verify(pub, []byte(input), sig) {
		t.Fatalf("signature does not verify over %q: %v", input, err)
	}
	if cp.str("jws") != input+"."+cp.str("signature") {
		t.Fatalf("jws %q", cp.str("jws"))
	}
	// The signed payload is the statement shown beside it.
	parts := strings.Split(input, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var signed, shown map[string]any
	_ = json.Unmarshal(payload, &signed)
	b, _ := json.Marshal(cp.JSON["statement"])
	_ = json.Unmarshal(b, &shown)
	if signed["number"] != float64(2) || signed["transactions"] != float64(1) || signed["chain_root"] != shown["chain_root"] || signed["prev"] == "" {
		t.Fatalf("signed %v, shown %v", signed, shown)
	}
	// The list is public and paged, newest first.
	p1 := h.get("/v1/public/checkpoints?limit=1", "").want(t, 200)
	items, _ := p1.JSON["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["number"] != float64(2) || p1.str("next_cursor") == "" {
		t.Fatalf("page 1: %s", p1.Body)
	}
	p2 := h.get("/v1/public/checkpoints?limit=1&cursor="+p1.str("next_cursor"), "").want(t, 200)
	if items, _ := p2.JSON["items"].([]any); len(items) != 1 || items[0].(map[string]any)["number"] != float64(1) || p2.str("next_cursor") != "" {
		t.Fatalf("page 2: %s", p2.Body)
	}
	h.get("/v1/public/checkpoints?cursor=bogus", "").want(t, 400, "invalid_request")
	rep, err := h.l.VerifyCheckpoints(ctx, h.key.CheckpointKeys())
	if err != nil || !rep.OK {
		t.Fatalf("verify checkpoints: %+v %v", rep, err)
	}
}
