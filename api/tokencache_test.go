package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// testClock is a clock the test moves, both ways.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func cacheAuth(t *testing.T, key *SigningKey, clk *testClock, ext *ExternalIdP) *authenticator {
	t.Helper()
	var exts []ExternalIdP
	if ext != nil {
		exts = append(exts, *ext)
	}
	a, err := newAuthenticator(context.Background(), key, defaultIssuer, defaultAud, exts, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func signClaims(t *testing.T, key *SigningKey, c *Claims) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tk.Header["kid"] = key.KID
	s, err := tk.SignedString(key.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A client's repeated requests with one token pay for one signature check:
// the second verification is answered from the cache, with the same claims.
func TestTokenCacheAnswersRepeats(t *testing.T) {
	key := GenerateSigningKey()
	t0 := time.Now().Truncate(time.Second)
	clk := &testClock{t: t0}
	a := cacheAuth(t, key, clk, nil)
	tok, err := key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: ledger.RoleOperator, Sub: "op-1", Org: "metro", TTL: time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if a.cache.len() != 1 {
		t.Fatalf("cache holds %d entries after one good token", a.cache.len())
	}
	// With the key gone from the authenticator, only the cache can
	// answer: the repeat did not check the signature again.
	a.ownKey = GenerateSigningKey()
	again, err := a.verify(tok)
	if err != nil || again.Actor() != first.Actor() || again.ExpiresAt.Time != first.ExpiresAt.Time {
		t.Fatalf("repeat: %v %+v", err, again)
	}
	// A copy: a caller changing its claims does not change the entry.
	again.Role = ledger.RoleProvince
	if c, _ := a.verify(tok); c.Role != ledger.RoleOperator {
		t.Fatal("the cached claims were changed through a returned copy")
	}
	// A different token of the same principal is checked in full (and
	// fails against the replaced key).
	other, _ := key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: ledger.RoleOperator, Sub: "op-1", Org: "metro", TTL: 2 * time.Hour}, t0)
	if _, err := a.verify(other); err == nil {
		t.Fatal("a new token was not checked against the key")
	}
}

// A cached token is accepted at exactly the moments the parser accepts it:
// its expiry, not-before and issued-at, each with the leeway, whether the
// clock moves forward or back; once expired the entry is gone.
func TestTokenCacheKeepsTimeSemantics(t *testing.T) {
	key := GenerateSigningKey()
	t0 := time.Now().Truncate(time.Second)
	clk := &testClock{t: t0}
	cached := cacheAuth(t, key, clk, nil)
	plain := cacheAuth(t, key, clk, nil)
	plain.cache = newTokenCache(0, tokenLeeway, clk.now) // stores nothing: every check in full
	claims := func(iat, nbf, exp time.Duration) *Claims {
		c := &Claims{Role: ledger.RoleAuditor, RegisteredClaims: jwt.RegisteredClaims{Issuer: defaultIssuer, Subject: "a1", Audience: jwt.ClaimStrings{defaultAud},
			IssuedAt: jwt.NewNumericDate(t0.Add(iat)), ExpiresAt: jwt.NewNumericDate(t0.Add(exp))}}
		if nbf != 0 {
			c.NotBefore = jwt.NewNumericDate(t0.Add(nbf))
		}
		return c
	}
	tokens := map[string]string{
		"plain":         signClaims(t, key, claims(0, 0, time.Minute)),
		"not before":    signClaims(t, key, claims(0, 10*time.Minute, 20*time.Minute)),
		"issued later":  signClaims(t, key, claims(5*time.Minute, 0, 20*time.Minute)),
		"short-lived":   signClaims(t, key, claims(0, 0, time.Second)),
		"already stale": signClaims(t, key, claims(-time.Hour, 0, -time.Minute)),
	}
	var moments []time.Duration
	for _, edge := range []time.Duration{0, time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute} {
		for _, l := range []time.Duration{-tokenLeeway, 0, tokenLeeway} {
			for _, d := range []time.Duration{-time.Millisecond, 0, time.Millisecond} {
				moments = append(moments, edge+l+d)
			}
		}
	}
	// Forward through every edge, then back again, then forward.
	var path []time.Duration
	path = append(path, moments...)
	for i := len(moments) - 1; i >= 0; i-- {
		path = append(path, moments[i])
	}
	path = append(path, moments...)
	for _, at := range path {
		clk.set(t0.Add(at))
		for name, tok := range tokens {
			_, errCached := cached.verify(tok)
			_, errPlain := plain.verify(tok)
			if (errCached == nil) != (errPlain == nil) || errCached != nil && errCached.Error() != errPlain.Error() {
				t.Fatalf("%s at %s: cached %v, parser %v", name, at, errCached, errPlain)
			}
		}
	}
	// Past every expiry (and its leeway) nothing is answered from the cache
	// and the entries are gone once looked up.
	clk.set(t0.Add(time.Hour))
	for name, tok := range tokens {
		if _, err := cached.verify(tok); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("%s an hour on: %v", name, err)
		}
	}
	if n := cached.cache.len(); n != 0 {
		t.Fatalf("%d expired entries left after being looked up", n)
	}
}

// A refused token is never stored, and refused again every time with its
// reason; a token that differs from a cached one in any part — signature,
// algorithm, kid, audience, issuer — is checked in full and refused.
func TestTokenCacheNeverStoresFailures(t *testing.T) {
	key := GenerateSigningKey()
	t0 := time.Now().Truncate(time.Second)
	clk := &testClock{t: t0}
	a := cacheAuth(t, key, clk, nil)
	good := &Claims{Role: ledger.RoleProvince, RegisteredClaims: jwt.RegisteredClaims{Issuer: defaultIssuer, Subject: "p1",
		Audience: jwt.ClaimStrings{defaultAud}, IssuedAt: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour))}}
	tok := signClaims(t, key, good)
	if _, err := a.verify(tok); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 1
	header := func(h map[string]any) string {
		b, _ := json.Marshal(h)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	wrong := func(f func(c *Claims)) string {
		c := *good
		c.Audience = append(jwt.ClaimStrings{}, good.Audience...)
		f(&c)
		return signClaims(t, key, &c)
	}
	bad := map[string]string{
		"flipped signature bit": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
		"alg none":              header(map[string]any{"alg": "none", "typ": "JWT"}) + "." + parts[1] + ".",
		"HS256 header":          header(map[string]any{"alg": "HS256", "kid": key.KID, "typ": "JWT"}) + "." + parts[1] + "." + parts[2],
		"other kid":             header(map[string]any{"alg": "EdDSA", "kid": "someone-else", "typ": "JWT"}) + "." + parts[1] + "." + parts[2],
		"wrong audience":        wrong(func(c *Claims) { c.Audience = jwt.ClaimStrings{"elsewhere"} }),
		"wrong issuer":          wrong(func(c *Claims) { c.Issuer = "someone" }),
		"unknown role":          wrong(func(c *Claims) { c.Role = "king" }),
		"signed by another key": signClaims(t, GenerateSigningKey(), good),
	}
	for name, b := range bad {
		for i := 0; i < 3; i++ {
			if _, err := a.verify(b); err == nil {
				t.Fatalf("%s (try %d) was accepted", name, i)
			}
		}
	}
	if n := a.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries; only the good token belongs there", n)
	}
}

// The cache is bounded: the least recently used token goes first.
func TestTokenCacheIsBounded(t *testing.T) {
	key := GenerateSigningKey()
	t0 := time.Now().Truncate(time.Second)
	clk := &testClock{t: t0}
	a := cacheAuth(t, key, clk, nil)
	a.cache = newTokenCache(3, tokenLeeway, clk.now)
	var toks []string
	for i := 0; i < 5; i++ {
		tok, _ := key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: ledger.RoleAuditor, Sub: fmt.Sprintf("a%d", i), TTL: time.Hour}, t0)
		toks = append(toks, tok)
		if _, err := a.verify(tok); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			_, _ = a.verify(toks[0]) // a0 used again: a1 is now the least recent
		}
	}
	if n := a.cache.len(); n != 3 {
		t.Fatalf("cache holds %d entries, bound 3", n)
	}
	for i, want := range []bool{true, false, false, true, true} {
		if _, ok := a.cache.get(toks[i]); ok != want {
			t.Fatalf("token %d cached %v, want %v", i, ok, want)
		}
	}
}

// Tokens of an external identity provider are verified every time: its
// keys rotate and may be withdrawn, and a cached token must not outlive
// its key.
func TestTokenCacheSkipsExternalTokens(t *testing.T) {
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
	clk := &testClock{t: time.Now()}
	a := cacheAuth(t, GenerateSigningKey(), clk, &ExternalIdP{JWKSURL: idp.URL, Issuer: "https://idp.example", Audience: "carbonledger-mobile"})
	tk := jwt.NewWithClaims(jwt.SigningMethodRS256, &Claims{Role: ledger.RoleAuditor, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "https://idp.example", Subject: "ext-user", Audience: jwt.ClaimStrings{"carbonledger-mobile"},
		IssuedAt: jwt.NewNumericDate(clk.now()), ExpiresAt: jwt.NewNumericDate(clk.now().Add(time.Hour))}})
	tk.Header["kid"] = "ext-1"
	tok, err := tk.SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := a.verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.cache.len(); n != 0 {
		t.Fatalf("an external token was cached (%d entries)", n)
	}
}

// What a request pays to check its bearer token: in full (an Ed25519
// verification and JSON parsing) and answered from the cache.
// go test -run '^$' -bench TokenVerify ./api/
func BenchmarkTokenVerify(b *testing.B) {
	key := GenerateSigningKey()
	clk := &testClock{t: time.Now()}
	tok, err := key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: ledger.RoleOperator, Sub: "op-1", Org: "metro", TTL: time.Hour}, clk.now())
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		entries int
	}{{"full", 0}, {"cached", tokenCacheEntriesMax}} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := newAuthenticator(context.Background(), key, defaultIssuer, defaultAud, nil, clk.now)
			if err != nil {
				b.Fatal(err)
			}
			a.cache = newTokenCache(tc.entries, tokenLeeway, clk.now)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.verify(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
