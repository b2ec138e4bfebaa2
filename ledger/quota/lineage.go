package quota

import (
	"slices"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// reserveLocks holds the row locks of some reserves for one database
// transaction and hands out their tranche numbers.
type reserveLocks struct {
	next  map[string]int64
	dirty map[string]bool
}

// lockReserves locks the named reserves' rows in name order, so that
// operations on overlapping reserves queue instead of deadlocking. It is
// taken after the operation's own subject rows and before the engine locks
// accounts (w.Apply), the order every operation in this package follows.
func lockReserves(w *ledger.Writer, names ...string) (*reserveLocks, error) {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	if err := ensureReserves(w, names); err != nil {
		return nil, err
	}
	rows, err := w.Tx().Query(w.Ctx(), `SELECT name, next_seq FROM quota_reserves WHERE name = ANY($1) ORDER BY name FOR UPDATE`, names)
	if err != nil {
		return nil, err
	}
	rl := &reserveLocks{next: map[string]int64{}, dirty: map[string]bool{}}
	for rows.Next() {
		var n string
		var s int64
		if err := rows.Scan(&n, &s); err != nil {
			rows.Close()
			return nil, err
		}
		rl.next[n] = s
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := rl.next[n]; !ok {
			return nil, ledger.Errf(ledger.CodeNotFound, "reserve %q is not set up (run the quota seed)", n)
		}
	}
	return rl, nil
}

// ensureReserves creates the rows and accounts of reserve keys on first
// use, so that a kind added by a migration needs no seed run.
func ensureReserves(w *ledger.Writer, keys []string) error {
	accts, kinds, names := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		kinds[i], names[i] = reserveOfKey(k)
		if !ValidReserve(names[i]) {
			return ledger.Errf(ledger.CodeInvalidRequest, "reserve must be %q or a Shandong city code", ReserveProvince)
		}
		accts[i] = KindReserveAccount(kinds[i], names[i])
	}
	if err := w.OpenAccounts(accts...); err != nil {
		return err
	}
	_, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO quota_reserves (name, account, index_kind, reserve)
		SELECT n, a, k, r FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) AS v(n, a, k, r)
		ON CONFLICT (name) DO NOTHING`, keys, accts, kinds, names)
	return err
}

// piece is part of one tranche taken by a draw.
type piece struct {
	Reserve string
	Tranche uuid.UUID
	Source  uuid.UUID
	Tonnes  decimal.Decimal
}

// take removes tonnes from the reserve's open tranches, oldest first, and
// returns the pieces taken. With onlySource it takes only that source's
// tranches (corrections). The reserve must be locked.
func (rl *reserveLocks) take(w *ledger.Writer, reserve string, tonnes decimal.Decimal, onlySource *uuid.UUID) ([]piece, error) {
	if _, ok := rl.next[reserve]; !ok {
		return nil, ledger.Errf(ledger.CodeInternal, "reserve %s taken without its lock", reserve)
	}
	ctx, tx := w.Ctx(), w.Tx()
	rows, err := tx.Query(ctx, `
		SELECT id, source_id, remaining FROM quota_tranches
		WHERE reserve = $1 AND remaining > 0 AND ($2::UUID IS NULL OR source_id = $2)
		ORDER BY seq LIMIT $3 FOR UPDATE`, reserve, onlySource, TranchePiecesMax+1)
	if err != nil {
		return nil, err
	}
	var pieces []piece
	need := tonnes
	available := decimal.Zero
	n := 0
	for rows.Next() {
		n++
		var p piece
		var rem decimal.Decimal
		if err := rows.Scan(&p.Tranche, &p.Source, &rem); err != nil {
			rows.Close()
			return nil, err
		}
		available = available.Add(rem)
		if need.IsPositive() {
			p.Reserve = reserve
			p.Tonnes = decimal.Min(rem, need)
			need = need.Sub(p.Tonnes)
			pieces = append(pieces, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if need.IsPositive() {
		if n > TranchePiecesMax {
			return nil, ledger.Errf(ledger.CodeLimitExceeded, "a draw may take at most %d tranches; draw less at once", TranchePiecesMax)
		}
		what := "reserve " + keyName(reserve)
		if k, _ := reserveOfKey(reserve); k != KindCEI {
			what += " of " + k
		}
		if onlySource != nil {
			what += " (tranches of source " + onlySource.String() + ")"
		}
		return nil, &ledger.Error{Code: CodeInsufficientReserve,
			Msg:    "insufficient indices in " + what + ": " + tonnesText(available) + " t available, " + tonnesText(tonnes) + " t asked",
			Detail: map[string]string{"reserve": keyName(reserve), "index_kind": func() string { k, _ := reserveOfKey(reserve); return k }(), "available": tonnesText(available), "requested": tonnesText(tonnes)}}
	}
	ids := make([]string, len(pieces))
	amts := make([]string, len(pieces))
	for i, p := range pieces {
		ids[i], amts[i] = p.Tranche.String(), p.Tonnes.String()
	}
	_, err = tx.Exec(ctx, `
		UPDATE quota_tranches SET remaining = remaining - v.amt::NUMERIC
		FROM unnest($1::TEXT[], $2::TEXT[]) AS v(id, amt) WHERE quota_tranches.id = v.id::UUID`, ids, amts)
	return pieces, err
}

// newTranche is a lot to put at the tail of a reserve.
type newTranche struct {
	Reserve  string
	Source   uuid.UUID
	Origin   string // stockpiling, transfer, recovery, correction
	OriginID uuid.UUID
	Parent   *uuid.UUID
	Tonnes   decimal.Decimal
}

// put appends tranches to locked reserves, numbering them in order.
func (rl *reserveLocks) put(w *ledger.Writer, txID uuid.UUID, ts []newTranche) error {
	if len(ts) == 0 {
		return nil
	}
	n := len(ts)
	ids, reserves, sources, origins, originIDs, parents, amts := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs := make([]int64, n)
	for i, t := range ts {
		if _, ok := rl.next[t.Reserve]; !ok {
			return ledger.Errf(ledger.CodeInternal, "reserve %s written without its lock", t.Reserve)
		}
		rl.next[t.Reserve]++
		rl.dirty[t.Reserve] = true
		ids[i], reserves[i], sources[i], origins[i], originIDs[i] = ledger.NewID().String(), t.Reserve, t.Source.String(), t.Origin, t.OriginID.String()
		parents[i], seqs[i], amts[i] = optText(t.Parent), rl.next[t.Reserve], t.Tonnes.String()
	}
	ctx, tx := w.Ctx(), w.Tx()
	if _, err := tx.Exec(ctx, `
		INSERT INTO quota_tranches (id, reserve, seq, source_id, origin, origin_id, parent_id, tonnes, remaining, tx_id, created_at)
		SELECT id::UUID, reserve, seq, src::UUID, origin, oid::UUID, NULLIF(par, '')::UUID, amt::NUMERIC, amt::NUMERIC, $9, $10
		FROM unnest($1::TEXT[], $2::TEXT[], $3::INT8[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])
		AS v(id, reserve, seq, src, origin, oid, par, amt)`,
		ids, reserves, seqs, sources, origins, originIDs, parents, amts, txID, w.Now()); err != nil {
		return err
	}
	var names []string
	var nexts []int64
	for name := range rl.dirty {
		names, nexts = append(names, name), append(nexts, rl.next[name])
	}
	clear(rl.dirty)
	_, err := tx.Exec(ctx, `
		UPDATE quota_reserves SET next_seq = v.n FROM unnest($1::TEXT[], $2::INT8[]) AS v(name, n)
		WHERE quota_reserves.name = v.name`, names, nexts)
	return err
}

// movement is one source's share of a flow of its kind, for reports.
type movement struct {
	Flow        string
	Tonnes      decimal.Decimal
	Reserve     string
	Source      uuid.UUID
	Project     string
	ProjectCity string
	Sector      string
	Allocation  *uuid.UUID
	AmountCNY   decimal.Decimal
	OpID        uuid.UUID
}

// Flows recorded in quota_movements.
const (
	flowRecognised     = "recognised"
	flowStockpiled     = "stockpiled"
	flowAllocated      = "allocated"
	flowConsumed       = "consumed"
	flowRecovered      = "recovered"
	flowTransferredOut = "transferred_out"
	flowTransferredIn  = "transferred_in"
	flowCorrectedUp    = "corrected_up"
	flowCorrectedDown  = "corrected_down"
	flowProjectMoved   = "project_moved" // a live allocation's draw, recorded again under the project's new city
)

// writeMovements appends movements, copying each source's city, route and
// enterprise so that reports group without joins.
func writeMovements(w *ledger.Writer, txID uuid.UUID, ms []movement) error {
	if len(ms) == 0 {
		return nil
	}
	var ids, sources, flows, reserves, projects, pcities, sectors, allocs, tonnes, cny, ops []string
	for _, m := range ms {
		ids, sources, flows, reserves = append(ids, ledger.NewID().String()), append(sources, m.Source.String()), append(flows, m.Flow), append(reserves, m.Reserve)
		projects, pcities, sectors, allocs = append(projects, m.Project), append(pcities, m.ProjectCity), append(sectors, m.Sector), append(allocs, optText(m.Allocation))
		tonnes, cny, ops = append(tonnes, m.Tonnes.String()), append(cny, m.AmountCNY.String()), append(ops, m.OpID.String())
	}
	_, err := w.Tx().Exec(w.Ctx(), `
		INSERT INTO quota_movements (id, at, flow, tonnes, reserve, source_id, source_city, route, enterprise, project, project_city, sector, allocation_id, amount_cny, op_id, tx_id, index_kind)
		SELECT v.id::UUID, $11, v.flow, v.amt::NUMERIC, v.reserve, v.src::UUID, s.city, s.route, s.enterprise, v.project, v.pcity, v.sector, NULLIF(v.alloc, '')::UUID, v.cny::NUMERIC, v.op::UUID, $12, s.index_kind
		FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $13::TEXT[])
		AS v(id, flow, amt, reserve, src, project, pcity, sector, alloc, cny, op)
		JOIN quota_sources s ON s.id = v.src::UUID`,
		ids, flows, tonnes, reserves, sources, projects, pcities, sectors, allocs, cny, w.Now(), txID, ops)
	return err
}

// postings sums signed amounts per account into engine legs, in a stable
// order, dropping accounts that net to zero.
type legs struct {
	order []string
	sum   map[string]decimal.Decimal
}

func (l *legs) add(account string, amount decimal.Decimal) {
	if l.sum == nil {
		l.sum = map[string]decimal.Decimal{}
	}
	if _, ok := l.sum[account]; !ok {
		l.order = append(l.order, account)
	}
	l.sum[account] = l.sum[account].Add(amount)
}

func (l *legs) inputs() []ledger.PostingInput {
	out := make([]ledger.PostingInput, 0, len(l.order))
	for _, a := range l.order {
		if !l.sum[a].IsZero() {
			out = append(out, ledger.PostingInput{Account: a, Amount: l.sum[a]})
		}
	}
	return out
}

func (l *legs) accounts() []string {
	var out []string
	for _, a := range l.order {
		if !l.sum[a].IsZero() {
			out = append(out, a)
		}
	}
	return out
}

func optText(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}
