package points

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
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
	tx    uuid.UUID // the credit's ledger transaction
	dead  bool      // rejected or duplicate after this point
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
		// The status of the citizen's pending account is read here (a
		// read-only look at the engine's accounts table) so that a frozen
		// or closed account rejects its records up front and the engine
		// call at the end is not expected to refuse anything.
		rows, err := tx.Query(ctx, `
			SELECT c.id, COALESCE(e.active, false), COALESCE(a.status, 'missing')
			FROM unnest($1::TEXT[]) AS v(id)
			JOIN points_citizens c ON c.id = v.id
			LEFT JOIN points_entrustments e ON e.citizen_id = v.id AND e.operator_id = $2
			LEFT JOIN accounts a ON a.id = 'citizen:' || v.id || ':CP:pending'`, keys(citizens), op)
		if err != nil {
			return res, err
		}
		entrusted := map[string]bool{}
		found := map[string]bool{}
		status := map[string]string{}
		for rows.Next() {
			var id, st string
			var active bool
			if err := rows.Scan(&id, &active, &st); err != nil {
				rows.Close()
				return res, err
			}
			found[id], entrusted[id], status[id] = true, active, st
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
			case status[it.rec.Citizen] != "active":
				reject(it.idx, accountStatusCode(status[it.rec.Citizen]), "the carbon account of citizen "+it.rec.Citizen+" is "+status[it.rec.Citizen])
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

	// 4. Lock the usage row of every citizen-day (sorted), then read what
	// was already recorded: a concurrent batch for the same citizen-day has
	// committed by the time we hold the lock, so its keys are visible.
	base := map[usageKey]*dayUsage{}
	if len(items) > 0 {
		var err error
		if base, err = lockUsage(w, op, items, func(it *item, reason string) {
			duplicate(it.idx, reason)
			it.dead = true
		}); err != nil {
			return res, err
		}
		items = live(items)
	}

	// 5. Caps, in record order, on a working copy of the locked usage.
	work := map[usageKey]*dayUsage{}
	for k, u := range base {
		work[k] = u.clone()
	}
	for _, it := range items {
		u := work[usageKey{it.rec.Citizen, it.day}]
		sc := u.scope(it.m.Scope())
		it.caps = ApplyCaps(it.m, it.rules, it.qty, DayUsage{KindGrams: sc.grams, KindQuantity: sc.qty, TotalGrams: u.grams})
		it.id = newID()
		u.add(it.m.Scope(), it.caps)
	}

	// 6. The credit transactions (built, not yet applied), then the
	// behaviours and the new usage; the engine call comes last, so the
	// operator pool's row (locked by every batch of the operator) is held
	// only while the engine writes and the transaction commits.
	txs, err := buildCredits(w, actor, op, items, reject)
	if err != nil {
		return res, err
	}
	items = live(items)
	if len(items) > 0 {
		for _, it := range items {
			base[usageKey{it.rec.Citizen, it.day}].add(it.m.Scope(), it.caps)
			r := &res.Results[it.idx]
			id := it.id
			r.BehaviourID, r.ComputedGrams, r.Methodology, r.Reason = &id, it.caps.ComputedGrams, it.m.ID, it.caps.Reason
			if it.caps.Grams > 0 {
				dl := now.Add(time.Duration(it.m.ClaimWindowDays) * 24 * time.Hour)
				txID := it.tx
				r.Status, r.Grams, r.Points, r.TransactionID, r.ClaimDeadline = StatusCredited, it.caps.Grams, it.caps.Grams, &txID, &dl
				res.GramsCredited += it.caps.Grams
			} else {
				r.Status, r.Message = StatusCapReached, "the daily cap is reached; the record is kept and credits nothing"
			}
		}
		if err := recordBehaviours(w, op, items, base); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				// Only a concurrent batch of the same operator re-using a
				// record id for another citizen gets here (same citizen-days
				// are serialised by the usage locks): nothing was written.
				return res, ledger.Errf(ledger.CodeConflict, "a concurrent batch reported the same record; send this batch again (with the same Idempotency-Key)")
			}
			return res, err
		}
	}
	// 7. One engine call for every credit of the batch. The accounts were
	// checked above; should the engine still refuse (an account frozen in
	// the meantime), the whole batch fails, nothing is written, and sending
	// it again rejects only the refused records.
	if len(txs) > 0 {
		if err := w.Apply(txs...); err != nil {
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

func accountStatusCode(status string) ledger.Code {
	switch status {
	case "frozen":
		return ledger.CodeAccountFrozen
	case "closed":
		return ledger.CodeAccountClosed
	}
	return ledger.CodeAccountNotFound
}
