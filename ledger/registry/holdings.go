package registry

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// HolderInput names a holding to open.
type HolderInput struct {
	Holder string `json:"holder"`
}

// Holder is a registry holding's state.
type Holder struct {
	ID        string `json:"id"`
	Account   string `json:"account"`
	Money     string `json:"money_account"`
	Status    string `json:"status"`
	StatusSeq int64  `json:"status_seq"`
}

// OpenHolder opens a holding (holder:{id}:SDCER and org:{id}:CNY): an
// enterprise or operator opens its own, the province any. Opening an
// existing holding changes nothing.
func OpenHolder(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in HolderInput) (Holder, bool, error) {
	if err := validHolderID(in.Holder, "holder"); err != nil {
		return Holder{}, false, err
	}
	if !a.Is(ledger.RoleProvince) {
		own, err := holderOf(a)
		if err != nil {
			return Holder{}, false, err
		}
		if own != in.Holder {
			return Holder{}, false, ledger.Errf(ledger.CodeForbidden, "an organisation opens only its own holding").At("holder")
		}
	}
	return run(ctx, l, a, key, "registry.holder.open", in, func(w *ledger.Writer) (Holder, error) {
		if err := ensureHolder(w, in.Holder, w.Now()); err != nil {
			return Holder{}, err
		}
		return loadHolder(w.Journal, in.Holder)
	})
}

func loadHolder(j ledger.Journal, id string) (Holder, error) {
	h := Holder{ID: id, Account: ledger.HolderAccount(id), Money: ledger.OrgMoneyAccount(id)}
	err := j.Tx().QueryRow(j.Ctx(), `SELECT status, status_seq FROM registry_holders WHERE id = $1`, id).Scan(&h.Status, &h.StatusSeq)
	if isNoRows(err) {
		return h, ledger.Errf(ledger.CodeNotFound, "holder %s not found", id)
	}
	return h, err
}

// HoldingSummary is a holder's units of one vintage and methodology.
type HoldingSummary struct {
	Vintage     int    `json:"vintage"`
	Methodology string `json:"methodology"`
	Units       string `json:"units"`
	Reserved    string `json:"reserved"`
}

// Holdings is a holder's units: engine balances, totals by vintage and
// methodology, and one page of its blocks.
type Holdings struct {
	Holder     string           `json:"holder"`
	Status     string           `json:"status"`
	Balance    string           `json:"balance"`   // engine balance: the units of all held blocks
	Available  string           `json:"available"` // not reserved by an open sale
	Summary    []HoldingSummary `json:"summary"`
	Blocks     []Block          `json:"blocks"`
	NextCursor string           `json:"next_cursor"`
}

// GetHoldings reads a holder's units by block. An enterprise or operator
// reads its own; the province and auditors read any.
func GetHoldings(ctx context.Context, l *ledger.Ledger, a ledger.Actor, holder string, limit int, cursor string) (Holdings, error) {
	if holder == "" {
		holder = a.Org
	}
	if err := validHolderID(holder, "holder"); err != nil {
		return Holdings{}, err
	}
	if !a.SeesAll() {
		own, err := holderOf(a)
		if err != nil {
			return Holdings{}, err
		}
		if own != holder {
			return Holdings{}, ledger.Errf(ledger.CodeNotFound, "holder %s not found", holder)
		}
	}
	limit = ledger.ClampLimit(limit)
	vintage, first := int64(0), int64(0)
	if cursor != "" {
		if err := ledger.DecodeCursor(cursor, &vintage, &first); err != nil {
			return Holdings{}, err
		}
	}
	// One snapshot: blocks and balances agree even while others write.
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (Holdings, error) {
		h, err := loadHolder(r.Journal, holder)
		if err != nil {
			return Holdings{}, err
		}
		acct, err := r.Account(ledger.HolderAccount(holder))
		if err != nil {
			return Holdings{}, err
		}
		out := Holdings{Holder: holder, Status: h.Status, Summary: []HoldingSummary{},
			Balance: ledger.FormatAmount(ledger.AssetSDCER, acct.Balance), Available: ledger.FormatAmount(ledger.AssetSDCER, acct.Available)}
		sums, err := sumUnits(r.Journal, `holder = $1 AND status = 'held'`, holder)
		if err != nil {
			return Holdings{}, err
		}
		for _, s := range sums {
			out.Summary = append(out.Summary, HoldingSummary{Vintage: s.vintage, Methodology: s.methodology, Units: FormatUnits(s.units), Reserved: FormatUnits(s.reserved)})
		}
		blocks, err := loadBlocks(r.Journal, `
			SELECT `+blockCols+` FROM registry_blocks b
			WHERE b.holder = $1 AND b.status = 'held' AND (b.vintage, b.first_unit) > ($2::INT, $3::BIGINT)
			ORDER BY b.vintage, b.first_unit LIMIT $4`, holder, vintage, first, limit+1)
		views := make([]Block, len(blocks))
		for i, b := range blocks {
			views[i] = b.view()
		}
		page := ledger.PageOf(views, limit, func(last Block) string { return ledger.EncodeCursor(int64(last.Vintage), last.FirstUnit) })
		out.Blocks, out.NextCursor = page.Items, page.NextCursor
		return out, err
	})
}

// TransferInput moves units to another holder.
type TransferInput struct {
	To string `json:"to"`
	Selection
	Memo string `json:"memo,omitempty"`
}

// Transfer is a completed move of units between holders.
type Transfer struct {
	TransactionID uuid.UUID `json:"transaction_id"`
	From          string    `json:"from"`
	To            string    `json:"to"`
	Units         string    `json:"units"`
	Blocks        []Block   `json:"blocks"`
	At            time.Time `json:"at"`
}

// TransferUnits moves the caller's own units to another holder. Both
// holdings must be active (not frozen).
func TransferUnits(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in TransferInput) (Transfer, bool, error) {
	from, err := holderOf(a)
	if err != nil {
		return Transfer{}, false, err
	}
	if err := validHolderID(in.To, "to"); err != nil {
		return Transfer{}, false, err
	}
	if in.To == from {
		return Transfer{}, false, ledger.Errf(ledger.CodeInvalidRequest, "a holder cannot transfer to itself").At("to")
	}
	sel, err := in.Selection.parse(false)
	if err != nil {
		return Transfer{}, false, err
	}
	if err := validText(in.Memo, "memo", false, TextBytesMax); err != nil {
		return Transfer{}, false, err
	}
	return run(ctx, l, a, key, "registry.transfer", in, func(w *ledger.Writer) (Transfer, error) {
		status, err := lockHolders(w, from, in.To)
		if err != nil {
			return Transfer{}, err
		}
		if err := requireActive(status, from, in.To); err != nil {
			return Transfer{}, err
		}
		picked, err := pick(w, from, sel)
		if err != nil {
			return Transfer{}, err
		}
		meta := map[string]string{"from": from, "to": in.To}
		if in.Memo != "" {
			meta["memo"] = in.Memo
		}
		t, err := post(w, a, ledger.TxInput{Kind: "registry.transfer", Metadata: meta,
			Postings: unitLegs(ledger.HolderAccount(from), ledger.HolderAccount(in.To), sel.units)})
		if err != nil {
			return Transfer{}, err
		}
		moved, err := moveBlocks(w, picked, target{from: from, holder: in.To, status: StatusHeld, txID: &t.ID})
		if err != nil {
			return Transfer{}, err
		}
		// The registry's own record of the transfer, for GET /v1/transfers.
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_transfers (tx_id, from_holder, to_holder, units, memo, transferred_by, transferred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.ID, from, in.To, sel.units, in.Memo, a.ID(), w.Now()); err != nil {
			return Transfer{}, err
		}
		return Transfer{TransactionID: t.ID, From: from, To: in.To, Units: FormatUnits(sel.units), Blocks: moved, At: w.Now()}, nil
	})
}

func unitLegs(from, to string, units int64) []ledger.PostingInput {
	n := decimal.NewFromInt(units)
	return []ledger.PostingInput{{Account: from, Amount: n.Neg()}, {Account: to, Amount: n}}
}

// DepositInput records money received for an organisation outside the
// ledger (a bank transfer the province has confirmed).
type DepositInput struct {
	Org       string `json:"org"`
	Amount    string `json:"amount"` // CNY, e.g. "18000.00"
	Reference string `json:"reference"`
}

// Deposit is a recorded deposit.
type Deposit struct {
	TransactionID uuid.UUID `json:"transaction_id"`
	Org           string    `json:"org"`
	Account       string    `json:"account"`
	Amount        string    `json:"amount"`
	Reference     string    `json:"reference"`
	At            time.Time `json:"at"`
}

// RecordDeposit (province) credits an organisation's CNY account from
// external:CNY.
func RecordDeposit(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in DepositInput) (Deposit, bool, error) {
	if err := cmp.Or(a.Require(ledger.RoleProvince), validHolderID(in.Org, "org")); err != nil {
		return Deposit{}, false, err
	}
	amount, err := ledger.ParsePositiveAmount(ledger.AssetCNY, in.Amount)
	if err != nil {
		return Deposit{}, false, asField(err, "amount")
	}
	if err := validText(in.Reference, "reference", true, TextBytesMax); err != nil {
		return Deposit{}, false, err
	}
	return run(ctx, l, a, key, "registry.deposit", in, func(w *ledger.Writer) (Deposit, error) {
		return deposit(w, a, in.Org, amount, in.Reference)
	})
}

func deposit(w *ledger.Writer, a ledger.Actor, org string, amount decimal.Decimal, ref string) (Deposit, error) {
	acct := ledger.OrgMoneyAccount(org)
	if err := w.OpenAccounts("external:CNY", acct); err != nil {
		return Deposit{}, err
	}
	t, err := post(w, a, ledger.TxInput{Kind: "registry.deposit", Metadata: map[string]string{"org": org, "reference": ref},
		Postings: []ledger.PostingInput{{Account: "external:CNY", Amount: amount.Neg()}, {Account: acct, Amount: amount}}})
	if err != nil {
		return Deposit{}, err
	}
	return Deposit{TransactionID: t.ID, Org: org, Account: acct, Amount: ledger.FormatAmount(ledger.AssetCNY, amount), Reference: ref, At: w.Now()}, nil
}

func moneyDetail(e *ledger.Error, need decimal.Decimal, who string) error {
	avail := e.Detail["available"]
	return &ledger.Error{Code: ledger.CodeInsufficientBalance,
		Msg:    fmt.Sprintf("%s has %s CNY available; the trade needs %s CNY. Nothing moved.", who, avail, ledger.FormatAmount(ledger.AssetCNY, need)),
		Detail: map[string]string{"account": e.Detail["account"], "available": avail, "required": ledger.FormatAmount(ledger.AssetCNY, need)}}
}
