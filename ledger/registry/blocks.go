package registry

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Block statuses.
const (
	StatusHeld        = "held"
	StatusRetired     = "retired"
	StatusCancelled   = "cancelled"
	StatusSurrendered = "surrendered"
)

// Block is a serial block as clients see it.
type Block struct {
	ID          uuid.UUID `json:"id"`
	Serial      string    `json:"serial"`
	Programme   string    `json:"programme"`
	Vintage     int       `json:"vintage"`
	FirstUnit   int64     `json:"first_unit"`
	LastUnit    int64     `json:"last_unit"`
	Units       string    `json:"units"`
	Methodology string    `json:"methodology"`
	Sector      string    `json:"sector"`
	Project     string    `json:"project"`
	BatchID     uuid.UUID `json:"batch_id"`
	Holder      string    `json:"holder"`
	Status      string    `json:"status"`
	Reserved    bool      `json:"reserved"`
}

type blockRow struct {
	ID          uuid.UUID
	Programme   string
	Vintage     int
	First, Last int64
	BatchID     uuid.UUID
	Methodology string
	Region      string
	Sector      string
	Project     string
	Holder      string
	Status      string
	reservedTx  *uuid.UUID
	Unreserved  bool // no reservation, or its pending transaction is resolved
}

// blockCols selects a blockRow from registry_blocks b.
const blockCols = `b.id, b.programme, b.vintage, b.first_unit, b.last_unit, b.batch_id, b.methodology, b.region, b.sector, b.project, b.holder, b.status, b.reserved_tx`

// loadBlocks reads blocks (sql selects blockCols) and tells which are
// reserved: a reservation lasts until the journal resolves its pending
// transaction, asked once for the whole set.
func loadBlocks(j ledger.Journal, sql string, args ...any) ([]blockRow, error) {
	rows, err := j.Tx().Query(j.Ctx(), sql, args...)
	if err != nil {
		return nil, err
	}
	blocks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (b blockRow, err error) {
		err = r.Scan(&b.ID, &b.Programme, &b.Vintage, &b.First, &b.Last, &b.BatchID, &b.Methodology, &b.Region, &b.Sector, &b.Project, &b.Holder, &b.Status, &b.reservedTx)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	for _, b := range blocks {
		if b.reservedTx != nil {
			ids = append(ids, *b.reservedTx)
		}
	}
	done, err := j.Resolutions(ids)
	for i, b := range blocks {
		blocks[i].Unreserved = true
		if b.reservedTx != nil {
			_, blocks[i].Unreserved = done[*b.reservedTx]
		}
	}
	return blocks, err
}

// resolvedReservations are the reservations on the holders' blocks whose
// pending transaction the journal has resolved: those blocks are free.
func resolvedReservations(j ledger.Journal, holders []string) ([]uuid.UUID, error) {
	rows, err := j.Tx().Query(j.Ctx(), `SELECT DISTINCT reserved_tx FROM registry_blocks WHERE holder = ANY($1) AND status = 'held' AND reserved_tx IS NOT NULL`, holders)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, err
	}
	done, err := j.Resolutions(ids)
	out := make([]uuid.UUID, 0, len(done))
	for id := range done {
		out = append(out, id)
	}
	return out, err
}

func (b blockRow) serial(s span) Serial {
	return Serial{Region: b.Region, Programme: b.Programme, Sector: b.Sector, Project: b.Project, First: s.First, Last: s.Last, Vintage: b.Vintage}
}

func (b blockRow) view() Block {
	s := span{b.First, b.Last}
	return Block{ID: b.ID, Serial: b.serial(s).String(), Programme: b.Programme, Vintage: b.Vintage, FirstUnit: b.First, LastUnit: b.Last,
		Units: FormatUnits(s.units()), Methodology: b.Methodology, Sector: b.Sector, Project: b.Project, BatchID: b.BatchID,
		Holder: b.Holder, Status: b.Status, Reserved: b.Status == StatusHeld && !b.Unreserved}
}

// Selection names the units that leave a holding: FIFO over the free
// blocks (optionally of one vintage), or, with FirstUnit, exactly the
// units FirstUnit … FirstUnit+Units−1 of Vintage.
type Selection struct {
	Units     string `json:"units"`
	Vintage   int    `json:"vintage,omitempty"`
	FirstUnit int64  `json:"first_unit,omitempty"`
}

type selection struct {
	units   int64
	vintage int
	first   int64
}

func (s Selection) parse(vintageRequired bool) (selection, error) {
	n, err := ParseUnits(s.Units, "units")
	if err != nil {
		return selection{}, err
	}
	if s.Vintage != 0 && (s.Vintage < VintageMin || s.Vintage > VintageMax) {
		return selection{}, ledger.Errf(ledger.CodeInvalidRequest, "vintage must be a year from %d to %d", VintageMin, VintageMax).At("vintage")
	}
	if vintageRequired && s.Vintage == 0 {
		return selection{}, ledger.Errf(ledger.CodeInvalidRequest, "vintage is required: one request covers units of one vintage").At("vintage")
	}
	if s.FirstUnit < 0 {
		return selection{}, ledger.Errf(ledger.CodeInvalidRequest, "first_unit must be positive").At("first_unit")
	}
	if s.FirstUnit > 0 && s.Vintage == 0 {
		return selection{}, ledger.Errf(ledger.CodeInvalidRequest, "a serial range needs its vintage").At("vintage")
	}
	if s.FirstUnit > 0 && s.FirstUnit > (1<<62)-n {
		return selection{}, ledger.Errf(ledger.CodeInvalidRequest, "first_unit is out of range").At("first_unit")
	}
	return selection{units: n, vintage: s.Vintage, first: s.FirstUnit}, nil
}

// lockHolders locks the registry rows of the given holders in id order and
// returns their statuses. Every write calls it before touching blocks or
// the engine. Reservations whose pending transaction has been resolved (a
// timed-out offer voided by the sweeper) are cleared on the way: they were
// already free by definition, this only tidies the rows.
func lockHolders(w *ledger.Writer, ids ...string) (map[string]string, error) {
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	status := map[string]string{}
	err := eachRow(w.Journal, `SELECT id, status FROM registry_holders WHERE id = ANY($1) ORDER BY id FOR UPDATE`, func(r pgx.Rows) error {
		var id, st string
		err := r.Scan(&id, &st)
		status[id] = st
		return err
	}, sorted)
	if err != nil {
		return nil, err
	}
	for _, id := range sorted {
		if _, ok := status[id]; !ok {
			return nil, ledger.Errf(ledger.CodeNotFound, "holder %s has no registry holding; open one first", id)
		}
	}
	// The holders' blocks change only under these locks, and a resolved
	// hold stays resolved, so what Resolutions says now holds at commit.
	done, err := resolvedReservations(w.Journal, sorted)
	if err != nil || len(done) == 0 {
		return status, err
	}
	_, err = w.Tx().Exec(w.Ctx(), `UPDATE registry_blocks SET reserved_tx = NULL WHERE holder = ANY($1) AND reserved_tx = ANY($2)`, sorted, done)
	return status, err
}

func requireActive(status map[string]string, ids ...string) error {
	for _, id := range ids {
		if status[id] == "frozen" {
			return &ledger.Error{Code: ledger.CodeAccountFrozen, Msg: "the holding of " + id + " is frozen by the province",
				Detail: map[string]string{"holder": id}}
		}
	}
	return nil
}

// pickedBlock is a take with the attributes of its block.
type pickedBlock struct {
	take
	row blockRow
}

// pick selects the units of sel from holder's free blocks. The caller
// holds the holder's lock, so the blocks cannot change underneath.
func pick(w *ledger.Writer, holder string, sel selection) ([]pickedBlock, error) {
	var rows []blockRow
	var err error
	if sel.first > 0 {
		want := span{First: sel.first, Last: sel.first + sel.units - 1}
		rows, err = loadBlocks(w.Journal, `
			SELECT `+blockCols+` FROM registry_blocks b
			WHERE b.programme = $1 AND b.vintage = $2 AND b.first_unit <= $4 AND b.last_unit >= $3
			ORDER BY b.first_unit LIMIT $5`, Programme, sel.vintage, want.First, want.Last, BlocksPerMoveMax+1)
		if err != nil {
			return nil, err
		}
		if len(rows) > BlocksPerMoveMax {
			return nil, ledger.Errf(ledger.CodeLimitExceeded, "the range spans more than %d blocks; move it in parts", BlocksPerMoveMax).At("units")
		}
		byID := map[string]blockRow{}
		var free []freeBlock
		for _, r := range rows {
			byID[r.ID.String()] = r
			if r.Holder == holder && r.Status == StatusHeld && r.Unreserved {
				free = append(free, freeBlock{ID: r.ID.String(), Vintage: r.Vintage, span: span{r.First, r.Last}})
			}
		}
		takes, missing, ok := planRange(free, want)
		if !ok {
			return nil, unavailable(rows, holder, sel.vintage, missing)
		}
		out := make([]pickedBlock, len(takes))
		for i, t := range takes {
			out[i] = pickedBlock{take: t, row: byID[t.Block.ID]}
		}
		return out, nil
	}
	// FIFO counts only free blocks, so which reservations are over is asked
	// before the query. A hold resolved after this read counts as still
	// reserved: the same as if this move had run a moment earlier (no hold
	// on these blocks can start meanwhile: that takes the holder lock).
	done, err := resolvedReservations(w.Journal, []string{holder})
	if err != nil {
		return nil, err
	}
	rows, err = loadBlocks(w.Journal, `
		SELECT `+blockCols+` FROM (
			SELECT b.*, sum(b.last_unit - b.first_unit + 1) OVER (ORDER BY b.vintage, b.first_unit) AS cum
			FROM registry_blocks b
			WHERE b.holder = $1 AND b.programme = $2 AND b.status = 'held' AND ($3::INT = 0 OR b.vintage = $3::INT)
			  AND (b.reserved_tx IS NULL OR b.reserved_tx = ANY($6::UUID[]))
		) b
		WHERE b.cum - (b.last_unit - b.first_unit + 1) < $4
		ORDER BY b.vintage, b.first_unit LIMIT $5`, holder, Programme, sel.vintage, sel.units, BlocksPerMoveMax+1, done)
	if err != nil {
		return nil, err
	}
	if len(rows) > BlocksPerMoveMax {
		return nil, ledger.Errf(ledger.CodeLimitExceeded, "these units lie in more than %d blocks; move fewer or name a serial range", BlocksPerMoveMax).At("units")
	}
	free := make([]freeBlock, len(rows))
	byID := map[string]blockRow{}
	for i, r := range rows {
		free[i] = freeBlock{ID: r.ID.String(), Vintage: r.Vintage, span: span{r.First, r.Last}}
		byID[r.ID.String()] = r
	}
	takes, err := planFIFO(free, sel.units)
	if err != nil {
		if e, ok := ledger.AsError(err); ok && sel.vintage != 0 {
			e.Msg += fmt.Sprintf(" of vintage %d", sel.vintage)
			e.Detail["vintage"] = fmt.Sprint(sel.vintage)
		}
		return nil, err
	}
	out := make([]pickedBlock, len(takes))
	for i, t := range takes {
		out[i] = pickedBlock{take: t, row: byID[t.Block.ID]}
	}
	return out, nil
}

// unavailable explains why unit `missing` of a named range cannot move.
func unavailable(rows []blockRow, holder string, vintage int, missing int64) error {
	why := "was never issued"
	for _, r := range rows {
		if r.First <= missing && missing <= r.Last {
			switch {
			case r.Status != StatusHeld:
				why = "is " + r.Status
			case r.Holder != holder:
				why = "is held by another holder"
			case !r.Unreserved:
				why = "is reserved by an open sale"
			}
		}
	}
	return &ledger.Error{Code: CodeUnitsUnavailable, Field: "first_unit",
		Msg:    fmt.Sprintf("unit %d of vintage %d %s; nothing moved", missing, vintage, why),
		Detail: map[string]string{"unit": fmt.Sprint(missing), "vintage": fmt.Sprint(vintage)}}
}

func unitsOf(picked []pickedBlock) int64 {
	var n int64
	for _, p := range picked {
		n += p.Move.units()
	}
	return n
}

// target is where picked units go: another holder, a terminal status, or
// (with reservedTx) nowhere yet — they stay with the holder, reserved.
type target struct {
	from        string
	holder      string
	status      string
	reservedTx  *uuid.UUID
	consumedRef *uuid.UUID
	txID        *uuid.UUID // the journal transaction that moved the balance; nil for a reservation
}

// moveBlocks carves the picked ranges out of their blocks and gives them
// to t, in one pipelined batch. What stays behind keeps its block id (the
// head) or gets a new one (the tail). Unique indexes on (programme,
// vintage, first_unit) and (…, last_unit) are never violated in between:
// each statement frees a boundary before the next one takes it.
func moveBlocks(w *ledger.Writer, picked []pickedBlock, t target) ([]Block, error) {
	now := w.Now()
	b := &pgx.Batch{}
	out := make([]Block, 0, len(picked))
	insert := func(id uuid.UUID, src uuid.UUID, s span, holder, status string, reserved, consumed *uuid.UUID) {
		b.Queue(`
			INSERT INTO registry_blocks (id, programme, vintage, first_unit, last_unit, batch_id, methodology, region, sector, project, holder, status, reserved_tx, consumed_ref, updated_at)
			SELECT $1, programme, vintage, $2, $3, batch_id, methodology, region, sector, project, $4, $5, $6, $7, $8 FROM registry_blocks WHERE id = $9`,
			id, s.First, s.Last, holder, status, reserved, consumed, now, src)
	}
	for i, p := range picked {
		head, tail := carve(p.Block.span, p.Move)
		movedID := p.row.ID
		if head != nil {
			b.Queue(`UPDATE registry_blocks SET last_unit = $2, reserved_tx = NULL, updated_at = $3 WHERE id = $1`, p.row.ID, head.Last, now)
			movedID = ledger.NewID()
			insert(movedID, p.row.ID, p.Move, t.holder, t.status, t.reservedTx, t.consumedRef)
		} else {
			b.Queue(`UPDATE registry_blocks SET last_unit = $2, holder = $3, status = $4, reserved_tx = $5, consumed_ref = $6, updated_at = $7 WHERE id = $1`,
				p.row.ID, p.Move.Last, t.holder, t.status, t.reservedTx, t.consumedRef, now)
		}
		if tail != nil {
			// The tail copies its attributes from the moved row (same batch,
			// methodology and codes); span, holder and status are explicit.
			insert(ledger.NewID(), movedID, *tail, p.row.Holder, StatusHeld, nil, nil)
		}
		if t.txID != nil {
			b.Queue(`INSERT INTO registry_moves (tx_id, idx, programme, vintage, first_unit, last_unit, from_holder, to_holder, to_status, moved_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				*t.txID, i, p.row.Programme, p.row.Vintage, p.Move.First, p.Move.Last, t.from, t.holder, t.status, now)
		}
		r := p.row
		r.ID, r.First, r.Last, r.Holder, r.Status, r.Unreserved = movedID, p.Move.First, p.Move.Last, t.holder, t.status, t.reservedTx == nil
		out = append(out, r.view())
	}
	if err := w.Tx().SendBatch(w.Ctx(), b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// serials renders the moved blocks' serials.
func serials(bs []Block) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Serial
	}
	return out
}

// holdingAccounts are the engine accounts every holder has.
func holdingAccounts(holder string) []string {
	return []string{ledger.HolderAccount(holder), ledger.OrgMoneyAccount(holder)}
}

// ensureHolder registers a holder (idempotent) and opens its accounts.
func ensureHolder(w *ledger.Writer, holder string, now time.Time) error {
	if err := w.OpenAccounts(holdingAccounts(holder)...); err != nil {
		return err
	}
	_, err := w.Tx().Exec(w.Ctx(), `INSERT INTO registry_holders (id, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (id) DO NOTHING`, holder, now)
	return err
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
