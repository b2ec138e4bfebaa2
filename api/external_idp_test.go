package api

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// An external identity provider's tokens are accepted when signed by a key
// in its JWKS and carrying its issuer and audience, and refused otherwise.
func TestExternalIdentityProvider(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "ext-1", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(rsaKey.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(rsaKey.E)).Bytes()),
	}}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer idp.Close()
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) {
		c.External = &ExternalIdP{JWKSURL: idp.URL, Issuer: "https://idp.example", Audience: "carbonledger-mobile"}
	})
	if err := h.l.EnsureAccounts(t.Context(), "external:CNY"); err != nil {
		t.Fatal(err)
	}
	mint := func(iss, aud string, method jwt.SigningMethod, key any) string {
		now := time.Now()
		tk := jwt.NewWithClaims(method, &Claims{Role: ledger.RoleAuditor, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: iss, Subject: "ext-user", Audience: jwt.ClaimStrings{aud},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}})
		tk.Header["kid"] = "ext-1"
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h.get("/v1/accounts/external:CNY", mint("https://idp.example", "carbonledger-mobile", jwt.SigningMethodRS256, rsaKey)).want(t, 200)
	h.get("/v1/accounts/external:CNY", mint("https://idp.example", "carbonledger-api", jwt.SigningMethodRS256, rsaKey)).want(t, 401)
	// The external key cannot sign for our own issuer.
	h.get("/v1/accounts/external:CNY", mint(defaultIssuer, defaultAud, jwt.SigningMethodRS256, rsaKey)).want(t, 401)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	h.get("/v1/accounts/external:CNY", mint("https://idp.example", "carbonledger-mobile", jwt.SigningMethodRS256, other)).want(t, 401)
}

// testIdP is an external identity provider: an RSA key and a JWKS server.
type testIdP struct {
	key *rsa.PrivateKey
	kid string
	srv *httptest.Server
}

func newTestIdP(t *testing.T, kid string) *testIdP {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	return &testIdP{key: k, kid: kid, srv: srv}
}

// mint signs a token with this provider's key (kid names it) for iss and aud.
func (p *testIdP) mint(t *testing.T, iss, aud, role, sub string) string {
	t.Helper()
	now := time.Now()
	tk := jwt.NewWithClaims(jwt.SigningMethodRS256, &Claims{Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: iss, Subject: sub, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}})
	tk.Header["kid"] = p.kid
	s, err := tk.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Two external providers, each with its own JWKS: each one's tokens verify
// against its own keys only, and their users with one subject are two
// principals (an idempotency key of one is not the other's).
func TestSeveralExternalIssuers(t *testing.T) {
	a, b := newTestIdP(t, "a-1"), newTestIdP(t, "b-1")
	const issA, issB, aud = "https://idp-a.example", "https://idp-b.example", "carbonledger-partners"
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) {
		c.Externals = []ExternalIdP{{JWKSURL: a.srv.URL, Issuer: issA, Audience: aud}, {JWKSURL: b.srv.URL, Issuer: issB, Audience: aud}}
	})
	if err := h.l.EnsureAccounts(t.Context(), "external:CNY"); err != nil {
		t.Fatal(err)
	}
	h.get("/v1/accounts/external:CNY", a.mint(t, issA, aud, ledger.RoleAuditor, "u1")).want(t, 200)
	h.get("/v1/accounts/external:CNY", b.mint(t, issB, aud, ledger.RoleAuditor, "u1")).want(t, 200)
	// A's key cannot sign for B (nor B's for A), nor for our own issuer.
	h.get("/v1/accounts/external:CNY", a.mint(t, issB, aud, ledger.RoleAuditor, "u1")).want(t, 401, "unauthorized")
	h.get("/v1/accounts/external:CNY", b.mint(t, issA, aud, ledger.RoleAuditor, "u1")).want(t, 401, "unauthorized")
	h.get("/v1/accounts/external:CNY", a.mint(t, defaultIssuer, defaultAud, ledger.RoleAuditor, "u1")).want(t, 401, "unauthorized")
	// An issuer nobody configured.
	h.get("/v1/accounts/external:CNY", a.mint(t, "https://idp-c.example", aud, ledger.RoleAuditor, "u1")).want(t, 401, "unauthorized")

	// The same subject and key at both providers: two principals, two writes.
	open := func(tok, id string) *resp {
		return h.post("/v1/accounts", tok, map[string]any{"id": id}, withKey("same-key"))
	}
	open(a.mint(t, issA, aud, ledger.RoleProvince, "officer"), "org:"+ledgertest.ID("ia")+":CNY").want(t, 201)
	open(b.mint(t, issB, aud, ledger.RoleProvince, "officer"), "org:"+ledgertest.ID("ib")+":CNY").want(t, 201)
}

// Two providers with one issuer, or one claiming our own issuer, are a
// configuration error.
func TestExternalIssuersConfigErrors(t *testing.T) {
	a := newTestIdP(t, "a-1")
	key := GenerateSigningKey()
	for name, exts := range map[string][]ExternalIdP{
		"duplicate": {{JWKSURL: a.srv.URL, Issuer: "https://x", Audience: "y"}, {JWKSURL: a.srv.URL, Issuer: "https://x", Audience: "z"}},
		"own":       {{JWKSURL: a.srv.URL, Issuer: defaultIssuer, Audience: "y"}},
		"no aud":    {{JWKSURL: a.srv.URL, Issuer: "https://x"}},
	} {
		if _, err := newAuthenticator(t.Context(), key, defaultIssuer, defaultAud, exts, time.Now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
