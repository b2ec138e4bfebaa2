package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Named limits (TIGER_STYLE): every list has a bound.
const (
	PostingsPerTransactionMax = 64
	MetadataKeysMax           = 32
	MetadataKeyBytesMax       = 64
	MetadataValueBytesMax     = 512
	KindBytesMax              = 64
	PendingTimeoutMax         = 30 * 24 * time.Hour
)

// EffectiveAtMin is the earliest effective time a transaction may carry:
// the programme counts reductions formed from 2021 on, and older dates
// are input errors (year 0 does not even render as RFC 3339).
var EffectiveAtMin = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Phase says what a posting does to its account.
type Phase string

const (
	// PhasePosted moves the balance.
	PhasePosted Phase = "posted"
	// PhaseHold belongs to a pending transaction: a negative hold makes the
	// amount unavailable to the owner (pending_debits), a positive one only
	// announces an incoming amount.
	PhaseHold Phase = "hold"
	// PhaseRelease undoes a hold when the pending transaction is posted or
	// voided.
	PhaseRelease Phase = "release"
)

// Posting is one leg. Amount is signed: positive credits (raises) the
// account, negative debits it. Shard, Seq, BalanceAfter, PendingAfter and
// ChainHash are set when the posting is written.
type Posting struct {
	Account      string          `json:"account"`
	Asset        Asset           `json:"asset"`
	Amount       decimal.Decimal `json:"amount"`
	Phase        Phase           `json:"phase"`
	Shard        int             `json:"shard"`
	Seq          int64           `json:"seq"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
	PendingAfter decimal.Decimal `json:"pending_after"`
	ChainHash    []byte          `json:"chain_hash"`
}

// Transaction is an immutable journal entry.
type Transaction struct {
	ID          uuid.UUID         `json:"id"`
	Kind        string            `json:"kind"`
	Actor       string            `json:"actor"`
	EffectiveAt time.Time         `json:"effective_at"`
	CreatedAt   time.Time         `json:"created_at"`
	Metadata    map[string]string `json:"metadata"`
	Corrects    *uuid.UUID        `json:"corrects,omitempty"`
	Resolves    *uuid.UUID        `json:"resolves,omitempty"`
	Pending     bool              `json:"pending"`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty"`
	Postings    []Posting         `json:"postings"`
	Hash        []byte            `json:"hash"`
	// overFreeze is the one frozen account this transaction may debit
	// (Writer.ApplyOverFreeze); it is not part of the record.
	overFreeze string
}

// PostingInput is a requested leg.
type PostingInput struct {
	Account string
	Amount  decimal.Decimal
}

// TxInput is a requested transaction.
type TxInput struct {
	Kind        string
	Postings    []PostingInput
	Metadata    map[string]string
	EffectiveAt time.Time // zero means now
	Pending     bool
	Timeout     time.Duration // pending only; zero means no timeout
	Corrects    *uuid.UUID
}

// NewTransaction validates in and builds the transaction. It is pure: if it
// returns no error, the postings balance per asset, every account matches
// the chart, and every amount fits its asset. Accounts, balances and
// statuses are checked later, under lock.
func NewTransaction(in TxInput, actor string, now time.Time) (*Transaction, error) {
	return newTransaction(in, actor, now, Asset.Scale)
}

// newTransaction is NewTransaction with the scales of the assets the
// caller knows (a Ledger knows the index kinds of its assets table).
func newTransaction(in TxInput, actor string, now time.Time, scales scaleOf) (*Transaction, error) {
	if !validKind(in.Kind) {
		return nil, Errf(CodeInvalidRequest, "kind must be 1 to %d characters of a-z, 0-9, '_' and '.'", KindBytesMax).At("kind")
	}
	if n := len(in.Postings); n < 2 || n > PostingsPerTransactionMax {
		return nil, Errf(CodeInvalidRequest, "a transaction has 2 to %d postings, got %d", PostingsPerTransactionMax, n).At("postings")
	}
	if err := validMetadata(in.Metadata); err != nil {
		return nil, err
	}
	if in.Timeout < 0 || in.Timeout > PendingTimeoutMax || (!in.Pending && in.Timeout != 0) {
		return nil, Errf(CodeInvalidRequest, "timeout applies to pending transactions only and must be between 0 and %s", PendingTimeoutMax).At("timeout_seconds")
	}
	now = now.UTC().Truncate(time.Microsecond)
	eff := in.EffectiveAt.UTC().Truncate(time.Microsecond)
	if in.EffectiveAt.IsZero() {
		eff = now
	}
	if eff.After(now.Add(time.Minute)) {
		return nil, Errf(CodeInvalidRequest, "effective time may not be in the future").At("effective_at")
	}
	if eff.Before(EffectiveAtMin) {
		return nil, Errf(CodeInvalidRequest, "effective time may not be before %s", EffectiveAtMin.Format(time.DateOnly)).At("effective_at")
	}
	phase := PhasePosted
	if in.Pending {
		phase = PhaseHold
	}
	t := &Transaction{
		ID: newID(), Kind: in.Kind, Actor: actor, EffectiveAt: eff, CreatedAt: now,
		Metadata: copyMetadata(in.Metadata), Corrects: in.Corrects, Pending: in.Pending,
		Postings: make([]Posting, 0, len(in.Postings)),
	}
	if in.Pending && in.Timeout > 0 {
		exp := now.Add(in.Timeout).Truncate(time.Microsecond)
		t.ExpiresAt = &exp
	}
	sums := map[Asset]decimal.Decimal{}
	seen := map[string]bool{}
	for i, p := range in.Postings {
		field := "postings[" + strconv.Itoa(i) + "]"
		spec, err := ClassifyAccount(p.Account)
		if err != nil {
			return nil, err.(*Error).At(field + ".account")
		}
		if seen[p.Account] {
			return nil, Errf(CodeInvalidRequest, "account %s appears twice; merge its legs", p.Account).At(field + ".account")
		}
		seen[p.Account] = true
		if p.Amount.IsZero() {
			return nil, Errf(CodeInvalidAmount, "a posting amount may not be zero").At(field + ".amount")
		}
		if err := checkScaleOf(scales, spec.Asset, p.Amount); err != nil {
			return nil, err.(*Error).At(field + ".amount")
		}
		sums[spec.Asset] = sums[spec.Asset].Add(p.Amount)
		t.Postings = append(t.Postings, Posting{Account: p.Account, Asset: spec.Asset, Amount: p.Amount, Phase: phase})
	}
	for asset, s := range sums {
		if !s.IsZero() {
			return nil, Errf(CodeUnbalanced, "postings of %s sum to %s, not zero", asset, s.String()).At("postings")
		}
	}
	return t, nil
}

func validKind(k string) bool {
	if len(k) == 0 || len(k) > KindBytesMax {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func validMetadata(m map[string]string) error {
	if len(m) > MetadataKeysMax {
		return Errf(CodeInvalidRequest, "at most %d metadata keys", MetadataKeysMax).At("metadata")
	}
	for k, v := range m {
		if len(k) == 0 || len(k) > MetadataKeyBytesMax || !ValidIdent(k) {
			return Errf(CodeInvalidRequest, "metadata key %q must be an identifier of at most %d characters", k, MetadataKeyBytesMax).At("metadata")
		}
		if len(v) > MetadataValueBytesMax {
			return Errf(CodeInvalidRequest, "metadata value of %q exceeds %d bytes", k, MetadataValueBytesMax).At("metadata")
		}
		if !CleanText(v) {
			return Errf(CodeInvalidRequest, "metadata value of %q must be UTF-8 text without control characters", k).At("metadata")
		}
	}
	return nil
}

// CleanText reports whether s is valid UTF-8 without control characters
// (PostgreSQL refuses NUL in text and JSONB; the others have no business
// in a reference or a note).
func CleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

func copyMetadata(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// newID returns a time-ordered UUIDv7, which keeps primary-key inserts
// local in the B-tree.
func newID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.New()
	}
	return id
}

// hasher writes length-prefixed fields so that no two different field
// sequences hash alike.
type hasher struct{ buf []byte }

func (h *hasher) str(s string) {
	h.buf = binary.BigEndian.AppendUint32(h.buf, uint32(len(s)))
	h.buf = append(h.buf, s...)
}
func (h *hasher) bytes(b []byte) { h.str(string(b)) }
func (h *hasher) int(n int64)    { h.buf = binary.BigEndian.AppendUint64(h.buf, uint64(n)) }
func (h *hasher) time(t time.Time) {
	h.str(t.UTC().Format("2006-01-02T15:04:05.000000Z"))
}
func (h *hasher) optID(id *uuid.UUID) {
	if id == nil {
		h.str("")
		return
	}
	h.str(id.String())
}
func (h *hasher) sum() []byte { s := sha256.Sum256(h.buf); return s[:] }

// computeHash covers the header and the content of every posting (not the
// per-account positions, which the chain hashes cover).
func (t *Transaction) computeHash() []byte {
	var h hasher
	h.str("carbonledger.tx.v1")
	h.str(t.ID.String())
	h.str(t.Kind)
	h.str(t.Actor)
	h.time(t.EffectiveAt)
	h.time(t.CreatedAt)
	keys := make([]string, 0, len(t.Metadata))
	for k := range t.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h.int(int64(len(keys)))
	for _, k := range keys {
		h.str(k)
		h.str(t.Metadata[k])
	}
	h.optID(t.Corrects)
	h.optID(t.Resolves)
	if t.Pending {
		h.str("pending")
	} else {
		h.str("")
	}
	if t.ExpiresAt != nil {
		h.time(*t.ExpiresAt)
	} else {
		h.str("")
	}
	h.int(int64(len(t.Postings)))
	for _, p := range t.Postings {
		h.str(p.Account)
		h.str(string(p.Asset))
		h.str(string(p.Phase))
		h.str(p.Amount.String())
	}
	return h.sum()
}

// chainHash links a posting to the previous posting of the same account
// (and shard): changing, inserting or removing any posting breaks every
// later link of that account.
func chainHash(prev, txHash []byte, idx int, p *Posting) []byte {
	var h hasher
	h.str("carbonledger.posting.v1")
	h.bytes(prev)
	h.bytes(txHash)
	h.int(int64(idx))
	h.str(p.Account)
	h.int(int64(p.Shard))
	h.int(p.Seq)
	h.str(string(p.Phase))
	// Exact values (decimal's canonical text), not rounded to the asset's
	// scale: a change below the scale must break the hash too.
	h.str(p.Amount.String())
	h.str(p.BalanceAfter.String())
	h.str(p.PendingAfter.String())
	return h.sum()
}
