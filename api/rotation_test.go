package api

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// A key rotates without invalidating live tokens: with the new key first
// and the old one kept as previous, a token the old key signed still
// verifies, new tokens are signed by the new key, the JWKS publishes both
// (the signing key first), and a token of a key that is not configured is
// refused.
func TestSigningKeyRotation(t *testing.T) {
	old, next, stranger := GenerateSigningKey(), GenerateSigningKey(), GenerateSigningKey()
	seed := func(k *SigningKey) string { return base64.StdEncoding.EncodeToString(k.Private.Seed()) }
	rotated, err := parseSigningKeys(seed(next) + ",\n " + seed(old))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KID != next.KID || len(rotated.Previous) != 1 || rotated.Previous[0].KID != old.KID {
		t.Fatalf("parsed keys: %s then %v", rotated.KID, rotated.Previous)
	}
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) { c.SigningKey = rotated })
	mint := func(k *SigningKey) string {
		tok, err := k.Mint(defaultIssuer, defaultAud, TokenSpec{Role: ledger.RoleProvince, Sub: "p-rot", TTL: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	h.get("/v1/transactions", mint(old)).want(t, 200)
	h.get("/v1/transactions", mint(rotated)).want(t, 200)
	h.get("/v1/transactions", mint(stranger)).want(t, 401, "unauthorized")

	r := h.get("/.well-known/jwks.json", "").want(t, 200)
	keys, _ := r.JSON["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["kid"] != next.KID || keys[1].(map[string]any)["kid"] != old.KID {
		t.Fatalf("jwks after rotation: %s", r.Body)
	}
	if cp := rotated.CheckpointKeys(); len(cp) != 2 || cp[old.KID] == nil || cp[next.KID] == nil {
		t.Fatalf("checkpoint keys after rotation: %v", cp)
	}
}

// Keys are configured, never made up: without create a missing key file
// is an error that says what to set, a key given twice or a bad seed is
// refused, and with create (development) a missing file gets one key.
func TestLoadSigningKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "signing.key")
	if _, _, err := LoadSigningKey("", file, false); err == nil || !strings.Contains(err.Error(), "--dev") {
		t.Fatalf("no key, no create: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a key file was made without create: %v", err)
	}
	k := GenerateSigningKey()
	s := base64.StdEncoding.EncodeToString(k.Private.Seed())
	for _, bad := range []string{s + "," + s, "not-base64!", base64.StdEncoding.EncodeToString([]byte("short")), " , "} {
		if _, _, err := LoadSigningKey(bad, file, false); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	made, created, err := LoadSigningKey("", file, true)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	again, created, err := LoadSigningKey("", file, false)
	if err != nil || created || again.KID != made.KID {
		t.Fatalf("reading the made key back: %v %v", created, err)
	}
}
