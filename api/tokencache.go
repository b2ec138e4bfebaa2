package api

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// Checking a bearer token's Ed25519 signature was a third of the server's
// CPU on single-transfer workloads (issue 11), and a client sends the same
// token with every request until it expires. tokenCache remembers tokens
// that verified, so a client's repeated requests pay for one signature
// check. It weakens no check:
//
//   - the key is SHA-256 of the whole token (header, claims and
//     signature), so a hit is the very token that verified: the same
//     issuer, audience, algorithm, kid, claims and signature. The token
//     itself is not kept;
//   - a hit is checked again against the clock exactly as the parser checks
//     it (exp, nbf and iat, each with the same leeway), so an entry never
//     outlives the token and a token not yet valid stays refused;
//   - only successes are stored: a refused token is parsed and refused
//     again every time, with its reason;
//   - only tokens of the service's own key are stored. That key does not
//     change while the process runs; an external provider's keys rotate and
//     may be withdrawn from its JWKS, and a cached token must not outlive
//     its key, so those tokens are verified every time;
//   - it holds at most tokenCacheEntriesMax entries; the least recently
//     used goes first (expired ones go when they are next looked up or
//     reach the end of the list).
const tokenCacheEntriesMax = 16384

type tokenCache struct {
	mu      sync.Mutex
	max     int
	leeway  time.Duration
	now     func() time.Time
	entries map[[sha256.Size]byte]*list.Element
	lru     *list.List // front: most recently used
}

type tokenEntry struct {
	key    [sha256.Size]byte
	claims Claims
}

func newTokenCache(max int, leeway time.Duration, now func() time.Time) *tokenCache {
	return &tokenCache{max: max, leeway: leeway, now: now, entries: map[[sha256.Size]byte]*list.Element{}, lru: list.New()}
}

// get returns a copy of the claims of raw if it verified before and is
// valid now by its own times.
func (tc *tokenCache) get(raw string) (*Claims, bool) {
	k := sha256.Sum256([]byte(raw))
	tc.mu.Lock()
	defer tc.mu.Unlock()
	el, ok := tc.entries[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*tokenEntry)
	if !tc.validAt(&e.claims, tc.now()) {
		tc.lru.Remove(el)
		delete(tc.entries, k)
		return nil, false
	}
	tc.lru.MoveToFront(el)
	c := e.claims
	return &c, true
}

// put remembers claims that raw verified to.
func (tc *tokenCache) put(raw string, c *Claims) {
	if tc.max <= 0 {
		return
	}
	k := sha256.Sum256([]byte(raw))
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if el, ok := tc.entries[k]; ok {
		tc.lru.MoveToFront(el)
		return
	}
	for tc.lru.Len() >= tc.max {
		last := tc.lru.Back()
		tc.lru.Remove(last)
		delete(tc.entries, last.Value.(*tokenEntry).key)
	}
	tc.entries[k] = tc.lru.PushFront(&tokenEntry{key: k, claims: *c})
}

func (tc *tokenCache) len() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.lru.Len()
}

// validAt is golang-jwt's time validation (jwt.Validator: verifyExpiresAt,
// verifyNotBefore, verifyIssuedAt) with our parser's options: expiry
// required, issued-at checked, the same leeway.
func (tc *tokenCache) validAt(c *Claims, now time.Time) bool {
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Add(tc.leeway)) {
		return false
	}
	if c.NotBefore != nil && now.Before(c.NotBefore.Add(-tc.leeway)) {
		return false
	}
	if c.IssuedAt != nil && now.Before(c.IssuedAt.Add(-tc.leeway)) {
		return false
	}
	return true
}
