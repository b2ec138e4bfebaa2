package registry

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Trade statuses, derived from the journal alone: from whether the
// offer's pending transaction was resolved, and how — the same fact that
// decides whether its units are reserved, so the two never disagree.
const (
	TradeOffered   = "offered"   // pending: its units are reserved (past expires_at it can no longer be accepted, and the engine's sweep voids it)
	TradeExpired   = "expired"   // voided by the engine's timeout sweep: its units are free
	TradeSettled   = "settled"   // posted, money paid
	TradeCancelled = "cancelled" // voided on request: its units are free
)

// OfferInput offers units to a buyer at a price per unit (tonne).
type OfferInput struct {
	Buyer string `json:"buyer"`
	Selection
	PricePerUnit   string `json:"price_per_unit"` // CNY per unit, e.g. "36.00"
	TimeoutSeconds int64  `json:"timeout_seconds,omitempty"`
}

// Trade is a delivery-versus-payment sale: what a list shows of it
// (TradeSummary) and its blocks.
type Trade struct {
	TradeSummary
	Blocks []Block `json:"blocks"` // reserved while offered; the buyer's once settled; none once expired or cancelled
}

type tradeRow struct {
	Trade
	amount decimal.Decimal
	units  int64
}

// loadTrade reads a trade, its blocks and its status as the journal says
// at `now`.
func loadTrade(j ledger.Journal, id uuid.UUID, now time.Time) (tradeRow, error) {
	var t tradeRow
	var err error
	t.TradeSummary, t.units, t.amount, err = scanTrade(j.Tx().QueryRow(j.Ctx(), `SELECT `+tradeColumns+` FROM registry_trades WHERE id = $1`, id), now)
	if isNoRows(err) {
		return t, ledger.Errf(ledger.CodeNotFound, "trade %s not found", id)
	}
	if err != nil {
		return t, err
	}
	one := []TradeSummary{t.TradeSummary}
	if err := tradeStatuses(j, one); err != nil {
		return t, err
	}
	if err := offeredSerialsOf(j, one); err != nil {
		return t, err
	}
	t.TradeSummary = one[0]
	// Reserved blocks while open; the buyer's blocks from this trade once
	// settled (found through the provenance of the settling transaction).
	var blocks []blockRow
	if t.ResolutionTx != nil && t.Status == TradeSettled {
		blocks, err = settledBlocks(j, *t.ResolutionTx)
	} else if t.Status == TradeOffered {
		blocks, err = loadBlocks(j, `SELECT `+blockCols+` FROM registry_blocks b WHERE b.reserved_tx = $1 ORDER BY b.vintage, b.first_unit`, t.PendingTx)
	}
	if err != nil {
		return t, err
	}
	t.Blocks = []Block{}
	for _, b := range blocks {
		t.Blocks = append(t.Blocks, b.view())
	}
	return t, nil
}

// tradeStatus derives a trade's status from the resolution of its pending
// transaction: none (offered: the units are reserved, also past the
// timeout until the engine's sweep voids the hold), posted (settled),
// voided by the timeout sweep (expired) or voided on request (cancelled).
// It does not read the clock: "expired" is what the journal says, never a
// guess ahead of it, so a trade never reads expired while its units are
// still reserved. (Voiding the hold when a trade is read past its timeout
// would make a read write the journal, in the reader's name.)
func tradeStatus(resKind, resReason *string) string {
	switch {
	case resKind == nil:
		return TradeOffered
	case *resKind == ledger.KindPendingPost:
		return TradeSettled
	case resReason != nil && *resReason == "timeout":
		return TradeExpired
	}
	return TradeCancelled
}

// OfferTrade (seller) reserves units for a buyer with an engine pending
// transaction that times out. The buyer's money is not touched until the
// buyer accepts.
func OfferTrade(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in OfferInput) (Trade, bool, error) {
	seller, err := holderOf(a)
	if err != nil {
		return Trade{}, false, err
	}
	if err := validHolderID(in.Buyer, "buyer"); err != nil {
		return Trade{}, false, err
	}
	if in.Buyer == seller {
		return Trade{}, false, ledger.Errf(ledger.CodeInvalidRequest, "a holder cannot sell to itself").At("buyer")
	}
	sel, err := in.Selection.parse(false)
	if err != nil {
		return Trade{}, false, err
	}
	price, err := ledger.ParsePositiveAmount(ledger.AssetCNY, in.PricePerUnit)
	if err != nil {
		return Trade{}, false, asField(err, "price_per_unit")
	}
	maxTimeout := int64(ledger.PendingTimeoutMax / time.Second)
	if in.TimeoutSeconds < 0 || in.TimeoutSeconds > maxTimeout {
		return Trade{}, false, ledger.Errf(ledger.CodeInvalidRequest, "timeout_seconds must be 1 to %d (0: the policy's default)", maxTimeout).At("timeout_seconds")
	}
	amount := price.Mul(decimal.NewFromInt(sel.units))
	return run(ctx, l, a, key, "registry.trade.offer", in, func(w *ledger.Writer) (Trade, error) {
		timeout := in.TimeoutSeconds
		if timeout == 0 {
			pol, err := policyAt(w.Journal, w.Now())
			if err != nil {
				return Trade{}, err
			}
			timeout = pol.TradeTimeoutDefaultSeconds
		}
		status, err := lockHolders(w, seller, in.Buyer)
		if err != nil {
			return Trade{}, err
		}
		if err := requireActive(status, seller, in.Buyer); err != nil {
			return Trade{}, err
		}
		picked, err := pick(w, seller, sel)
		if err != nil {
			return Trade{}, err
		}
		id := ledger.NewID()
		p, err := post(w, a, ledger.TxInput{Kind: "registry.trade.offer", Pending: true, Timeout: time.Duration(timeout) * time.Second,
			Metadata: map[string]string{"trade_id": id.String(), "price_per_unit": ledger.FormatAmount(ledger.AssetCNY, price)},
			Postings: unitLegs(ledger.HolderAccount(seller), ledger.HolderAccount(in.Buyer), sel.units)})
		if err != nil {
			return Trade{}, err
		}
		reserved, err := moveBlocks(w, picked, target{from: seller, holder: seller, status: StatusHeld, reservedTx: &p.ID})
		if err != nil {
			return Trade{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_trades (id, seller, buyer, units, price_per_unit, amount, pending_tx, expires_at, created_by, created_at, ranges_recorded)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true)`,
			id, seller, in.Buyer, sel.units, price, amount, p.ID, *p.ExpiresAt, a.ID(), w.Now()); err != nil {
			return Trade{}, err
		}
		if err := recordRanges(w.Journal, id, reserved); err != nil {
			return Trade{}, err
		}
		t, err := loadTrade(w.Journal, id, w.Now())
		if err != nil {
			return t.Trade, err
		}
		return t.Trade, w.Emit(EventTradeOffered, "trade:"+id.String(), holdersSee(t.Seller, t.Buyer), t.Trade)
	})
}

type tradeIDInput struct {
	TradeID uuid.UUID `json:"trade_id"`
}

// AcceptTrade (buyer) settles: in one database transaction the pending
// units are posted to the buyer and the price moves org:{buyer}:CNY →
// org:{seller}:CNY. Without enough money nothing moves and the offer stays
// open until it expires.
func AcceptTrade(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID) (Trade, bool, error) {
	buyer, err := holderOf(a)
	if err != nil {
		return Trade{}, false, err
	}
	return run(ctx, l, a, key, "registry.trade.accept", tradeIDInput{id}, func(w *ledger.Writer) (Trade, error) {
		t, err := loadTrade(w.Journal, id, w.Now())
		if err != nil {
			return Trade{}, err
		}
		if t.Buyer != buyer && t.Seller != buyer {
			return Trade{}, ledger.Errf(ledger.CodeNotFound, "trade %s not found", id)
		}
		if t.Buyer != buyer {
			return Trade{}, ledger.Errf(ledger.CodeForbidden, "only the buyer accepts a trade")
		}
		status, err := lockHolders(w, t.Seller, t.Buyer)
		if err != nil {
			return Trade{}, err
		}
		// Re-read under the holder locks: a concurrent acceptance or
		// cancellation has committed or not started.
		if t, err = loadTrade(w.Journal, id, w.Now()); err != nil {
			return Trade{}, err
		}
		if err := acceptable(t.Trade, w.Now()); err != nil {
			return Trade{}, err
		}
		if err := requireActive(status, t.Seller, t.Buyer); err != nil {
			return Trade{}, err
		}
		res, err := w.Resolve(a, t.PendingTx, true)
		if err != nil {
			return Trade{}, err
		}
		if err := w.OpenAccounts(ledger.OrgMoneyAccount(t.Buyer), ledger.OrgMoneyAccount(t.Seller)); err != nil {
			return Trade{}, err
		}
		pay, err := w.Build(a, ledger.TxInput{Kind: "registry.trade.payment",
			Metadata: map[string]string{"trade_id": id.String(), "settles": res.ID.String()},
			Postings: []ledger.PostingInput{{Account: ledger.OrgMoneyAccount(t.Buyer), Amount: t.amount.Neg()}, {Account: ledger.OrgMoneyAccount(t.Seller), Amount: t.amount}}})
		if err != nil {
			return Trade{}, err
		}
		if err := w.Apply(pay); err != nil {
			if e, ok := ledger.AsError(err); ok && e.Code == ledger.CodeInsufficientBalance {
				return Trade{}, moneyDetail(e, t.amount, "buyer "+t.Buyer)
			}
			return Trade{}, err
		}
		reserved, err := loadBlocks(w.Journal, `SELECT `+blockCols+` FROM registry_blocks b WHERE b.reserved_tx = $1 AND b.holder = $2 AND b.status = 'held' ORDER BY b.vintage, b.first_unit`, t.PendingTx, t.Seller)
		if err != nil {
			return Trade{}, err
		}
		picked := make([]pickedBlock, len(reserved))
		for i, b := range reserved {
			sp := span{b.First, b.Last}
			picked[i] = pickedBlock{take: take{Block: freeBlock{ID: b.ID.String(), Vintage: b.Vintage, span: sp}, Move: sp}, row: b}
		}
		if got := unitsOf(picked); got != t.units {
			return Trade{}, ledger.Errf(ledger.CodeInternal, "trade %s reserves %d units in blocks but %d in the journal", id, got, t.units)
		}
		if _, err := moveBlocks(w, picked, target{from: t.Seller, holder: t.Buyer, status: StatusHeld, txID: &res.ID}); err != nil {
			return Trade{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_trades SET payment_tx = $2 WHERE id = $1`, id, pay.ID); err != nil {
			return Trade{}, err
		}
		t, err = loadTrade(w.Journal, id, w.Now())
		if err != nil {
			return t.Trade, err
		}
		return t.Trade, w.Emit(EventTradeAccepted, "trade:"+id.String(), holdersSee(t.Seller, t.Buyer), t.Trade)
	})
}

// acceptable refuses an offer that is resolved or past its timeout (an
// unresolved offer past it still reads offered: its units stay reserved
// until the engine voids the hold).
func acceptable(t Trade, now time.Time) error {
	if t.Status != TradeOffered {
		return &ledger.Error{Code: CodeTradeNotOpen, Msg: "trade " + t.ID.String() + " is " + t.Status + "; it can no longer be accepted",
			Detail: map[string]string{"status": t.Status}}
	}
	if !now.Before(t.ExpiresAt) {
		return &ledger.Error{Code: CodeTradeNotOpen,
			Msg:    "trade " + t.ID.String() + " timed out at " + t.ExpiresAt.Format(time.RFC3339) + "; it can no longer be accepted, and its units are freed when the engine voids its hold",
			Detail: map[string]string{"status": t.Status, "expires_at": t.ExpiresAt.Format(time.RFC3339)}}
	}
	return nil
}

// CancelTrade voids an open offer: the seller withdraws it, the buyer
// declines it, or the province stops it. The units are free again.
func CancelTrade(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID) (Trade, bool, error) {
	if !a.Is(ledger.RoleProvince) {
		if _, err := holderOf(a); err != nil {
			return Trade{}, false, err
		}
	}
	return run(ctx, l, a, key, "registry.trade.cancel", tradeIDInput{id}, func(w *ledger.Writer) (Trade, error) {
		t, err := loadTrade(w.Journal, id, w.Now())
		if err != nil {
			return Trade{}, err
		}
		if !a.Is(ledger.RoleProvince) && a.Org != t.Seller && a.Org != t.Buyer {
			return Trade{}, ledger.Errf(ledger.CodeNotFound, "trade %s not found", id)
		}
		if _, err := lockHolders(w, t.Seller, t.Buyer); err != nil {
			return Trade{}, err
		}
		if t, err = loadTrade(w.Journal, id, w.Now()); err != nil {
			return Trade{}, err
		}
		if t.ResolutionTx != nil {
			return Trade{}, &ledger.Error{Code: CodeTradeNotOpen, Msg: "trade " + id.String() + " is already " + t.Status,
				Detail: map[string]string{"status": t.Status}}
		}
		// An expired but not yet swept offer may be voided here too: that
		// only does the sweeper's work early.
		if _, err := w.Resolve(a, t.PendingTx, false); err != nil {
			return Trade{}, err
		}
		if _, err := w.Tx().Exec(w.Ctx(), `UPDATE registry_blocks SET reserved_tx = NULL, updated_at = $2 WHERE reserved_tx = $1`, t.PendingTx, w.Now()); err != nil {
			return Trade{}, err
		}
		t, err = loadTrade(w.Journal, id, w.Now())
		if err != nil {
			return t.Trade, err
		}
		return t.Trade, w.Emit(EventTradeCanceled, "trade:"+id.String(), holdersSee(t.Seller, t.Buyer), t.Trade)
	})
}

// GetTrade reads a trade: its seller, its buyer, the province and
// auditors may.
func GetTrade(ctx context.Context, l *ledger.Ledger, a ledger.Actor, id uuid.UUID) (Trade, error) {
	// The role first: an org claim on a token of another role (a citizen
	// carrying org=E2) is not the organisation acting.
	if err := a.Require(TradeReaders...); err != nil {
		return Trade{}, err
	}
	t, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) (tradeRow, error) { return loadTrade(r.Journal, id, l.Now()) })
	if err != nil {
		return Trade{}, err
	}
	if !a.SeesAll() && (a.Org == "" || (a.Org != t.Seller && a.Org != t.Buyer)) {
		return Trade{}, ledger.Errf(ledger.CodeNotFound, "trade %s not found", id)
	}
	return t.Trade, nil
}

// TradeReaders are the roles that read trades: the two sides' holders
// (enterprises and operators, of their own organisation), the province
// and auditors.
var TradeReaders = []string{ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor}

// recordRanges stores the serial ranges an offer reserved with its trade.
func recordRanges(j ledger.Journal, trade uuid.UUID, blocks []Block) error {
	b := &pgx.Batch{}
	for i, bl := range blocks {
		b.Queue(`INSERT INTO registry_trade_ranges (trade_id, idx, programme, vintage, first_unit, last_unit, serial_no) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			trade, i, bl.Programme, bl.Vintage, bl.FirstUnit, bl.LastUnit, bl.Serial)
	}
	return j.Tx().SendBatch(j.Ctx(), b).Close()
}

// settledBlocks are the ranges a settlement moved, as traded (later moves
// may have split them), with the attributes of the block that starts where
// each range starts: blocks are split, never merged, so that block always
// exists.
func settledBlocks(j ledger.Journal, settlement uuid.UUID) ([]blockRow, error) {
	return loadBlocks(j, `
		SELECT b.id, b.programme, b.vintage, m.first_unit, m.last_unit, b.batch_id, b.methodology, b.region, b.sector, b.project,
		       m.to_holder, m.to_status, NULL::UUID
		FROM registry_moves m
		JOIN registry_blocks b ON b.programme = m.programme AND b.vintage = m.vintage AND b.first_unit = m.first_unit
		WHERE m.tx_id = $1 ORDER BY m.idx`, settlement)
}
