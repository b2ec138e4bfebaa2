package quota

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Allocation statuses.
const (
	AllocationAllocated = "allocated"
	AllocationConsumed  = "consumed"
	AllocationRecovered = "recovered"
)

// Allocation is indices secured for a project by an approved application.
type Allocation struct {
	ID                uuid.UUID     `json:"id"`
	IndexKind         string        `json:"index_kind"`
	ApplicationID     uuid.UUID     `json:"application_id"`
	Project           string        `json:"project"`
	Tonnes            string        `json:"tonnes"`
	Paid              bool          `json:"paid"`
	PriceYuanPerTonne string        `json:"price_yuan_per_tonne,omitempty"`
	PriceVersion      *uuid.UUID    `json:"price_version,omitempty"`
	AmountCNY         string        `json:"amount_cny"`
	RefundedCNY       string        `json:"refunded_cny"`
	Status            string        `json:"status"`
	TxID              uuid.UUID     `json:"transaction_id"`
	ClosedTxID        *uuid.UUID    `json:"closed_transaction_id,omitempty"`
	CreatedAt         time.Time     `json:"created_at"`
	ClosedAt          *time.Time    `json:"closed_at,omitempty"`
	Reserves          []ReserveDraw `json:"reserves"`
	Lineage           []DrawPiece   `json:"lineage"`
}

// ReserveDraw is how much an allocation took from one reserve.
type ReserveDraw struct {
	Reserve string `json:"reserve"`
	Tonnes  string `json:"tonnes"`
}

// DrawPiece is one tranche piece an allocation took, traced to its source.
type DrawPiece struct {
	Reserve          string    `json:"reserve"`
	TrancheID        uuid.UUID `json:"tranche_id"`
	SourceID         uuid.UUID `json:"source_id"`
	SourceEnterprise string    `json:"source_enterprise"`
	SourceCity       string    `json:"source_city"`
	Route            string    `json:"route"`
	FormedOn         string    `json:"formed_on"`
	EvidenceRef      string    `json:"evidence_ref"`
	Tonnes           string    `json:"tonnes"`
}

type allocationRow struct {
	Allocation
	tonnes, amount, refunded decimal.Decimal
}

const allocationColumns = `id, application_id, project, tonnes, paid, price, price_version, amount_cny, refunded_cny, status, tx_id, closed_tx, created_at, closed_at, index_kind`

// scanAllocation scans allocationColumns, then the extra columns selected.
func scanAllocation(r pgx.Row, extra ...any) (allocationRow, error) {
	var a allocationRow
	var price *decimal.Decimal
	err := r.Scan(append([]any{&a.ID, &a.ApplicationID, &a.Project, &a.tonnes, &a.Paid, &price, &a.PriceVersion, &a.amount, &a.refunded, &a.Status,
		&a.TxID, &a.ClosedTxID, &a.CreatedAt, &a.ClosedAt, &a.IndexKind}, extra...)...)
	if err != nil {
		return a, err
	}
	a.Tonnes, a.AmountCNY, a.RefundedCNY = tonnesText(a.tonnes), yuanText(a.amount), yuanText(a.refunded)
	if price != nil {
		a.PriceYuanPerTonne = yuanText(*price)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	if a.ClosedAt != nil {
		t := a.ClosedAt.UTC()
		a.ClosedAt = &t
	}
	return a, nil
}

// loadDraws reads an allocation's pieces with their sources.
func loadDraws(ctx context.Context, tx pgx.Tx, id uuid.UUID) ([]DrawPiece, []ReserveDraw, error) {
	rows, err := tx.Query(ctx, `
		SELECT d.reserve, d.tranche_id, d.source_id, s.enterprise, s.city, s.route, s.formed_on, s.evidence_ref, d.tonnes
		FROM quota_draws d JOIN quota_sources s ON s.id = d.source_id
		WHERE d.allocation_id = $1 ORDER BY d.idx`, id)
	if err != nil {
		return nil, nil, err
	}
	sums := map[string]decimal.Decimal{}
	var order []string
	pieces, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DrawPiece, error) {
		var p DrawPiece
		var formed time.Time
		var t decimal.Decimal
		err := r.Scan(&p.Reserve, &p.TrancheID, &p.SourceID, &p.SourceEnterprise, &p.SourceCity, &p.Route, &formed, &p.EvidenceRef, &t)
		p.FormedOn, p.Tonnes, p.Reserve = formed.Format(dateLayout), tonnesText(t), keyName(p.Reserve)
		if _, ok := sums[p.Reserve]; !ok {
			order = append(order, p.Reserve)
		}
		sums[p.Reserve] = sums[p.Reserve].Add(t)
		return p, err
	})
	if err != nil {
		return nil, nil, err
	}
	res := make([]ReserveDraw, 0, len(order))
	for _, r := range order {
		res = append(res, ReserveDraw{Reserve: r, Tonnes: tonnesText(sums[r])})
	}
	return pieces, res, nil
}

func loadAllocationByApplication(ctx context.Context, tx pgx.Tx, appID uuid.UUID) (*Allocation, error) {
	a, err := scanAllocation(tx.QueryRow(ctx, `SELECT `+allocationColumns+` FROM quota_allocations WHERE application_id = $1`, appID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if a.Lineage, a.Reserves, err = loadDraws(ctx, tx, a.ID); err != nil {
		return nil, err
	}
	return &a.Allocation, nil
}

// allocate moves the requested tonnes from the named reserves (oldest
// tranches first) to the project, with the CNY leg when paid, in one engine
// transaction. The application row is locked by the caller.
func allocate(w *ledger.Writer, actor ledger.Actor, a *applicationRow, draws []draw, paid bool, reason string) error {
	names := make([]string, len(draws))
	for i, d := range draws {
		names[i] = reserveKey(a.IndexKind, d.reserve)
	}
	rl, err := lockReserves(w, names...)
	if err != nil {
		return err
	}
	var pieces []piece
	var lg legs
	for i, d := range draws {
		ps, err := rl.take(w, names[i], d.tonnes, nil)
		if err != nil {
			return err
		}
		pieces = append(pieces, ps...)
		lg.add(keyAccount(names[i]), d.tonnes.Neg())
	}
	project := KindProjectAccount(a.IndexKind, a.Project)
	lg.add(project, a.requested)
	al := Allocation{ID: ledger.NewID(), IndexKind: a.IndexKind, ApplicationID: a.ID, Project: a.Project, Tonnes: a.Requested, Paid: paid, CreatedAt: w.Now()}
	meta := map[string]string{"application_id": a.ID.String(), "allocation_id": al.ID.String(), "project": a.Project}
	var price, amount decimal.Decimal
	if paid {
		pc, err := configOf(w, a.IndexKind, ConfigPrice, "")
		if err != nil {
			return err
		}
		price, amount = pc.value, pc.value.Mul(a.requested)
		al.PriceVersion, al.PriceYuanPerTonne = &pc.ID, yuanText(price)
		meta["price_version"], meta["price_yuan_per_tonne"] = pc.ID.String(), al.PriceYuanPerTonne
		if amount.IsPositive() {
			lg.add(ledger.OrgMoneyAccount(a.Enterprise), amount.Neg())
			lg.add(AccountRevenue, amount)
		}
	}
	al.AmountCNY = yuanText(amount)
	if err := w.OpenAccounts(lg.accounts()...); err != nil {
		return err
	}
	t, err := w.Build(actor, ledger.TxInput{Kind: "quota.allocation", Postings: lg.inputs(), Metadata: meta})
	if err != nil {
		return err
	}
	if err := w.Apply(t); err != nil {
		return err
	}
	al.TxID = t.ID
	if err := insertAllocation(w, &al, pieces); err != nil {
		return err
	}
	moves := make([]movement, 0, len(pieces))
	for _, p := range pieces {
		moves = append(moves, movement{Flow: flowAllocated, Tonnes: p.Tonnes, Reserve: p.Reserve, Source: p.Source, Project: a.Project,
			ProjectCity: a.City, Sector: a.Sector, Allocation: &al.ID, AmountCNY: price.Mul(p.Tonnes), OpID: al.ID})
	}
	if err := writeMovements(w, t.ID, moves); err != nil {
		return err
	}
	if err := setStatus(w, a.ID, StatusApproved); err != nil {
		return err
	}
	detail := map[string]string{"allocation_id": al.ID.String(), "tonnes": a.Requested, "project_account": project, "paid": boolText(paid)}
	for _, d := range draws {
		detail["draw_"+d.reserve] = tonnesText(d.tonnes)
	}
	if paid {
		detail["price_version"], detail["price_yuan_per_tonne"], detail["amount_cny"] = al.PriceVersion.String(), al.PriceYuanPerTonne, al.AmountCNY
	}
	return record(w, actor, subjectApplication, a.ID, "application.approved", reason, detail, &t.ID)
}

// insertAllocation writes a new allocation, its record hash and its draws.
func insertAllocation(w *ledger.Writer, al *Allocation, pieces []piece) error {
	ctx, tx := w.Ctx(), w.Tx()
	if _, err := tx.Exec(ctx, `
		INSERT INTO quota_allocations (id, application_id, project, tonnes, paid, price, price_version, amount_cny, status, tx_id, created_at, record_hash, index_kind)
		VALUES ($1, $2, $3, $4::NUMERIC, $5, NULLIF($6, '')::NUMERIC, $7, $8::NUMERIC, 'allocated', $9, $10, $11, $12)`,
		al.ID, al.ApplicationID, al.Project, al.Tonnes, al.Paid, al.PriceYuanPerTonne, al.PriceVersion, al.AmountCNY, al.TxID, al.CreatedAt, al.hash(pieces), al.IndexKind); err != nil {
		return err
	}
	var idx []int32
	var reserves, tranches, sources, amts []string
	for i, p := range pieces {
		idx, reserves, tranches = append(idx, int32(i)), append(reserves, p.Reserve), append(tranches, p.Tranche.String())
		sources, amts = append(sources, p.Source.String()), append(amts, p.Tonnes.String())
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO quota_draws (allocation_id, idx, reserve, tranche_id, source_id, tonnes)
		SELECT $1, idx, reserve, tr::UUID, src::UUID, amt::NUMERIC
		FROM unnest($2::INT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[]) AS v(idx, reserve, tr, src, amt)`,
		al.ID, idx, reserves, tranches, sources, amts)
	return err
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// lockAllocation locks an allocation's application, then the allocation.
func lockAllocation(w *ledger.Writer, id uuid.UUID) (applicationRow, allocationRow, error) {
	ctx, tx := w.Ctx(), w.Tx()
	var appID uuid.UUID
	err := tx.QueryRow(ctx, `SELECT application_id FROM quota_allocations WHERE id = $1`, id).Scan(&appID)
	if errors.Is(err, pgx.ErrNoRows) {
		return applicationRow{}, allocationRow{}, ledger.Errf(ledger.CodeNotFound, "allocation %s not found", id)
	}
	if err != nil {
		return applicationRow{}, allocationRow{}, err
	}
	app, err := loadApplication(ctx, tx, appID, true)
	if err != nil {
		return app, allocationRow{}, err
	}
	al, err := scanAllocation(tx.QueryRow(ctx, `SELECT `+allocationColumns+` FROM quota_allocations WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return app, al, err
	}
	if al.Status != AllocationAllocated {
		return app, al, ledger.Errf(CodeInvalidState, "allocation %s is already %s", id, al.Status)
	}
	return app, al, nil
}

// drawRows reads an allocation's draws in order.
func drawRows(w *ledger.Writer, id uuid.UUID) ([]piece, error) {
	draws, err := drawsOf(w.Ctx(), w.Tx(), []uuid.UUID{id})
	return draws[id], err
}

// ConsumeInput records a project's commissioning.
type ConsumeInput struct {
	CommissionedOn string `json:"commissioned_on"` // YYYY-MM-DD
	Reason         string `json:"reason"`
}

// Consume moves an allocation to province:CEI:consumed when its project is
// commissioned. Province only; at most once.
func Consume(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, id uuid.UUID, in ConsumeInput) (ApplicationDetail, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ApplicationDetail{}, false, err
	}
	if _, err := parseDate(in.CommissionedOn, "commissioned_on"); err != nil {
		return ApplicationDetail{}, false, err
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return ApplicationDetail{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.allocation.consume", idInput[ConsumeInput]{id, in}, func(w *ledger.Writer) (ApplicationDetail, error) {
		app, al, err := lockAllocation(w, id)
		if err != nil {
			return ApplicationDetail{}, err
		}
		draws, err := drawRows(w, id)
		if err != nil {
			return ApplicationDetail{}, err
		}
		consumed := KindConsumedAccount(al.IndexKind)
		if err := w.OpenAccounts(consumed); err != nil {
			return ApplicationDetail{}, err
		}
		t, err := w.Build(actor, ledger.TxInput{Kind: "quota.consumption",
			Postings: []ledger.PostingInput{{Account: KindProjectAccount(al.IndexKind, al.Project), Amount: al.tonnes.Neg()}, {Account: consumed, Amount: al.tonnes}},
			Metadata: map[string]string{"allocation_id": id.String(), "application_id": app.ID.String(), "commissioned_on": in.CommissionedOn}})
		if err != nil {
			return ApplicationDetail{}, err
		}
		if err := w.Apply(t); err != nil {
			return ApplicationDetail{}, err
		}
		if err := closeAllocation(w, id, AllocationConsumed, t.ID); err != nil {
			return ApplicationDetail{}, err
		}
		moves := make([]movement, 0, len(draws))
		for _, d := range draws {
			moves = append(moves, movement{Flow: flowConsumed, Tonnes: d.Tonnes, Reserve: d.Reserve, Source: d.Source, Project: app.Project,
				ProjectCity: app.City, Sector: app.Sector, Allocation: &id, OpID: id})
		}
		if err := writeMovements(w, t.ID, moves); err != nil {
			return ApplicationDetail{}, err
		}
		if err := record(w, actor, subjectApplication, app.ID, "allocation.consumed", in.Reason,
			map[string]string{"allocation_id": id.String(), "tonnes": al.Tonnes, "commissioned_on": in.CommissionedOn}, &t.ID); err != nil {
			return ApplicationDetail{}, err
		}
		return applicationDetail(w.Journal, app.ID, false)
	})
}

func closeAllocation(w *ledger.Writer, id uuid.UUID, status string, txID uuid.UUID) error {
	_, err := w.Tx().Exec(w.Ctx(), `UPDATE quota_allocations SET status = $2, closed_tx = $3, closed_at = $4 WHERE id = $1`, id, status, txID, w.Now())
	return err
}

// RecoverInput returns an allocation to its reserves.
type RecoverInput struct {
	Cause  string `json:"cause"`  // cancelled or expired
	Refund bool   `json:"refund"` // refund the payment of a paid allocation
	Reason string `json:"reason"`
}

// Recover returns an allocation's tonnes to the reserves they came from,
// as new tranches at the tail of each reserve that name the tranche they
// were drawn from (so lineage survives the round trip), optionally
// refunding the payment. Tonnes whose reserve was repaid by a settled
// project move go to the reserve that repaid them. Province only; at most
// once.
func Recover(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, id uuid.UUID, in RecoverInput) (ApplicationDetail, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return ApplicationDetail{}, false, err
	}
	if in.Cause != "cancelled" && in.Cause != "expired" {
		return ApplicationDetail{}, false, ledger.Errf(ledger.CodeInvalidRequest, "cause must be cancelled or expired").At("cause")
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return ApplicationDetail{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.allocation.recover", idInput[RecoverInput]{id, in}, func(w *ledger.Writer) (ApplicationDetail, error) {
		app, al, err := lockAllocation(w, id)
		if err != nil {
			return ApplicationDetail{}, err
		}
		draws, err := recoveryTargets(w, id) // each draw, to the reserve that still has it in the allocation
		if err != nil {
			return ApplicationDetail{}, err
		}
		var names []string
		for _, d := range draws {
			names = append(names, d.Reserve)
		}
		rl, err := lockReserves(w, names...)
		if err != nil {
			return ApplicationDetail{}, err
		}
		var lg legs
		lg.add(KindProjectAccount(al.IndexKind, al.Project), al.tonnes.Neg())
		tranches := make([]newTranche, 0, len(draws))
		moves := make([]movement, 0, len(draws))
		for _, d := range draws {
			lg.add(keyAccount(d.Reserve), d.Tonnes)
			parent := d.Tranche
			tranches = append(tranches, newTranche{Reserve: d.Reserve, Source: d.Source, Origin: "recovery", OriginID: id, Parent: &parent, Tonnes: d.Tonnes})
			moves = append(moves, movement{Flow: flowRecovered, Tonnes: d.Tonnes, Reserve: d.Reserve, Source: d.Source, Project: app.Project,
				ProjectCity: app.City, Sector: app.Sector, Allocation: &id, OpID: id})
		}
		refund := decimal.Zero
		if in.Refund && al.amount.IsPositive() {
			refund = al.amount
			lg.add(AccountRevenue, refund.Neg())
			lg.add(ledger.OrgMoneyAccount(app.Enterprise), refund)
		}
		t, err := w.Build(actor, ledger.TxInput{Kind: "quota.recovery", Postings: lg.inputs(),
			Metadata: map[string]string{"allocation_id": id.String(), "application_id": app.ID.String(), "cause": in.Cause}})
		if err != nil {
			return ApplicationDetail{}, err
		}
		if err := rl.put(w, t.ID, tranches); err != nil {
			return ApplicationDetail{}, err
		}
		if err := w.Apply(t); err != nil {
			return ApplicationDetail{}, err
		}
		if err := closeAllocation(w, id, AllocationRecovered, t.ID); err != nil {
			return ApplicationDetail{}, err
		}
		if refund.IsPositive() {
			if _, err := w.Tx().Exec(w.Ctx(), `UPDATE quota_allocations SET refunded_cny = $2 WHERE id = $1`, id, refund); err != nil {
				return ApplicationDetail{}, err
			}
		}
		if err := writeMovements(w, t.ID, moves); err != nil {
			return ApplicationDetail{}, err
		}
		if err := record(w, actor, subjectApplication, app.ID, "allocation.recovered", in.Reason,
			map[string]string{"allocation_id": id.String(), "tonnes": al.Tonnes, "cause": in.Cause, "refunded_cny": yuanText(refund)}, &t.ID); err != nil {
			return ApplicationDetail{}, err
		}
		return applicationDetail(w.Journal, app.ID, false)
	})
}

// TransferInput moves indices between reserves by provincial decision.
type TransferInput struct {
	From      string `json:"from"` // "province" or a city code
	To        string `json:"to"`
	Tonnes    string `json:"tonnes"`
	Reason    string `json:"reason"`
	IndexKind string `json:"index_kind,omitempty"` // "" is CEI
}

// Transfer is a completed move between reserves.
type Transfer struct {
	ID        uuid.UUID   `json:"id"`
	IndexKind string      `json:"index_kind"`
	From      string      `json:"from"`
	To        string      `json:"to"`
	Tonnes    string      `json:"tonnes"`
	Reason    string      `json:"reason"`
	TxID      uuid.UUID   `json:"transaction_id"`
	CreatedBy string      `json:"created_by"`
	CreatedAt time.Time   `json:"created_at"`
	Sources   []uuid.UUID `json:"sources"`
}

// TransferReserves moves tonnes from one reserve to another (oldest
// tranches first; each piece becomes a tranche of the same source at the
// tail of the receiving reserve). Province only.
func TransferReserves(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in TransferInput) (Transfer, bool, error) {
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Transfer{}, false, err
	}
	if !ValidReserve(in.From) {
		return Transfer{}, false, ledger.Errf(ledger.CodeInvalidRequest, "from must be %q or a Shandong city code", ReserveProvince).At("from")
	}
	if !ValidReserve(in.To) || in.To == in.From {
		return Transfer{}, false, ledger.Errf(ledger.CodeInvalidRequest, "to must be another reserve: %q or a Shandong city code", ReserveProvince).At("to")
	}
	tonnes, err := parseTonnes(in.Tonnes, "tonnes")
	if err != nil {
		return Transfer{}, false, err
	}
	if err := checkText(in.Reason, "reason", true, ReasonBytesMax); err != nil {
		return Transfer{}, false, err
	}
	kind, err := checkKind(l, in.IndexKind, "index_kind")
	if err != nil {
		return Transfer{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "quota.transfer", in, func(w *ledger.Writer) (Transfer, error) {
		return transfer(w, actor, kind, in, tonnes, nil)
	})
}

// transfer moves tonnes of a kind between two reserves, oldest tranches
// first, in the caller's database transaction. extra goes into the engine
// transaction's metadata and the trail (a move's settlement names its move).
func transfer(w *ledger.Writer, actor ledger.Actor, kind string, in TransferInput, tonnes decimal.Decimal, extra map[string]string) (Transfer, error) {
	from, to := reserveKey(kind, in.From), reserveKey(kind, in.To)
	rl, err := lockReserves(w, from, to)
	if err != nil {
		return Transfer{}, err
	}
	pieces, err := rl.take(w, from, tonnes, nil)
	if err != nil {
		return Transfer{}, err
	}
	id := ledger.NewID()
	meta := map[string]string{"transfer_id": id.String(), "from": in.From, "to": in.To}
	detail := map[string]string{"from": in.From, "to": in.To, "tonnes": tonnesText(tonnes)}
	if kind != KindCEI {
		meta["index_kind"], detail["index_kind"] = kind, kind
	}
	for k, v := range extra {
		meta[k], detail[k] = v, v
	}
	t, err := w.Build(actor, ledger.TxInput{Kind: "quota.transfer",
		Postings: []ledger.PostingInput{{Account: keyAccount(from), Amount: tonnes.Neg()}, {Account: keyAccount(to), Amount: tonnes}},
		Metadata: meta})
	if err != nil {
		return Transfer{}, err
	}
	tranches := make([]newTranche, 0, len(pieces))
	moves := make([]movement, 0, 2*len(pieces))
	sources := []uuid.UUID{}
	for _, p := range pieces {
		parent := p.Tranche
		tranches = append(tranches, newTranche{Reserve: to, Source: p.Source, Origin: "transfer", OriginID: id, Parent: &parent, Tonnes: p.Tonnes})
		moves = append(moves,
			movement{Flow: flowTransferredOut, Tonnes: p.Tonnes, Reserve: from, Source: p.Source, OpID: id},
			movement{Flow: flowTransferredIn, Tonnes: p.Tonnes, Reserve: to, Source: p.Source, OpID: id})
		if !slices.Contains(sources, p.Source) {
			sources = append(sources, p.Source)
		}
	}
	if err := rl.put(w, t.ID, tranches); err != nil {
		return Transfer{}, err
	}
	if err := w.Apply(t); err != nil {
		return Transfer{}, err
	}
	tr := Transfer{ID: id, IndexKind: kind, From: in.From, To: in.To, Tonnes: tonnesText(tonnes), Reason: in.Reason, TxID: t.ID,
		CreatedBy: actor.ID(), CreatedAt: w.Now(), Sources: sources}
	if _, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO quota_transfers (id, from_reserve, to_reserve, tonnes, reason, tx_id, created_by, created_at, index_kind)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, from, to, tonnes, in.Reason, t.ID, actor.ID(), w.Now(), kind); err != nil {
		return Transfer{}, err
	}
	if err := writeMovements(w, t.ID, moves); err != nil {
		return Transfer{}, err
	}
	return tr, record(w, actor, subjectTransfer, id, "transfer.created", in.Reason, detail, &t.ID)
}
