package api

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Every forged or mis-scoped token is refused with 401 problem+json.
func TestTokensRejected(t *testing.T) {
	h := newHarness(t, false)
	if err := h.l.EnsureAccounts(t.Context(), "external:CNY"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() *Claims {
		return &Claims{Role: ledger.RoleProvince, RegisteredClaims: jwt.RegisteredClaims{Issuer: defaultIssuer, Subject: "p1",
			Audience: jwt.ClaimStrings{defaultAud}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}
	}
	sign := func(c *Claims) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = h.key.KID
		s, err := tk.SignedString(h.key.Private)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	// HS256 keyed with the public key: the classic algorithm-confusion forgery.
	confused := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
		tk.Header["kid"] = h.key.KID
		s, err := tk.SignedString([]byte(h.key.Private.Public().(ed25519.PublicKey)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	otherKey := GenerateSigningKey()
	foreign := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, good())
		tk.Header["kid"] = h.key.KID
		s, _ := tk.SignedString(otherKey.Private)
		return s
	}()
	mod := func(f func(c *Claims)) string { c := good(); f(c); return sign(c) }
	cases := map[string]string{
		"alg none":         none,
		"hs256 public key": confused,
		"wrong key":        foreign,
		"wrong audience":   mod(func(c *Claims) { c.Audience = jwt.ClaimStrings{"someone-else"} }),
		"missing audience": mod(func(c *Claims) { c.Audience = nil }),
		"wrong issuer":     mod(func(c *Claims) { c.Issuer = "evil" }),
		"expired":          mod(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour)) }),
		"no expiry":        mod(func(c *Claims) { c.ExpiresAt = nil }),
		"issued in future": mod(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }),
		"unknown role":     mod(func(c *Claims) { c.Role = "admin" }),
		"no subject":       mod(func(c *Claims) { c.Subject = "" }),
		"operator w/o org": mod(func(c *Claims) { c.Role = ledger.RoleOperator }),
		"garbage":          "not.a.token",
		"tampered payload": func() string {
			parts := strings.Split(sign(good()), ".")
			c := good()
			c.Role = ledger.RoleProvince
			c.Subject = "p2"
			tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
			s, _ := tk.SigningString()
			return strings.Split(s, ".")[0] + "." + strings.Split(s, ".")[1] + "." + parts[2]
		}(),
	}
	for name, tok := range cases {
		r := h.get("/v1/accounts/external:CNY", tok)
		if r.Status != 401 || r.code() != "unauthorized" {
			t.Errorf("%s: got %d %s", name, r.Status, r.Body)
		}
	}
	if r := h.get("/v1/accounts/external:CNY", ""); r.Status != 401 {
		t.Errorf("no token: %d", r.Status)
	}
	if r := h.do("GET", "/v1/accounts/external:CNY", "", nil, withHeader("Authorization", "Basic abc")); r.Status != 401 {
		t.Errorf("basic auth: %d", r.Status)
	}
	// The genuine token works.
	h.get("/v1/accounts/external:CNY", sign(good())).want(t, 200)
}

func TestWrongRoleForbidden(t *testing.T) {
	h := newHarness(t, false)
	body := map[string]any{"kind": "transfer", "postings": []map[string]string{{"account": "external:CNY", "amount": "-1"}, {"account": "org:E1:CNY", "amount": "1"}}}
	for _, role := range []string{ledger.RoleCitizen, ledger.RoleEnterprise, ledger.RoleAuditor, ledger.RoleCity} {
		org, city := "", ""
		if role == ledger.RoleEnterprise {
			org = "E1"
		}
		if role == ledger.RoleCity {
			city = "3701"
		}
		h.post("/v1/transactions", h.token(role, "u1", org, city), body).want(t, 403, "forbidden")
	}
	h.get("/v1/audit/verify", h.token(ledger.RoleCitizen, "c1", "", "")).want(t, 403, "forbidden")
}

func TestJWKSPublishesTheSigningKey(t *testing.T) {
	h := newHarness(t, false)
	r := h.get("/.well-known/jwks.json", "").want(t, 200)
	keys, _ := r.JSON["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks: %s", r.Body)
	}
	k := keys[0].(map[string]any)
	x, _ := base64.RawURLEncoding.DecodeString(k["x"].(string))
	if k["kid"] != h.key.KID || string(x) != string(h.key.Private.Public().(ed25519.PublicKey)) || k["alg"] != "EdDSA" {
		t.Fatalf("jwks key mismatch: %v", k)
	}
}
