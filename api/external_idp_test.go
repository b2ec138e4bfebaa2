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
