package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

const (
	tokenLeeway    = 30 * time.Second
	tokenTTLMax    = 7 * 24 * time.Hour
	defaultIssuer  = "carbonledger"
	defaultAud     = "carbonledger-api"
	signingKeySize = ed25519.SeedSize
)

// Claims are our token claims. Validate runs after the standard checks.
type Claims struct {
	Role string `json:"role"`
	Org  string `json:"org,omitempty"`
	City string `json:"city,omitempty"`
	jwt.RegisteredClaims
}

// Validate checks the subject and role: a token that names no known role,
// or a role without the organisation or city it acts for, is refused.
func (c *Claims) Validate() error {
	if !ledger.ValidIdent(c.Subject) {
		return errors.New("sub must be an identifier")
	}
	known := false
	for _, r := range ledger.Roles {
		known = known || r == c.Role
	}
	if !known {
		return fmt.Errorf("unknown role %q", c.Role)
	}
	switch c.Role {
	case ledger.RoleOperator, ledger.RoleVerifier, ledger.RoleEnterprise:
		if !ledger.ValidIdent(c.Org) {
			return fmt.Errorf("role %s needs an org claim", c.Role)
		}
	case ledger.RoleCity:
		if !ledger.ValidIdent(c.City) {
			return errors.New("role city needs a city claim")
		}
	}
	if c.Org != "" && !ledger.ValidIdent(c.Org) || c.City != "" && !ledger.ValidIdent(c.City) {
		return errors.New("org and city must be identifiers")
	}
	return nil
}

// Actor turns verified claims into the ledger's actor.
func (c *Claims) Actor() ledger.Actor {
	return ledger.Actor{Sub: c.Subject, Role: c.Role, Org: c.Org, City: c.City}
}

// SigningKey is the service's own EdDSA key. Previous are keys it signed
// with before a rotation: tokens and checkpoints they signed still verify,
// and the JWKS publishes them, but nothing new is signed with them.
type SigningKey struct {
	Private  ed25519.PrivateKey
	KID      string
	Previous []*SigningKey
}

// all is the key and its previous keys, the signing key first.
func (k *SigningKey) all() []*SigningKey { return append([]*SigningKey{k}, k.Previous...) }

// publicKey is the public key of kid among the key and its previous ones.
func (k *SigningKey) publicKey(kid string) (ed25519.PublicKey, bool) {
	for _, x := range k.all() {
		if x.KID == kid {
			return x.Private.Public().(ed25519.PublicKey), true
		}
	}
	return nil, false
}

// NewSigningKey derives a key from a 32-byte seed.
func NewSigningKey(seed []byte) (*SigningKey, error) {
	if len(seed) != signingKeySize {
		return nil, fmt.Errorf("signing key seed must be %d bytes, got %d", signingKeySize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return &SigningKey{Private: priv, KID: base64.RawURLEncoding.EncodeToString(sum[:12])}, nil
}

// GenerateSigningKey makes a random key (tests, first development run).
func GenerateSigningKey() *SigningKey {
	seed := make([]byte, signingKeySize)
	if _, err := rand.Read(seed); err != nil {
		panic(err)
	}
	k, _ := NewSigningKey(seed)
	return k
}

// LoadSigningKey reads the service keys from env (value) or from a file:
// base64 Ed25519 seeds separated by commas or white space, the first the
// key that signs, the others previous keys that still verify (a rotation:
// put the new key first, keep the old one until its tokens have expired).
// With create, a missing file gets one fresh key (development only: mode
// 0600); without, a missing key is an error.
func LoadSigningKey(value, file string, create bool) (*SigningKey, bool, error) {
	if value != "" {
		k, err := parseSigningKeys(value)
		if err != nil {
			return nil, false, fmt.Errorf("CARBONLEDGER_SIGNING_KEY: %w", err)
		}
		return k, false, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) && create {
		seed := make([]byte, signingKeySize)
		if _, err := rand.Read(seed); err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, false, err
		}
		if err := os.WriteFile(file, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
			return nil, false, err
		}
		k, err := NewSigningKey(seed)
		return k, true, err
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("no signing key: set CARBONLEDGER_SIGNING_KEY or CARBONLEDGER_SIGNING_KEY_FILE (%s does not exist), or pass --dev to create a development key", file)
	}
	if err != nil {
		return nil, false, fmt.Errorf("signing key file: %w", err)
	}
	k, err := parseSigningKeys(string(b))
	if err != nil {
		return nil, false, fmt.Errorf("signing key file %s: %w", file, err)
	}
	return k, false, nil
}

// parseSigningKeys parses one or more base64 seeds; the first signs.
func parseSigningKeys(text string) (*SigningKey, error) {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		return nil, errors.New("no key")
	}
	var keys []*SigningKey
	seen := map[string]bool{}
	for i, f := range fields {
		seed, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		k, err := NewSigningKey(seed)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if seen[k.KID] {
			return nil, fmt.Errorf("key %d is given twice", i+1)
		}
		seen[k.KID] = true
		keys = append(keys, k)
	}
	keys[0].Previous = keys[1:]
	return keys[0], nil
}

// TokenSpec is what a development token asserts.
type TokenSpec struct {
	Role, Sub, Org, City string
	TTL                  time.Duration
}

// Mint signs a token with the service key.
func (k *SigningKey) Mint(issuer, audience string, spec TokenSpec, now time.Time) (string, error) {
	if spec.TTL <= 0 || spec.TTL > tokenTTLMax {
		return "", fmt.Errorf("ttl must be between 1s and %s", tokenTTLMax)
	}
	c := &Claims{Role: spec.Role, Org: spec.Org, City: spec.City, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: spec.Sub, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(spec.TTL)),
	}}
	if err := c.Validate(); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = k.KID
	return t.SignedString(k.Private)
}

// JWKS is the public half of the service keys, for other services.
// The signing key comes first, then the previous keys that still verify.
func (k *SigningKey) JWKS() map[string]any {
	keys := []map[string]string{}
	for _, x := range k.all() {
		keys = append(keys, map[string]string{
			"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": x.KID,
			"x": base64.RawURLEncoding.EncodeToString(x.Private.Public().(ed25519.PublicKey)),
		})
	}
	return map[string]any{"keys": keys}
}

// ExternalIdP trusts tokens of an external identity provider, verified
// against its published JWKS (refreshed in the background by keyfunc).
// Several may be trusted (Config.Externals), each with its own issuer,
// audience and JWKS: a token is routed by its issuer to that provider's
// keys only, so one provider's key cannot sign for another.
type ExternalIdP struct {
	JWKSURL  string `json:"jwks_url"`
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
}

// authenticator verifies bearer tokens: one parser per trusted issuer,
// each pinned to its algorithms, issuer and audience, expiry required.
type authenticator struct {
	own      *jwt.Parser
	ownKey   *SigningKey
	ownIss   string
	ext      map[string]externalParser // by issuer
	unverify *jwt.Parser
	cache    *tokenCache // tokens of the own key that verified (tokencache.go)
}

// externalParser is one external provider's parser and keys.
type externalParser struct {
	parser *jwt.Parser
	keys   jwt.Keyfunc
}

func newAuthenticator(ctx context.Context, key *SigningKey, issuer, audience string, exts []ExternalIdP, now func() time.Time) (*authenticator, error) {
	common := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(tokenLeeway), jwt.WithTimeFunc(now)}
	a := &authenticator{
		own:      jwt.NewParser(append(common, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience))...),
		ownKey:   key,
		ownIss:   issuer,
		ext:      map[string]externalParser{},
		unverify: jwt.NewParser(),
		cache:    newTokenCache(tokenCacheEntriesMax, tokenLeeway, now),
	}
	for _, ext := range exts {
		if ext.JWKSURL == "" || ext.Issuer == "" || ext.Audience == "" || ext.Issuer == issuer {
			return nil, fmt.Errorf("external identity provider %q needs a JWKS URL, an issuer of its own and an audience", ext.Issuer)
		}
		if _, dup := a.ext[ext.Issuer]; dup {
			return nil, fmt.Errorf("external identity provider %q is configured twice", ext.Issuer)
		}
		kf, err := keyfunc.NewDefaultCtx(ctx, []string{ext.JWKSURL})
		if err != nil {
			return nil, fmt.Errorf("external JWKS of %q: %w", ext.Issuer, err)
		}
		a.ext[ext.Issuer] = externalParser{
			parser: jwt.NewParser(append(common, jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}), jwt.WithIssuer(ext.Issuer), jwt.WithAudience(ext.Audience))...),
			keys:   kf.Keyfunc,
		}
	}
	return a, nil
}

func (a *authenticator) ownKeyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	pub, ok := a.ownKey.publicKey(kid)
	if !ok {
		return nil, errors.New("unknown key id")
	}
	return pub, nil
}

// verify returns the claims of a valid token or an unauthorized error that
// says why without echoing the token.
func (a *authenticator) verify(raw string) (*Claims, error) {
	if c, ok := a.cache.get(raw); ok {
		return c, nil
	}
	// Route by the (not yet trusted) issuer to that issuer's parser; the
	// chosen parser then checks everything, including the issuer itself.
	var peek jwt.RegisteredClaims
	if _, _, err := a.unverify.ParseUnverified(raw, &peek); err != nil {
		return nil, errorf(codeUnauthorized, "malformed bearer token")
	}
	parser, kf := a.own, jwt.Keyfunc(a.ownKeyfunc)
	if e, ok := a.ext[peek.Issuer]; ok {
		parser, kf = e.parser, e.keys
	}
	var c Claims
	if _, err := parser.ParseWithClaims(raw, &c, kf); err != nil {
		return nil, errorf(codeUnauthorized, "invalid token: %s", tokenReason(err))
	}
	if parser == a.own {
		a.cache.put(raw, &c)
	}
	return &c, nil
}

func tokenReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "invalid claims"
	}
	return "rejected"
}
