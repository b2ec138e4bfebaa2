package api

import (
	"encoding/hex"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Views render amounts as strings with the asset's fixed scale, hashes
// as hex, and times in UTC.

type postingView struct {
	Account      string `json:"account"`
	Asset        string `json:"asset"`
	Amount       string `json:"amount"`
	Phase        string `json:"phase"`
	Shard        int    `json:"shard"`
	Seq          int64  `json:"seq"`
	BalanceAfter string `json:"balance_after"`
}

type transactionView struct {
	ID          string            `json:"id"`
	Kind        string            `json:"kind"`
	Actor       string            `json:"actor"`
	EffectiveAt time.Time         `json:"effective_at"`
	CreatedAt   time.Time         `json:"created_at"`
	Metadata    map[string]string `json:"metadata"`
	Corrects    string            `json:"corrects,omitempty"`
	Resolves    string            `json:"resolves,omitempty"`
	Pending     bool              `json:"pending"`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty"`
	Postings    []postingView     `json:"postings"`
	Hash        string            `json:"hash"`
}

func viewTransaction(t *ledger.Transaction) transactionView {
	v := transactionView{ID: t.ID.String(), Kind: t.Kind, Actor: t.Actor, EffectiveAt: t.EffectiveAt.UTC(), CreatedAt: t.CreatedAt.UTC(),
		Metadata: t.Metadata, Pending: t.Pending, ExpiresAt: t.ExpiresAt, Hash: hex.EncodeToString(t.Hash), Postings: []postingView{}}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	if t.Corrects != nil {
		v.Corrects = t.Corrects.String()
	}
	if t.Resolves != nil {
		v.Resolves = t.Resolves.String()
	}
	for _, p := range t.Postings {
		v.Postings = append(v.Postings, postingView{Account: p.Account, Asset: string(p.Asset), Amount: ledger.FormatAmount(p.Asset, p.Amount),
			Phase: string(p.Phase), Shard: p.Shard, Seq: p.Seq, BalanceAfter: ledger.FormatAmount(p.Asset, p.BalanceAfter)})
	}
	return v
}

type accountView struct {
	ID        string            `json:"id"`
	Asset     string            `json:"asset"`
	Owner     string            `json:"owner"`
	Type      string            `json:"type"`
	Issuer    bool              `json:"issuer"`
	Status    string            `json:"status"`
	Balance   string            `json:"balance"`
	Pending   string            `json:"pending"`
	Available string            `json:"available"`
	Seq       int64             `json:"seq"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt time.Time         `json:"created_at"`
}

func viewAccount(a ledger.AccountView) accountView {
	m := a.Metadata
	if m == nil {
		m = map[string]string{}
	}
	return accountView{ID: a.ID, Asset: string(a.Asset), Owner: a.Owner, Type: a.Type, Issuer: a.Issuer, Status: a.Status,
		Balance: ledger.FormatAmount(a.Asset, a.Balance), Pending: ledger.FormatAmount(a.Asset, a.Pending),
		Available: ledger.FormatAmount(a.Asset, a.Available), Seq: a.Seq, Metadata: m, CreatedAt: a.CreatedAt}
}

type accountPostingView struct {
	TransactionID string    `json:"transaction_id"`
	Kind          string    `json:"kind"`
	Shard         int       `json:"shard"`
	Seq           int64     `json:"seq"`
	Phase         string    `json:"phase"`
	Amount        string    `json:"amount"`
	BalanceAfter  string    `json:"balance_after"`
	PendingAfter  string    `json:"pending_after"`
	CreatedAt     time.Time `json:"created_at"`
}

type pageView[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}
