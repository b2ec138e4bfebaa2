package registry

import (
	"cmp"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The registry's lists (issue 9). Each is newest first, paged by the
// record's time-ordered id (ledger.IDCursor), bounded by ledger.ClampLimit,
// and scoped exactly as the single read of the same record: the scope is
// one more condition ANDed with the caller's filters, so a filter outside
// the caller's scope finds nothing rather than something it may not see.
// A filter value that cannot match by its form (an unknown status, a
// malformed identifier) is invalid_request at its parameter.

// BatchStates are the states a certification batch may be in.
var BatchStates = []string{StateDraft, StateNotice, StateSubmitted, StateVerified, StateIssued, StateRejected, StateWithdrawn}

// BatchFilter narrows GET /v1/certifications.
type BatchFilter struct {
	Status   string // a batch state
	Operator string
	Verifier string
	Period   string
	Limit    int
	Cursor   string
}

// ListCertifications pages certification batches: the province and
// auditors see all; an operator its own; a verifier those assigned to it;
// any other authenticated caller those past their draft (public from the
// notice on, as GetCertification); a caller without a token (zero Actor)
// the batches under public notice (公示).
func ListCertifications(ctx context.Context, l *ledger.Ledger, a ledger.Actor, f BatchFilter) (ledger.Page[Batch], error) {
	if err := cmp.Or(ledger.FilterOneOf("status", f.Status, BatchStates...), ledger.FilterIdent("operator", f.Operator),
		ledger.FilterIdent("verifier", f.Verifier), ledger.FilterIdent("period", f.Period)); err != nil {
		return ledger.Page[Batch]{}, err
	}
	notDraft := false
	switch {
	case a.Role == "":
		if f.Status != "" && f.Status != StateNotice {
			return emptyPage[Batch](), nil
		}
		f.Status = StateNotice
	case a.SeesAll():
	case a.Is(ledger.RoleOperator):
		if err := a.Require(ledger.RoleOperator); err != nil {
			return ledger.Page[Batch]{}, err
		}
		if f.Operator != "" && f.Operator != a.Org {
			return emptyPage[Batch](), nil
		}
		f.Operator = a.Org
	case a.Is(ledger.RoleVerifier):
		if err := a.Require(ledger.RoleVerifier); err != nil {
			return ledger.Page[Batch]{}, err
		}
		if f.Verifier != "" && f.Verifier != a.Org {
			return emptyPage[Batch](), nil
		}
		f.Verifier = a.Org
	default:
		notDraft = true
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(b Batch) uuid.UUID { return b.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]Batch, error) {
			rows, err := r.Tx().Query(ctx, batchSelect+`
			WHERE ($1 = '' OR b.state = $1) AND ($2 = '' OR b.operator = $2) AND ($3 = '' OR b.verifier = $3) AND ($4 = '' OR b.period = $4)
			  AND (NOT $5 OR b.state <> 'draft') AND ($6::UUID IS NULL OR b.id < $6)
			ORDER BY b.id DESC LIMIT $7`, f.Status, f.Operator, f.Verifier, f.Period, notDraft, after, n)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Batch, error) {
				b, err := scanBatch(row)
				return b.Batch, err
			})
		})
}

// The sides a holder lists its trades as.
const (
	TradeAsSeller = "seller"
	TradeAsBuyer  = "buyer"
)

// TradeSides are the values of the trades' as filter.
var TradeSides = []string{TradeAsSeller, TradeAsBuyer}

// TradeStatuses are the statuses a trade may have.
var TradeStatuses = []string{TradeOffered, TradeExpired, TradeSettled, TradeCancelled}

// TradeFilter narrows GET /v1/trades.
type TradeFilter struct {
	As     string // TradeAsSeller or TradeAsBuyer: the caller's own side (a holder only)
	Seller string
	Buyer  string
	Status string // derived from the journal, as GetTrade's
	Limit  int
	Cursor string
}

// TradeSummary is a trade as a list shows it: everything GetTrade shows
// but the blocks, which GET /v1/trades/{id} reads. Its status and offered
// serials come from the journal and the trade's ranges, for a page at a
// time (tradeStatuses, offeredSerialsOf), and for one trade the same way.
type TradeSummary struct {
	ID           uuid.UUID  `json:"id"`
	Seller       string     `json:"seller"`
	Buyer        string     `json:"buyer"`
	Units        string     `json:"units"`
	PricePerUnit string     `json:"price_per_unit"`
	Amount       string     `json:"amount"`
	Status       string     `json:"status"`
	PendingTx    uuid.UUID  `json:"pending_transaction_id"`
	ResolutionTx *uuid.UUID `json:"resolution_transaction_id,omitempty"`
	PaymentTx    *uuid.UUID `json:"payment_transaction_id,omitempty"`
	ExpiresAt    time.Time  `json:"expires_at"`
	CreatedAt    time.Time  `json:"created_at"`
	// OfferedSerials are the serials the offer reserved, kept whatever
	// became of it (empty only for a trade offered before they were
	// recorded whose units were released before migration 0012).
	OfferedSerials []string  `json:"offered_serials"`
	StatusAsOfNow  time.Time `json:"status_as_of"`
}

// tradeColumns are the registry_trades columns scanTrade reads.
const tradeColumns = `id, seller, buyer, units, price_per_unit, amount, pending_tx, payment_tx, expires_at, created_at`

// scanTrade reads a trade row as of now, without its status and serials;
// it also returns the row's units and amount as numbers.
func scanTrade(row pgx.Row, now time.Time) (TradeSummary, int64, decimal.Decimal, error) {
	var t TradeSummary
	var units int64
	var price, amount decimal.Decimal
	err := row.Scan(&t.ID, &t.Seller, &t.Buyer, &units, &price, &amount, &t.PendingTx, &t.PaymentTx, &t.ExpiresAt, &t.CreatedAt)
	t.Units, t.PricePerUnit, t.Amount = FormatUnits(units), ledger.FormatAmount(ledger.AssetCNY, price), ledger.FormatAmount(ledger.AssetCNY, amount)
	t.ExpiresAt, t.CreatedAt, t.StatusAsOfNow = t.ExpiresAt.UTC(), t.CreatedAt.UTC(), now
	return t, units, amount, err
}

// tradeScanRowsMax bounds the trades one page reads when it filters by a
// status the journal decides (offered, expired, cancelled): a page may
// then hold fewer items than asked, and its cursor continues the scan.
const tradeScanRowsMax = 2000

// ListTrades pages trades: the province and auditors see all; an
// enterprise or operator those it sells or buys (buyer=<own> is the
// offers awaiting its acceptance). The status is derived from the journal,
// as GetTrade's: settled is the trade's own record of payment, the others
// are decided per trade from the resolution of its hold.
func ListTrades(ctx context.Context, l *ledger.Ledger, a ledger.Actor, f TradeFilter) (ledger.Page[TradeSummary], error) {
	if err := cmp.Or(ledger.FilterIdent("seller", f.Seller), ledger.FilterIdent("buyer", f.Buyer),
		ledger.FilterOneOf("status", f.Status, TradeStatuses...), ledger.FilterOneOf("as", f.As, TradeSides...)); err != nil {
		return ledger.Page[TradeSummary]{}, err
	}
	party := ""
	if !a.SeesAll() {
		own, err := holderOf(a)
		if err != nil {
			return ledger.Page[TradeSummary]{}, err
		}
		party = own
	}
	if f.As != "" {
		if party == "" {
			return ledger.Page[TradeSummary]{}, ledger.Errf(ledger.CodeInvalidRequest, "as names the caller's own side: a holder's; filter by seller or buyer").At("as")
		}
		side := &f.Seller
		if f.As == TradeAsBuyer {
			side = &f.Buyer
		}
		if *side != "" && *side != party {
			return emptyPage[TradeSummary](), nil
		}
		*side = party
	}
	after, err := ledger.IDCursor(f.Cursor)
	if err != nil {
		return ledger.Page[TradeSummary]{}, err
	}
	limit := ledger.ClampLimit(f.Limit)
	// payment_tx is written in the transaction that posts the hold: set
	// exactly when the journal says settled.
	paid := 0 // any
	switch f.Status {
	case TradeSettled:
		paid = 1
	case TradeOffered, TradeExpired, TradeCancelled:
		paid = -1
	}
	now := l.Now()
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (ledger.Page[TradeSummary], error) {
		var out []TradeSummary
		scanned, cursor := 0, after
		chunk := limit + 1
		if paid == -1 {
			chunk = max(chunk, 100)
		}
		for {
			rows, err := r.Tx().Query(ctx, `
				SELECT `+tradeColumns+` FROM registry_trades
				WHERE ($1 = '' OR seller = $1) AND ($2 = '' OR buyer = $2) AND ($3 = '' OR seller = $3 OR buyer = $3)
				  AND ($4 = 0 OR ($4 = 1) = (payment_tx IS NOT NULL)) AND ($5::UUID IS NULL OR id < $5)
				ORDER BY id DESC LIMIT $6`, f.Seller, f.Buyer, party, paid, cursor, chunk)
			if err != nil {
				return ledger.Page[TradeSummary]{}, err
			}
			got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TradeSummary, error) {
				t, _, _, err := scanTrade(row, now)
				return t, err
			})
			if err != nil {
				return ledger.Page[TradeSummary]{}, err
			}
			if err := tradeStatuses(r.Journal, got); err != nil {
				return ledger.Page[TradeSummary]{}, err
			}
			for _, t := range got {
				if f.Status == "" || t.Status == f.Status {
					out = append(out, t)
				}
			}
			scanned += len(got)
			if len(got) > 0 {
				last := got[len(got)-1].ID
				cursor = &last
			}
			switch {
			case len(out) > limit:
				out = out[:limit+1]
			case len(got) < chunk:
				// The end of the list.
			case scanned < tradeScanRowsMax:
				continue
			default:
				// The scan bound: a short page whose cursor continues after
				// the last trade read.
				if err := offeredSerialsOf(r.Journal, out); err != nil {
					return ledger.Page[TradeSummary]{}, err
				}
				return ledger.Page[TradeSummary]{Items: ledger.NonNil(out), NextCursor: ledger.EncodeCursor(*cursor)}, nil
			}
			break
		}
		if err := offeredSerialsOf(r.Journal, out); err != nil {
			return ledger.Page[TradeSummary]{}, err
		}
		return ledger.PageOf(out, limit, func(t TradeSummary) string { return ledger.EncodeCursor(t.ID) }), nil
	})
}

// tradeStatuses sets the status and resolution of each trade from the
// journal, in two queries for the whole page.
func tradeStatuses(j ledger.Journal, ts []TradeSummary) error {
	pending := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		pending[i] = t.PendingTx
	}
	done, err := j.Resolutions(pending)
	if err != nil {
		return err
	}
	by := make([]uuid.UUID, 0, len(done))
	for _, id := range done {
		by = append(by, id)
	}
	heads, err := j.Headers(by)
	if err != nil {
		return err
	}
	for i := range ts {
		var kind, reason *string
		if res, ok := done[ts[i].PendingTx]; ok {
			h := heads[res]
			ts[i].ResolutionTx, kind = &res, &h.Kind
			if r, ok := h.Metadata["reason"]; ok {
				reason = &r
			}
		}
		ts[i].Status = tradeStatus(kind, reason)
	}
	return nil
}

// offeredSerialsOf reads the offered serials of a page of trades in one
// query.
func offeredSerialsOf(j ledger.Journal, ts []TradeSummary) error {
	ids := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	rows, err := j.Tx().Query(j.Ctx(), `SELECT trade_id, serial_no FROM registry_trade_ranges WHERE trade_id = ANY($1::UUID[]) ORDER BY trade_id, idx`, ids)
	if err != nil {
		return err
	}
	by := map[uuid.UUID][]string{}
	var id uuid.UUID
	var serial string
	if _, err := pgx.ForEachRow(rows, []any{&id, &serial}, func() error {
		by[id] = append(by[id], serial)
		return nil
	}); err != nil {
		return err
	}
	for i := range ts {
		ts[i].OfferedSerials = ledger.NonNil(by[ts[i].ID])
	}
	return nil
}

// RetirementFilter narrows the public register of retirements.
type RetirementFilter struct {
	Holder      string
	Beneficiary string // exact
	Vintage     int    // 0: any
	Purpose     string
	Serial      string     // a serial block: the retirements that retired any unit of it
	Since       *time.Time // retired_at in [Since, Until)
	Until       *time.Time
	Limit       int
	Cursor      string
}

// ListRetirements pages the public register of retirements (注销): every
// certificate is public (GetCertificate), so the register is too. "Mine"
// is Holder set to the caller's own organisation.
func ListRetirements(ctx context.Context, l *ledger.Ledger, f RetirementFilter) (ledger.Page[Certificate], error) {
	if err := cmp.Or(ledger.FilterIdent("holder", f.Holder), ledger.FilterOneOf("purpose", f.Purpose, Purposes...),
		validText(f.Beneficiary, "beneficiary", false, TextBytesMax), rangeErr(f.Since, f.Until)); err != nil {
		return ledger.Page[Certificate]{}, err
	}
	if f.Vintage != 0 && (f.Vintage < VintageMin || f.Vintage > VintageMax) {
		return ledger.Page[Certificate]{}, ledger.Errf(ledger.CodeInvalidRequest, "vintage must be a year from %d to %d", VintageMin, VintageMax).At("vintage")
	}
	// A serial names units (programme, vintage, unit numbers): a
	// retirement matches when a block it consumed overlaps them.
	var serial *Serial
	if f.Serial != "" {
		s, err := ParseSerial(f.Serial)
		if err != nil {
			if e, ok := ledger.AsError(err); ok {
				err = e.At("serial")
			}
			return ledger.Page[Certificate]{}, err
		}
		serial = &s
	}
	var sProg, sSector, sProject string
	var sVintage int
	var sFirst, sLast *int64
	if serial != nil {
		sProg, sSector, sProject, sVintage, sFirst, sLast = serial.Programme, serial.Sector, serial.Project, serial.Vintage, &serial.First, &serial.Last
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(c Certificate) uuid.UUID { return c.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]Certificate, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT id FROM registry_retirements
			WHERE ($1 = '' OR holder = $1) AND ($2 = '' OR beneficiary = $2) AND ($3 = 0 OR vintage = $3) AND ($4 = '' OR purpose = $4)
			  AND ($5::TIMESTAMPTZ IS NULL OR retired_at >= $5) AND ($6::TIMESTAMPTZ IS NULL OR retired_at < $6) AND ($7::UUID IS NULL OR id < $7)
			  AND ($9::BIGINT IS NULL OR id IN (SELECT b.consumed_ref FROM registry_blocks b WHERE b.status = 'retired'
			      AND b.programme = $10 AND b.sector = $11 AND b.project = $12 AND b.vintage = $13 AND b.first_unit <= $14 AND b.last_unit >= $9))
			ORDER BY id DESC LIMIT $8`, f.Holder, f.Beneficiary, f.Vintage, f.Purpose, f.Since, f.Until, after, n,
				sFirst, sProg, sSector, sProject, sVintage, sLast)
			if err != nil {
				return nil, err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil || len(ids) == 0 {
				return nil, err
			}
			by := make(map[uuid.UUID]Certificate, len(ids))
			if err := eachCertificate(r.Journal, `r.id = ANY($1::UUID[])`, func(c Certificate, _ []byte) error {
				by[c.ID] = c
				return nil
			}, ids); err != nil {
				return nil, err
			}
			out := make([]Certificate, 0, len(ids))
			for _, id := range ids {
				out = append(out, by[id])
			}
			return out, nil
		})
}

// TransferRecord is a transfer between holders as a list shows it.
type TransferRecord struct {
	TransactionID uuid.UUID `json:"transaction_id"`
	From          string    `json:"from"`
	To            string    `json:"to"`
	Units         string    `json:"units"`
	Memo          string    `json:"memo,omitempty"`
	Serials       []string  `json:"serials"`
	At            time.Time `json:"at"`
}

// TransferFilter narrows GET /v1/transfers.
type TransferFilter struct {
	From   string // the sending holder
	To     string // the receiving holder
	Since  *time.Time
	Until  *time.Time // at in [Since, Until)
	Limit  int
	Cursor string
}

// ListTransfers pages transfers between holders: the province and
// auditors see all; an enterprise or operator those it sent or received.
func ListTransfers(ctx context.Context, l *ledger.Ledger, a ledger.Actor, f TransferFilter) (ledger.Page[TransferRecord], error) {
	if err := cmp.Or(ledger.FilterIdent("from", f.From), ledger.FilterIdent("to", f.To), rangeErr(f.Since, f.Until)); err != nil {
		return ledger.Page[TransferRecord]{}, err
	}
	party, err := partyOf(a)
	if err != nil {
		return ledger.Page[TransferRecord]{}, err
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(t TransferRecord) uuid.UUID { return t.TransactionID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]TransferRecord, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT tx_id, from_holder, to_holder, units, memo, transferred_at FROM registry_transfers
			WHERE ($1 = '' OR from_holder = $1) AND ($2 = '' OR to_holder = $2) AND ($3 = '' OR from_holder = $3 OR to_holder = $3)
			  AND ($4::TIMESTAMPTZ IS NULL OR transferred_at >= $4) AND ($5::TIMESTAMPTZ IS NULL OR transferred_at < $5) AND ($6::UUID IS NULL OR tx_id < $6)
			ORDER BY tx_id DESC LIMIT $7`, f.From, f.To, party, f.Since, f.Until, after, n)
			if err != nil {
				return nil, err
			}
			out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TransferRecord, error) {
				var t TransferRecord
				var units int64
				err := row.Scan(&t.TransactionID, &t.From, &t.To, &units, &t.Memo, &t.At)
				t.Units, t.At = FormatUnits(units), t.At.UTC()
				return t, err
			})
			if err != nil || len(out) == 0 {
				return out, err
			}
			ids := make([]uuid.UUID, len(out))
			for i, t := range out {
				ids[i] = t.TransactionID
			}
			// The ranges each transfer moved, as moved (later moves may have
			// split them), named by the block that starts where each starts.
			by, err := serialsBy(r.Journal, `
			SELECT m.tx_id, b.region, b.programme, b.sector, b.project, m.vintage, m.first_unit, m.last_unit
			FROM registry_moves m
			JOIN registry_blocks b ON b.programme = m.programme AND b.vintage = m.vintage AND b.first_unit = m.first_unit
			WHERE m.tx_id = ANY($1::UUID[]) ORDER BY m.tx_id, m.idx`, ids)
			for i := range out {
				out[i].Serials = ledger.NonNil(by[out[i].TransactionID])
			}
			return out, err
		})
}

// consumedSerials are the serials of the terminal blocks of consumptions
// (retirement, offset, cancellation) refs.
func consumedSerials(j ledger.Journal, refs []uuid.UUID) (map[uuid.UUID][]string, error) {
	return serialsBy(j, `
		SELECT b.consumed_ref, b.region, b.programme, b.sector, b.project, b.vintage, b.first_unit, b.last_unit
		FROM registry_blocks b WHERE b.consumed_ref = ANY($1::UUID[]) ORDER BY b.consumed_ref, b.vintage, b.first_unit`, refs)
}

// serialsBy runs sql, which selects a key and a serial's parts, into
// serials by key.
func serialsBy(j ledger.Journal, sql string, keys []uuid.UUID) (map[uuid.UUID][]string, error) {
	out := map[uuid.UUID][]string{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := j.Tx().Query(j.Ctx(), sql, keys)
	if err != nil {
		return nil, err
	}
	var key uuid.UUID
	var s Serial
	_, err = pgx.ForEachRow(rows, []any{&key, &s.Region, &s.Programme, &s.Sector, &s.Project, &s.Vintage, &s.First, &s.Last}, func() error {
		out[key] = append(out[key], s.String())
		return nil
	})
	return out, err
}

// OffsetRecord is a surrender as a list shows it; the obligation it was
// counted against is GET /v1/registry/obligations/{enterprise}/{year}.
type OffsetRecord struct {
	ID                 uuid.UUID `json:"id"`
	Enterprise         string    `json:"enterprise"`
	ComplianceYear     int       `json:"compliance_year"`
	Units              string    `json:"units"`
	ObligationRevision *int64    `json:"obligation_revision,omitempty"` // none for offsets before migration 0012
	EtsReference       string    `json:"ets_reference"`
	Serials            []string  `json:"serials"`
	TransactionID      uuid.UUID `json:"transaction_id"`
	At                 time.Time `json:"at"`
}

// OffsetFilter narrows GET /v1/offsets.
type OffsetFilter struct {
	Enterprise     string
	ComplianceYear int // 0: any
	Since, Until   *time.Time
	Limit          int
	Cursor         string
}

// ListOffsets pages surrenders: an enterprise its own, the province and
// auditors all (as GetObligation).
func ListOffsets(ctx context.Context, l *ledger.Ledger, a ledger.Actor, f OffsetFilter) (ledger.Page[OffsetRecord], error) {
	if err := cmp.Or(ledger.FilterIdent("enterprise", f.Enterprise), rangeErr(f.Since, f.Until)); err != nil {
		return ledger.Page[OffsetRecord]{}, err
	}
	if f.ComplianceYear != 0 && (f.ComplianceYear < ComplianceYearMin || f.ComplianceYear > ComplianceYearMax) {
		return ledger.Page[OffsetRecord]{}, ledger.Errf(ledger.CodeInvalidRequest, "compliance_year must be a year").At("compliance_year")
	}
	if !a.SeesAll() {
		if err := a.Require(ledger.RoleEnterprise); err != nil {
			return ledger.Page[OffsetRecord]{}, err
		}
		if f.Enterprise != "" && f.Enterprise != a.Org {
			return emptyPage[OffsetRecord](), nil
		}
		f.Enterprise = a.Org
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(o OffsetRecord) uuid.UUID { return o.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]OffsetRecord, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT id, enterprise, compliance_year, units, obligation_revision, ets_reference, tx_id, offset_at FROM registry_offsets
			WHERE ($1 = '' OR enterprise = $1) AND ($2 = 0 OR compliance_year = $2)
			  AND ($3::TIMESTAMPTZ IS NULL OR offset_at >= $3) AND ($4::TIMESTAMPTZ IS NULL OR offset_at < $4) AND ($5::UUID IS NULL OR id < $5)
			ORDER BY id DESC LIMIT $6`, f.Enterprise, f.ComplianceYear, f.Since, f.Until, after, n)
			if err != nil {
				return nil, err
			}
			out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OffsetRecord, error) {
				var o OffsetRecord
				var units int64
				err := row.Scan(&o.ID, &o.Enterprise, &o.ComplianceYear, &units, &o.ObligationRevision, &o.EtsReference, &o.TransactionID, &o.At)
				o.Units, o.At = FormatUnits(units), o.At.UTC()
				return o, err
			})
			if err != nil || len(out) == 0 {
				return out, err
			}
			ids := make([]uuid.UUID, len(out))
			for i, o := range out {
				ids[i] = o.ID
			}
			by, err := consumedSerials(r.Journal, ids)
			for i := range out {
				out[i].Serials = ledger.NonNil(by[out[i].ID])
			}
			return out, err
		})
}

// CancellationFilter narrows GET /v1/cancellations.
type CancellationFilter struct {
	Holder       string
	Since, Until *time.Time
	Limit        int
	Cursor       string
}

// ListCancellations pages administrative cancellations: the province and
// auditors see all; an enterprise or operator those of its own holding.
// HolderFrozen comes from the journal transaction, as it was recorded.
func ListCancellations(ctx context.Context, l *ledger.Ledger, a ledger.Actor, f CancellationFilter) (ledger.Page[Cancellation], error) {
	if err := cmp.Or(ledger.FilterIdent("holder", f.Holder), rangeErr(f.Since, f.Until)); err != nil {
		return ledger.Page[Cancellation]{}, err
	}
	party, err := partyOf(a)
	if err != nil {
		return ledger.Page[Cancellation]{}, err
	}
	if party != "" {
		if f.Holder != "" && f.Holder != party {
			return emptyPage[Cancellation](), nil
		}
		f.Holder = party
	}
	return ledger.NewestFirst(ctx, l, f.Cursor, f.Limit, func(c Cancellation) uuid.UUID { return c.ID },
		func(r *ledger.Reader, after *uuid.UUID, n int) ([]Cancellation, error) {
			rows, err := r.Tx().Query(ctx, `
			SELECT id, holder, units, decision_ref, reason, tx_id, cancelled_at FROM registry_cancellations
			WHERE ($1 = '' OR holder = $1)
			  AND ($2::TIMESTAMPTZ IS NULL OR cancelled_at >= $2) AND ($3::TIMESTAMPTZ IS NULL OR cancelled_at < $3) AND ($4::UUID IS NULL OR id < $4)
			ORDER BY id DESC LIMIT $5`, f.Holder, f.Since, f.Until, after, n)
			if err != nil {
				return nil, err
			}
			out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Cancellation, error) {
				var c Cancellation
				var units int64
				err := row.Scan(&c.ID, &c.Holder, &units, &c.DecisionRef, &c.Reason, &c.TransactionID, &c.At)
				c.Units, c.At = FormatUnits(units), c.At.UTC()
				return c, err
			})
			if err != nil || len(out) == 0 {
				return out, err
			}
			ids, txs := make([]uuid.UUID, len(out)), make([]uuid.UUID, len(out))
			for i, c := range out {
				ids[i], txs[i] = c.ID, c.TransactionID
			}
			heads, err := r.Headers(txs)
			if err != nil {
				return nil, err
			}
			by, err := consumedSerials(r.Journal, ids)
			for i := range out {
				out[i].Serials = ledger.NonNil(by[out[i].ID])
				out[i].HolderFrozen = heads[out[i].TransactionID].Metadata["holder_frozen"] == "true"
			}
			return out, err
		})
}

// PolicyFilter narrows the history of registry policies.
type PolicyFilter struct {
	Limit  int
	Cursor string
}

// ListPolicies pages every registry policy version, the latest valid_from
// first (public, as CurrentPolicy): the versions to come, the one in force
// and every one before it, which decisions cite by id.
func ListPolicies(ctx context.Context, l *ledger.Ledger, f PolicyFilter) (ledger.Page[Policy], error) {
	var before *time.Time
	if f.Cursor != "" {
		var t time.Time
		if err := ledger.DecodeCursor(f.Cursor, &t); err != nil {
			return ledger.Page[Policy]{}, err
		}
		before = &t
	}
	limit := ledger.ClampLimit(f.Limit)
	items, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]Policy, error) {
		rows, err := r.Tx().Query(ctx, `
			SELECT id, valid_from, notice_days, offset_cap_share, trade_timeout_default_seconds, source, created_by
			FROM registry_policies WHERE ($1::TIMESTAMPTZ IS NULL OR valid_from < $1) ORDER BY valid_from DESC LIMIT $2`, before, limit+1)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Policy, error) {
			var p Policy
			var share decimal.Decimal
			err := row.Scan(&p.ID, &p.ValidFrom, &p.NoticeDays, &share, &p.TradeTimeoutDefaultSeconds, &p.Source, &p.CreatedBy)
			p.ValidFrom, p.OffsetCapShare = p.ValidFrom.UTC(), share.StringFixed(4)
			return p, err
		})
	})
	if err != nil {
		return ledger.Page[Policy]{}, err
	}
	// valid_from is unique (registry_policies_valid_from), so it is a key.
	return ledger.PageOf(items, limit, func(p Policy) string { return ledger.EncodeCursor(p.ValidFrom) }), nil
}

// VerifierStatuses are the statuses of an accredited verification body.
var VerifierStatuses = []string{"active", "suspended"}

// VerifierFilter narrows GET /v1/verifiers.
type VerifierFilter struct {
	Status string
	Limit  int
	Cursor string
}

// ListVerifiers pages the accredited verification bodies by org (public:
// who may verify is what an operator and the public need to know).
func ListVerifiers(ctx context.Context, l *ledger.Ledger, f VerifierFilter) (ledger.Page[Verifier], error) {
	if err := ledger.FilterOneOf("status", f.Status, VerifierStatuses...); err != nil {
		return ledger.Page[Verifier]{}, err
	}
	after := ""
	if f.Cursor != "" {
		if err := ledger.DecodeCursor(f.Cursor, &after); err != nil {
			return ledger.Page[Verifier]{}, err
		}
	}
	limit := ledger.ClampLimit(f.Limit)
	items, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]Verifier, error) {
		rows, err := r.Tx().Query(ctx, `
			SELECT org, name, status, created_at FROM registry_verifiers
			WHERE ($1 = '' OR status = $1) AND org > $2 ORDER BY org LIMIT $3`, f.Status, after, limit+1)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Verifier, error) {
			var v Verifier
			err := row.Scan(&v.Org, &v.Name, &v.Status, &v.CreatedAt)
			v.CreatedAt = v.CreatedAt.UTC()
			return v, err
		})
	})
	if err != nil {
		return ledger.Page[Verifier]{}, err
	}
	return ledger.PageOf(items, limit, func(v Verifier) string { return ledger.EncodeCursor(v.Org) }), nil
}

// Purposes are the retirement purposes.
var Purposes = []string{PurposeVoluntaryNeutrality, PurposeEventNeutrality, PurposePublicInstitution, PurposeOther}

// partyOf is the holder whose records a non-oversight caller sees ("" for
// the province and auditors, who see all).
func partyOf(a ledger.Actor) (string, error) {
	if a.SeesAll() {
		return "", nil
	}
	return holderOf(a)
}

func rangeErr(since, until *time.Time) error { return ledger.FilterRange(since, until) }

func emptyPage[T any]() ledger.Page[T] { return ledger.Page[T]{Items: []T{}} }
