package points

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// CreditCitizensPerTransactionMax is how many citizens one credit
// transaction pays: the engine's posting limit less the methodology
// issuer, the operator pool and the programme issuer.
const CreditCitizensPerTransactionMax = ledger.PostingsPerTransactionMax - 3

type usageKey struct{ citizen, day string }

type scopeUsage struct {
	grams int64
	qty   decimal.Decimal
}

// dayUsage is a citizen-day's row of points_daily_usage.
type dayUsage struct {
	grams   int64
	records int32
	scopes  map[string]scopeUsage
}

func (u *dayUsage) clone() *dayUsage {
	c := &dayUsage{grams: u.grams, records: u.records, scopes: make(map[string]scopeUsage, len(u.scopes))}
	for k, v := range u.scopes {
		c.scopes[k] = v
	}
	return c
}

func (u *dayUsage) scope(s string) scopeUsage {
	if v, ok := u.scopes[s]; ok {
		return v
	}
	return scopeUsage{qty: decimal.Zero}
}

// add counts an accepted record (credited or cap_reached).
func (u *dayUsage) add(scope string, c CapResult) {
	sc := u.scope(scope)
	sc.grams += c.Grams
	sc.qty = sc.qty.Add(c.Quantity)
	u.scopes[scope] = sc
	u.grams += c.Grams
	u.records++
}

// usageJSON is the stored form of a scope: numbers as strings.
type usageJSON struct {
	G string `json:"g"`
	Q string `json:"q"`
}

func (u *dayUsage) scopesJSON() string {
	m := make(map[string]usageJSON, len(u.scopes))
	for k, v := range u.scopes {
		m[k] = usageJSON{G: strconv.FormatInt(v.grams, 10), Q: v.qty.String()}
	}
	b, _ := json.Marshal(m) // map of strings: cannot fail
	return string(b)
}

func parseScopes(raw []byte) (map[string]scopeUsage, error) {
	var m map[string]usageJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make(map[string]scopeUsage, len(m))
	for k, v := range m {
		g, err := strconv.ParseInt(v.G, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("points: usage scope %s: %w", k, err)
		}
		q, err := decimal.NewFromString(v.Q)
		if err != nil {
			return nil, fmt.Errorf("points: usage scope %s: %w", k, err)
		}
		out[k] = scopeUsage{grams: g, qty: q}
	}
	return out, nil
}

// lockUsage creates and locks, in key order, the usage rows of every
// citizen-day of the items (and the second day of an interval crossing
// midnight), then reads what identity needs: the behaviour keys and record
// ids already recorded, and the counted intervals of the batch's citizens
// near the batch's intervals. One round trip.
//
// Why the interval query is exact: two intervals that are one event share
// some time, so some day is touched by both, and both batches lock that
// citizen-day before they read; the later one sees the earlier one's rows.
func lockUsage(w *ledger.Writer, op string, items []*item) (map[usageKey]*dayUsage, *storedIdentity, error) {
	ks := lockKeys(items)
	cs, ds := make([]string, len(ks)), make([]string, len(ks))
	for i, k := range ks {
		cs[i], ds[i] = k.citizen, k.day
	}
	bkeys := make([][]byte, len(items))
	recIDs := make([]string, len(items))
	for i, it := range items {
		bkeys[i], recIDs[i] = it.key, it.rec.RecordID
	}
	b := &pgx.Batch{}
	// The insert runs in key order too, so two batches creating the same
	// new rows queue on the first one rather than deadlock.
	b.Queue(`
		INSERT INTO points_daily_usage (citizen_id, day)
		SELECT c, d::DATE FROM unnest($1::TEXT[], $2::TEXT[]) AS v(c, d) ORDER BY c, d
		ON CONFLICT (citizen_id, day) DO NOTHING`, cs, ds)
	b.Queue(`
		SELECT u.citizen_id, u.day::TEXT, u.grams, u.records, u.scopes::TEXT
		FROM points_daily_usage u
		JOIN unnest($1::TEXT[], $2::TEXT[]) AS v(c, d) ON u.citizen_id = v.c AND u.day = v.d::DATE
		ORDER BY u.citizen_id, u.day
		FOR UPDATE OF u`, cs, ds)
	b.Queue(`SELECT behaviour_key, id, operator_id, operator_record_id FROM points_behaviours WHERE behaviour_key = ANY($1::BYTEA[])`, bkeys)
	b.Queue(`SELECT operator_record_id, id FROM points_behaviours WHERE operator_id = $1 AND operator_record_id = ANY($2::TEXT[])`, op, recIDs)
	spans := queueIntervals(b, items)
	br := w.Tx().SendBatch(w.Ctx(), b)
	usage, st, err := readLockedUsage(br, op, spans)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	if len(usage) != len(ks) {
		return nil, nil, fmt.Errorf("points: locked %d of %d usage rows", len(usage), len(ks))
	}
	return usage, st, nil
}

// lockKeys is every citizen-day the items need locked, sorted: each item's
// day, and for an interval of an exclusivity group each day it touches
// (at most two: an interval is at most IntervalMax long).
func lockKeys(items []*item) []usageKey {
	set := map[usageKey]bool{}
	for _, it := range items {
		set[usageKey{it.rec.Citizen, it.day}] = true
		if it.group != "" {
			set[usageKey{it.rec.Citizen, Day(it.end.Add(-time.Microsecond))}] = true
		}
	}
	ks := make([]usageKey, 0, len(set))
	for k := range set {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].citizen != ks[j].citizen {
			return ks[i].citizen < ks[j].citizen
		}
		return ks[i].day < ks[j].day
	})
	return ks
}

// queueIntervals queues the overlap query, set-based: per citizen one
// range covering the batch's intervals of that citizen (a day's total
// covers its whole day), and every counted interval of the citizen that
// meets it. A stored interval meeting [lo, hi) starts after lo −
// IntervalMax, so the index on (citizen_id, occurred_at) bounds the scan.
// A batch without intervals queues nothing. It reports whether it queued.
func queueIntervals(b *pgx.Batch, items []*item) bool {
	type span struct{ lo, hi time.Time }
	ranges := map[string]*span{}
	for _, it := range items {
		lo, hi := it.at, it.end
		switch {
		case it.total:
			lo = dayStart(it.at)
			hi = lo.Add(24 * time.Hour)
		case it.group == "":
			continue
		}
		if r := ranges[it.rec.Citizen]; r == nil {
			ranges[it.rec.Citizen] = &span{lo, hi}
		} else {
			r.lo, r.hi = minTime(r.lo, lo), maxTime(r.hi, hi)
		}
	}
	if len(ranges) == 0 {
		return false
	}
	var cs []string
	var since, los, his []time.Time
	for c, r := range ranges {
		cs, since, los, his = append(cs, c), append(since, r.lo.Add(-IntervalMax)), append(los, r.lo), append(his, r.hi)
	}
	b.Queue(`
		SELECT b.citizen_id, b.id, b.operator_id, b.operator_record_id, b.kind, b.unit, b.quantity, b.occurred_at, b.ended_at, b.day::TEXT
		FROM unnest($1::TEXT[], $2::TIMESTAMPTZ[], $3::TIMESTAMPTZ[], $4::TIMESTAMPTZ[]) AS v(c, since, lo, hi)
		JOIN points_behaviours b ON b.citizen_id = v.c AND b.occurred_at > v.since AND b.occurred_at < v.hi AND b.ended_at > v.lo
		WHERE b.ended_at IS NOT NULL AND b.status <> 'duplicate'`, cs, since, los, his)
	return true
}

// readLockedUsage reads lockUsage's batch: the locked usage rows, then the
// behaviour keys and the record ids already recorded, then (when queued)
// the counted intervals.
func readLockedUsage(br pgx.BatchResults, op string, spans bool) (map[usageKey]*dayUsage, *storedIdentity, error) {
	if _, err := br.Exec(); err != nil {
		return nil, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	usage := map[usageKey]*dayUsage{}
	var k usageKey
	var u dayUsage
	var raw string
	if _, err := pgx.ForEachRow(rows, []any{&k.citizen, &k.day, &u.grams, &u.records, &raw}, func() (err error) {
		row := u
		row.scopes, err = parseScopes([]byte(raw))
		usage[k] = &row
		return err
	}); err != nil {
		return nil, nil, err
	}
	st, err := readStored(br, op, spans)
	return usage, st, err
}

// creditTx is one credit transaction: the credits of up to
// CreditCitizensPerTransactionMax citizens under one methodology version
// and operator pool.
type creditTx struct {
	m     Methodology
	pool  string
	items []*item
	grams map[string]int64
}

func (c *creditTx) build(w *ledger.Writer, actor ledger.Actor, op string) (*ledger.Transaction, error) {
	var total int64
	citizens := make([]string, 0, len(c.grams))
	for cit, g := range c.grams {
		citizens = append(citizens, cit)
		total += g
	}
	sort.Strings(citizens)
	t := decimal.NewFromInt(total)
	legs := make([]ledger.PostingInput, 0, 3+len(citizens))
	legs = append(legs,
		ledger.PostingInput{Account: c.m.IssuanceAccount(), Amount: t.Neg()},
		ledger.PostingInput{Account: c.pool, Amount: t},
		ledger.PostingInput{Account: ProgrammeIssuance, Amount: t.Neg()})
	for _, cit := range citizens {
		legs = append(legs, ledger.PostingInput{Account: ledger.CitizenPendingAccount(cit), Amount: decimal.NewFromInt(c.grams[cit])})
	}
	meta := map[string]string{"operator": op, "methodology": c.m.ID, "pool": c.pool, "records": strconv.Itoa(len(c.items))}
	if len(c.items) == 1 {
		it := c.items[0]
		meta["behaviour"], meta["record"], meta["quantity"] = it.id.String(), it.rec.RecordID, it.qty.String()
	}
	return w.Build(actor, ledger.TxInput{Kind: KindCredit, Postings: legs, Metadata: meta})
}

// checkPools opens the operator pool of every credited item and rejects
// the items of a frozen or closed pool.
func checkPools(w *ledger.Writer, op string, items []*item, reject func(int, ledger.Code, string)) error {
	poolStatus := map[string]string{}
	for _, it := range items {
		if it.caps.Grams == 0 {
			continue
		}
		pool := PoolAccount(op, it.m.ID, Period(it.at))
		if _, seen := poolStatus[pool]; !seen {
			if err := w.OpenAccounts(pool); err != nil {
				return err
			}
			a, err := w.Account(pool)
			if err != nil {
				return err
			}
			poolStatus[pool] = a.Status
		}
		if st := poolStatus[pool]; st != "active" {
			reject(it.idx, accountStatusCode(st), "the operator pool "+pool+" is "+st)
			it.dead = true
		}
	}
	return nil
}

// buildCredits builds the credit transactions of the credited items,
// without applying them, and sets each item's transaction id. Credits are
// grouped into few transactions (one per operator pool and up to
// CreditCitizensPerTransactionMax citizens), each linking the CO2E leg
// (methodology issuance -> operator pool) and the CP legs (programme
// issuance -> each citizen's pending). A credit is traced by its behaviour
// row (tx_id and citizen) to its posting. checkPools has opened the pools
// and turned away the items of a frozen or closed one.
func buildCredits(w *ledger.Writer, actor ledger.Actor, op string, items []*item) ([]*ledger.Transaction, error) {
	var chunks []*creditTx
	open := map[string]*creditTx{}
	for _, it := range items {
		if it.caps.Grams == 0 {
			continue
		}
		pool := PoolAccount(op, it.m.ID, Period(it.at))
		c := open[pool]
		if c == nil || (c.grams[it.rec.Citizen] == 0 && len(c.grams) == CreditCitizensPerTransactionMax) {
			c = &creditTx{m: it.m, pool: pool, grams: map[string]int64{}}
			open[pool] = c
			chunks = append(chunks, c)
		}
		c.items = append(c.items, it)
		c.grams[it.rec.Citizen] += it.caps.Grams
	}
	txs := make([]*ledger.Transaction, len(chunks))
	for i, c := range chunks {
		t, err := c.build(w, actor, op)
		if err != nil {
			return nil, err
		}
		txs[i] = t
		for _, it := range c.items {
			it.tx = t.ID
		}
	}
	return txs, nil
}

// recordBehaviours inserts the recorded items (counted ones and
// duplicates) and writes the new usage of their citizen-days (rows locked
// by lockUsage). A duplicate claims no behaviour key and counts in no
// usage: it names the row it duplicates.
func recordBehaviours(w *ledger.Writer, op string, items []*item, usage map[usageKey]*dayUsage) error {
	now := w.Now()
	n := len(items)
	var (
		ids, txIDs, ends, dupOf                                 = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		bkeys                                                   = make([][]byte, n)
		recIDs, citizens, kinds, units, qtys, days, mids, stats = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		reasons                                                 = make([]string, n)
		rulesV                                                  = make([]int32, n)
		computed, grams                                         = make([]int64, n), make([]int64, n)
		ats, deadlines                                          = make([]time.Time, n), make([]time.Time, n)
	)
	touched := map[usageKey]bool{}
	for i, it := range items {
		ids[i], bkeys[i], recIDs[i], citizens[i] = it.id.String(), it.key, it.rec.RecordID, it.rec.Citizen
		kinds[i], units[i], qtys[i], days[i], mids[i] = it.rec.Kind, it.rec.Unit, it.qty.String(), it.day, it.m.ID
		rulesV[i], computed[i], grams[i], reasons[i], ats[i] = int32(it.rules.Version), it.caps.ComputedGrams, it.caps.Grams, it.caps.Reason, it.at
		stats[i], deadlines[i] = StatusCapReached, now
		if !it.end.IsZero() {
			ends[i] = it.end.Format(time.RFC3339Nano)
		}
		if it.dupOf != nil && it.dupOf.BehaviourID != nil {
			dupOf[i] = it.dupOf.BehaviourID.String()
		}
		switch {
		case it.dup:
			stats[i], bkeys[i] = StatusDuplicate, []byte{}
			continue
		case it.caps.Grams > 0:
			stats[i], txIDs[i] = StatusCredited, it.tx.String()
			deadlines[i] = now.Add(time.Duration(it.m.ClaimWindowDays) * 24 * time.Hour)
		}
		touched[usageKey{it.rec.Citizen, it.day}] = true
	}
	var uc, ud, us []string
	var ug []int64
	var ur []int32
	for k := range touched {
		u := usage[k]
		uc, ud, ug, ur, us = append(uc, k.citizen), append(ud, k.day), append(ug, u.grams), append(ur, u.records), append(us, u.scopesJSON())
	}
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO points_behaviours (id, behaviour_key, operator_id, operator_record_id, citizen_id, kind, unit, quantity,
			occurred_at, day, methodology_id, rules_version, status, computed_grams, grams, cap_reason, tx_id, received_at,
			claim_deadline, claim_state, ended_at, duplicate_of)
		SELECT id::UUID, NULLIF(bkey, ''::BYTEA), $3, rec, cit, kind, unit, qty::NUMERIC, at, day::DATE, mid, rv, st, comp, g, reason,
			NULLIF(txid, '')::UUID, $1, CASE WHEN st = 'credited' THEN dl END, CASE WHEN st = 'credited' THEN 'pending' END,
			NULLIF(e, '')::TIMESTAMPTZ, NULLIF(dup, '')::UUID
		FROM unnest($2::TEXT[], $4::BYTEA[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TIMESTAMPTZ[],
			$11::TEXT[], $12::TEXT[], $13::INT[], $14::TEXT[], $15::INT8[], $16::INT8[], $17::TEXT[], $18::TEXT[], $19::TIMESTAMPTZ[],
			$20::TEXT[], $21::TEXT[])
			AS v(id, bkey, rec, cit, kind, unit, qty, at, day, mid, rv, st, comp, g, reason, txid, dl, e, dup)`,
		now, ids, op, bkeys, recIDs, citizens, kinds, units, qtys, ats, days, mids, rulesV, stats, computed, grams, reasons, txIDs, deadlines,
		ends, dupOf)
	// Absolute values: the rows are locked, and base holds what they held.
	b.Queue(`
		UPDATE points_daily_usage u SET grams = v.g, records = v.r, scopes = v.s::JSONB
		FROM unnest($1::TEXT[], $2::TEXT[], $3::INT8[], $4::INT[], $5::TEXT[]) AS v(c, d, g, r, s)
		WHERE u.citizen_id = v.c AND u.day = v.d::DATE`, uc, ud, ug, ur, us)
	return w.Tx().SendBatch(w.Ctx(), b).Close()
}
