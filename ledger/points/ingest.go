package points

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// KindCredit and the other transaction kinds this package writes.
const (
	KindCredit   = "points.credit"
	KindClaim    = "points.claim"
	KindExpire   = "points.expire"
	KindRedeem   = "points.redeem"
	KindDonate   = "points.donate"
	KindClawback = "points.clawback"
)

// BehaviourRecord is one record of an operator's batch.
type BehaviourRecord struct {
	RecordID   string    `json:"record_id"` // the operator's own id, unique per operator
	Citizen    string    `json:"citizen"`
	Kind       string    `json:"kind"`     // metro, bus, cycling, walking, ...
	Quantity   string    `json:"quantity"` // decimal string in unit
	Unit       string    `json:"unit"`     // km, steps, rides, ...
	OccurredAt time.Time `json:"occurred_at"`
}

// IngestInput is an operator's batch.
type IngestInput struct {
	Records []BehaviourRecord `json:"records"`
}

// RecordResult is one record's outcome. Grams and points are whole numbers
// as strings.
type RecordResult struct {
	Index         int        `json:"index"`
	RecordID      string     `json:"record_id"`
	Status        string     `json:"status"`           // credited, duplicate, cap_reached, rejected
	Reason        string     `json:"reason,omitempty"` // rejection code, or the cap that limited a credit
	Message       string     `json:"message,omitempty"`
	BehaviourID   *uuid.UUID `json:"behaviour_id,omitempty"`
	ComputedGrams int64      `json:"computed_grams,string"`
	Grams         int64      `json:"grams,string"`
	Points        int64      `json:"points,string"`
	Methodology   string     `json:"methodology,omitempty"`
	TransactionID *uuid.UUID `json:"transaction_id,omitempty"`
	ClaimDeadline *time.Time `json:"claim_deadline,omitempty"`
}

// IngestResult is a batch's outcome.
type IngestResult struct {
	Operator      string         `json:"operator"`
	Received      int            `json:"received"`
	Credited      int            `json:"credited"`
	Duplicates    int            `json:"duplicates"`
	CapReached    int            `json:"cap_reached"`
	Rejected      int            `json:"rejected"`
	GramsCredited int64          `json:"grams_credited,string"`
	Results       []RecordResult `json:"results"`
}

// Ingest records an operator's batch of up to RecordsPerBatchMax behaviour
// records in one database transaction, once per idempotency key. Each
// record gets its own result; a credit posts the linked CO2E and CP legs.
func Ingest(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in IngestInput) (IngestResult, bool, error) {
	op, err := operatorOf(actor)
	if err != nil {
		return IngestResult{}, false, err
	}
	if n := len(in.Records); n == 0 || n > RecordsPerBatchMax {
		return IngestResult{}, false, ledger.Errf(ledger.CodeLimitExceeded, "a batch has 1 to %d records, got %d", RecordsPerBatchMax, n).At("records")
	}
	return ledger.Run(ctx, l, ledger.Key{Scope: actor.ID(), Key: key}, "points.ingest", in, func(w *ledger.Writer) (IngestResult, error) {
		return ingest(w, actor, op, in.Records)
	})
}

// item is a record that passed the checks that need no lock.
type item struct {
	idx   int
	rec   *BehaviourRecord
	at    time.Time
	m     Methodology
	rules ProgrammeRules
	qty   decimal.Decimal
	day   string
	key   []byte
	caps  CapResult
	id    uuid.UUID
	pool  string
	tx    *ledger.Transaction
	dead  bool // rejected or duplicate after this point
}

type counterKey struct{ citizen, day, scope string }

type counter struct {
	grams int64
	qty   decimal.Decimal
}

func ingest(w *ledger.Writer, actor ledger.Actor, op string, recs []BehaviourRecord) (IngestResult, error) {
	ctx, tx, now := w.Ctx(), w.Tx(), w.Now()
	res := IngestResult{Operator: op, Received: len(recs), Results: make([]RecordResult, len(recs))}
	reject := func(i int, code ledger.Code, msg string) {
		r := &res.Results[i]
		r.Status, r.Reason, r.Message = StatusRejected, string(code), msg
	}
	duplicate := func(i int, msg string) {
		r := &res.Results[i]
		r.Status, r.Reason, r.Message = StatusDuplicate, string(CodeDuplicate), msg
	}

	operator, err := getOperator(ctx, tx, op)
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeNotFound {
			return res, ledger.Errf(ledger.CodeForbidden, "operator %s is not registered", op)
		}
		return res, err
	}
	if operator.Status != "active" {
		return res, ledger.Errf(CodeOperatorInactive, "operator %s is suspended", op)
	}
	allowed := map[string]bool{}
	for _, k := range operator.Kinds {
		allowed[k] = true
	}
	cfg, err := loadConfig(ctx, tx)
	if err != nil {
		return res, err
	}

	// 1. Checks that need no lock, in Go.
	items := make([]*item, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		res.Results[i].Index, res.Results[i].RecordID = i, r.RecordID
		switch {
		case !validRecordID(r.RecordID):
			reject(i, ledger.CodeInvalidRequest, fmt.Sprintf("record_id must be 1 to %d printable characters without spaces", RecordIDBytesMax))
			continue
		case !ledger.ValidIdent(r.Citizen):
			reject(i, ledger.CodeInvalidRequest, "citizen must be an identifier of at most 64 characters")
			continue
		case !validCode(r.Kind, KindBytesMax) || !validCode(r.Unit, UnitBytesMax):
			reject(i, ledger.CodeInvalidRequest, "kind and unit must be lowercase identifiers")
			continue
		case r.OccurredAt.IsZero():
			reject(i, ledger.CodeInvalidRequest, "occurred_at is required")
			continue
		}
		at := r.OccurredAt.UTC()
		if at.After(now.Add(FutureSkewMax)) {
			reject(i, CodeTimeOutOfWindow, "occurred_at is in the future")
			continue
		}
		rules, ok := cfg.RulesAt(at)
		if !ok {
			reject(i, CodeNoMethodology, "no programme rules were in effect at occurred_at")
			continue
		}
		if now.Sub(at) > time.Duration(rules.ReportingWindowDays)*24*time.Hour {
			reject(i, CodeTimeOutOfWindow, fmt.Sprintf("occurred_at is older than the reporting window of %d days", rules.ReportingWindowDays))
			continue
		}
		if !allowed[r.Kind] {
			reject(i, CodeKindNotAllowed, fmt.Sprintf("operator %s may not report %s", op, r.Kind))
			continue
		}
		m, ok := cfg.MethodologyAt(r.Kind, r.Unit, at)
		if !ok {
			reject(i, CodeNoMethodology, fmt.Sprintf("no methodology for %s in %s was in effect at occurred_at", r.Kind, r.Unit))
			continue
		}
		q, err := m.ParseQuantity(r.Quantity)
		if err != nil {
			reject(i, CodeQuantityRange, err.(*ledger.Error).Msg)
			continue
		}
		if m.Grams(q) < 1 {
			reject(i, CodeBelowOneGram, "the record is worth less than 1 g CO2e")
			continue
		}
		items = append(items, &item{idx: i, rec: r, at: at, m: m, rules: rules, qty: q, day: Day(at),
			key: BehaviourKey(r.Citizen, r.Kind, r.Unit, at, q)})
	}

	// 2. Citizens and entrustments, in one query.
	if len(items) > 0 {
		citizens := map[string]bool{}
		for _, it := range items {
			citizens[it.rec.Citizen] = true
		}
		rows, err := tx.Query(ctx, `
			SELECT c.id, COALESCE(e.active, false)
			FROM points_citizens c LEFT JOIN points_entrustments e ON e.citizen_id = c.id AND e.operator_id = $2
			WHERE c.id = ANY($1::TEXT[])`, keys(citizens), op)
		if err != nil {
			return res, err
		}
		entrusted := map[string]bool{}
		found := map[string]bool{}
		for rows.Next() {
			var id string
			var active bool
			if err := rows.Scan(&id, &active); err != nil {
				rows.Close()
				return res, err
			}
			found[id], entrusted[id] = true, active
		}
		if err := rows.Err(); err != nil {
			return res, err
		}
		for _, it := range items {
			switch {
			case !found[it.rec.Citizen]:
				reject(it.idx, CodeUnknownCitizen, "citizen "+it.rec.Citizen+" has no carbon account")
				it.dead = true
			case !entrusted[it.rec.Citizen]:
				reject(it.idx, CodeNotEntrusted, "citizen "+it.rec.Citizen+" has not entrusted operator "+op)
				it.dead = true
			}
		}
		items = live(items)
	}

	// 3. Duplicates inside the batch.
	seenRec, seenKey := map[string]int{}, map[string]int{}
	for _, it := range items {
		if j, ok := seenRec[it.rec.RecordID]; ok {
			duplicate(it.idx, fmt.Sprintf("record_id repeats record %d of this batch", j))
			it.dead = true
			continue
		}
		seenRec[it.rec.RecordID] = it.idx
		if j, ok := seenKey[string(it.key)]; ok {
			duplicate(it.idx, fmt.Sprintf("the same behaviour as record %d of this batch", j))
			it.dead = true
			continue
		}
		seenKey[string(it.key)] = it.idx
	}
	items = live(items)

	// 4. Lock the daily counters of every citizen-day (sorted), then read
	// what was already recorded: a concurrent batch for the same citizen-day
	// has committed by the time we hold the lock, so its keys are visible.
	usage := map[counterKey]*counter{}
	if len(items) > 0 {
		set := map[counterKey]bool{}
		for _, it := range items {
			set[counterKey{it.rec.Citizen, it.day, "*"}] = true
			set[counterKey{it.rec.Citizen, it.day, it.m.Scope()}] = true
		}
		ck := make([]counterKey, 0, len(set))
		for k := range set {
			ck = append(ck, k)
		}
		sort.Slice(ck, func(i, j int) bool {
			a, b := ck[i], ck[j]
			if a.citizen != b.citizen {
				return a.citizen < b.citizen
			}
			if a.day != b.day {
				return a.day < b.day
			}
			return a.scope < b.scope
		})
		cs, ds, ss := make([]string, len(ck)), make([]string, len(ck)), make([]string, len(ck))
		for i, k := range ck {
			cs[i], ds[i], ss[i] = k.citizen, k.day, k.scope
		}
		bkeys := make([][]byte, len(items))
		recIDs := make([]string, len(items))
		for i, it := range items {
			bkeys[i], recIDs[i] = it.key, it.rec.RecordID
		}
		b := &pgx.Batch{}
		b.Queue(`
			INSERT INTO points_daily_counters (citizen_id, day, scope)
			SELECT c, d::DATE, s FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS v(c, d, s)
			ORDER BY c, d, s
			ON CONFLICT (citizen_id, day, scope) DO NOTHING`, cs, ds, ss)
		b.Queue(`
			SELECT k.citizen_id, k.day::TEXT, k.scope, k.grams, k.quantity::TEXT
			FROM points_daily_counters k
			JOIN unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS v(c, d, s) ON k.citizen_id = v.c AND k.day = v.d::DATE AND k.scope = v.s
			ORDER BY k.citizen_id, k.day, k.scope
			FOR UPDATE OF k`, cs, ds, ss)
		b.Queue(`SELECT behaviour_key FROM points_behaviours WHERE behaviour_key = ANY($1::BYTEA[])`, bkeys)
		b.Queue(`SELECT operator_record_id FROM points_behaviours WHERE operator_id = $1 AND operator_record_id = ANY($2::TEXT[])`, op, recIDs)
		br := tx.SendBatch(ctx, b)
		existingKeys, existingRecs := map[string]bool{}, map[string]bool{}
		err := func() error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			rows, err := br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				var k counterKey
				var c counter
				var q string
				if err := rows.Scan(&k.citizen, &k.day, &k.scope, &c.grams, &q); err != nil {
					rows.Close()
					return err
				}
				c.qty = decimal.RequireFromString(q)
				usage[k] = &c
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows, err = br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				var k []byte
				if err := rows.Scan(&k); err != nil {
					rows.Close()
					return err
				}
				existingKeys[string(k)] = true
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows, err = br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				existingRecs[id] = true
			}
			return rows.Err()
		}()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return res, err
		}
		if len(usage) != len(ck) {
			return res, fmt.Errorf("points: locked %d of %d daily counters", len(usage), len(ck))
		}
		for _, it := range items {
			switch {
			case existingRecs[it.rec.RecordID]:
				duplicate(it.idx, "operator "+op+" already reported record_id "+it.rec.RecordID)
				it.dead = true
			case existingKeys[string(it.key)]:
				duplicate(it.idx, "this behaviour was already recorded (by this or another operator)")
				it.dead = true
			}
		}
		items = live(items)
	}

	// 5. Caps, in record order, on the locked counters.
	for _, it := range items {
		kc := usage[counterKey{it.rec.Citizen, it.day, it.m.Scope()}]
		tc := usage[counterKey{it.rec.Citizen, it.day, "*"}]
		it.caps = ApplyCaps(it.m, it.rules, it.qty, DayUsage{KindGrams: kc.grams, KindQuantity: kc.qty, TotalGrams: tc.grams})
		it.id = newID()
		if it.caps.Grams > 0 {
			kc.grams += it.caps.Grams
			kc.qty = kc.qty.Add(it.caps.Quantity)
			tc.grams += it.caps.Grams
		}
	}

	// 6. One engine call for every credit of the batch.
	var txs []*ledger.Transaction
	var credited []*item
	pools := map[string]bool{}
	for _, it := range items {
		if it.caps.Grams == 0 {
			continue
		}
		it.pool = PoolAccount(op, it.m.ID, Period(it.at))
		pools[it.pool] = true
		g := decimal.NewFromInt(it.caps.Grams)
		t, err := w.Build(actor, ledger.TxInput{
			Kind: KindCredit,
			Postings: []ledger.PostingInput{
				{Account: it.m.IssuanceAccount(), Amount: g.Neg()},
				{Account: it.pool, Amount: g},
				{Account: ProgrammeIssuance, Amount: g.Neg()},
				{Account: ledger.CitizenPendingAccount(it.rec.Citizen), Amount: g},
			},
			Metadata: map[string]string{
				"behaviour": it.id.String(), "methodology": it.m.ID, "operator": op, "record": it.rec.RecordID,
				"citizen": it.rec.Citizen, "kind": it.rec.Kind, "unit": it.rec.Unit, "quantity": it.qty.String(),
				"occurred_at": it.at.Format(time.RFC3339),
			},
		})
		if err != nil {
			e, _ := ledger.AsError(err)
			if e == nil {
				return res, err
			}
			reject(it.idx, e.Code, e.Msg)
			it.dead = true
			continue
		}
		it.tx = t
		txs = append(txs, t)
		credited = append(credited, it)
	}
	if len(txs) > 0 {
		if err := w.OpenAccounts(keys(pools)...); err != nil {
			return res, err
		}
		errs, err := w.ApplyEach(txs)
		if err != nil {
			return res, err
		}
		for i, e := range errs {
			if e == nil {
				continue
			}
			de, ok := ledger.AsError(e)
			if !ok {
				return res, e
			}
			// A frozen or closed account refuses the credit; the record is
			// rejected and claims nothing (its cap share is not counted).
			reject(credited[i].idx, de.Code, de.Msg)
			credited[i].dead = true
		}
		items = live(items)
	}

	// 7. Record the accepted behaviours and the counters, set-based.
	if len(items) > 0 {
		n := len(items)
		var (
			ids, txIDs                                              = make([]string, n), make([]string, n)
			bkeys                                                   = make([][]byte, n)
			recIDs, citizens, kinds, units, qtys, days, mids, stats = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			reasons                                                 = make([]string, n)
			rulesV                                                  = make([]int32, n)
			computed, grams                                         = make([]int64, n), make([]int64, n)
			ats, deadlines                                          = make([]time.Time, n), make([]time.Time, n)
		)
		delta := map[counterKey]*struct {
			grams   int64
			qty     decimal.Decimal
			records int32
		}{}
		bump := func(k counterKey, g int64, q decimal.Decimal) {
			d, ok := delta[k]
			if !ok {
				d = &struct {
					grams   int64
					qty     decimal.Decimal
					records int32
				}{qty: decimal.Zero}
				delta[k] = d
			}
			d.grams += g
			d.qty = d.qty.Add(q)
			d.records++
		}
		for i, it := range items {
			r := &res.Results[it.idx]
			id := it.id
			r.BehaviourID, r.ComputedGrams, r.Methodology, r.Reason = &id, it.caps.ComputedGrams, it.m.ID, it.caps.Reason
			ids[i], bkeys[i], recIDs[i], citizens[i] = it.id.String(), it.key, it.rec.RecordID, it.rec.Citizen
			kinds[i], units[i], qtys[i], days[i], mids[i] = it.rec.Kind, it.rec.Unit, it.qty.String(), it.day, it.m.ID
			rulesV[i], computed[i], grams[i], reasons[i], ats[i] = int32(it.rules.Version), it.caps.ComputedGrams, it.caps.Grams, it.caps.Reason, it.at
			if it.caps.Grams > 0 {
				dl := now.Add(time.Duration(it.m.ClaimWindowDays) * 24 * time.Hour)
				txID := it.tx.ID
				stats[i], txIDs[i], deadlines[i] = StatusCredited, txID.String(), dl
				r.Status, r.Grams, r.Points, r.TransactionID, r.ClaimDeadline = StatusCredited, it.caps.Grams, it.caps.Grams, &txID, &dl
				res.GramsCredited += it.caps.Grams
			} else {
				stats[i], deadlines[i] = StatusCapReached, now
				r.Status, r.Message = StatusCapReached, "the daily cap is reached; the record is kept and credits nothing"
			}
			bump(counterKey{it.rec.Citizen, it.day, it.m.Scope()}, it.caps.Grams, it.caps.Quantity)
			bump(counterKey{it.rec.Citizen, it.day, "*"}, it.caps.Grams, decimal.Zero)
		}
		var kc, kd, ks, kq []string
		var kg []int64
		var kr []int32
		for k, d := range delta {
			kc, kd, ks, kg, kq, kr = append(kc, k.citizen), append(kd, k.day), append(ks, k.scope), append(kg, d.grams), append(kq, d.qty.String()), append(kr, d.records)
		}
		b := &pgx.Batch{}
		b.Queue(`
			INSERT INTO points_behaviours (id, behaviour_key, operator_id, operator_record_id, citizen_id, kind, unit, quantity,
				occurred_at, day, methodology_id, rules_version, status, computed_grams, grams, cap_reason, tx_id, received_at,
				claim_deadline, claim_state)
			SELECT id::UUID, bkey, $3, rec, cit, kind, unit, qty::NUMERIC, at, day::DATE, mid, rv, st, comp, g, reason,
				NULLIF(txid, '')::UUID, $1, CASE WHEN st = 'credited' THEN dl END, CASE WHEN st = 'credited' THEN 'pending' END
			FROM unnest($2::TEXT[], $4::BYTEA[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TIMESTAMPTZ[],
				$11::TEXT[], $12::TEXT[], $13::INT[], $14::TEXT[], $15::INT8[], $16::INT8[], $17::TEXT[], $18::TEXT[], $19::TIMESTAMPTZ[])
				AS v(id, bkey, rec, cit, kind, unit, qty, at, day, mid, rv, st, comp, g, reason, txid, dl)`,
			now, ids, op, bkeys, recIDs, citizens, kinds, units, qtys, ats, days, mids, rulesV, stats, computed, grams, reasons, txIDs, deadlines)
		b.Queue(`
			UPDATE points_daily_counters k SET grams = k.grams + v.g, quantity = k.quantity + v.q::NUMERIC, records = k.records + v.r
			FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::INT8[], $5::TEXT[], $6::INT[]) AS v(c, d, s, g, q, r)
			WHERE k.citizen_id = v.c AND k.day = v.d::DATE AND k.scope = v.s`, kc, kd, ks, kg, kq, kr)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				// Only a concurrent batch of the same operator re-using a
				// record id for another citizen gets here (same citizen-days
				// are serialised by the counter locks): nothing was written.
				return res, ledger.Errf(ledger.CodeConflict, "a concurrent batch reported the same record; send this batch again (with the same Idempotency-Key)")
			}
			return res, err
		}
	}

	for _, r := range res.Results {
		switch r.Status {
		case StatusCredited:
			res.Credited++
		case StatusDuplicate:
			res.Duplicates++
		case StatusCapReached:
			res.CapReached++
		default:
			res.Rejected++
		}
	}
	return res, nil
}

func live(items []*item) []*item {
	out := items[:0]
	for _, it := range items {
		if !it.dead {
			out = append(out, it)
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
