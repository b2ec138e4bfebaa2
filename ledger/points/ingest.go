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
	Kind       string    `json:"kind"`        // metro, bus, cycling, walking, ...
	Quantity   string    `json:"quantity"`    // decimal string in unit
	Unit       string    `json:"unit"`        // km, steps, rides, ...
	OccurredAt time.Time `json:"occurred_at"` // when it happened; with an interval, its start (tap-in, unlock)
	// The behaviour's interval ends at ended_at (tap-out, lock), or
	// duration_seconds after occurred_at; give at most one, at most 24
	// hours. A record with an interval is one event with every record of
	// the citizen whose interval overlaps it by more than the programme's
	// tolerance and whose kind is in the same exclusivity group; for a kind
	// whose reports are a day's total (steps), the interval is what the
	// phone counted and lies in one day. A record without one is an instant,
	// identified by its behaviour key alone.
	EndedAt         *time.Time `json:"ended_at,omitempty"`
	DurationSeconds int64      `json:"duration_seconds,omitempty"`
}

// RecordRef names a reported record: its behaviour row, the operator that
// reported it and the operator's record id.
type RecordRef struct {
	BehaviourID *uuid.UUID `json:"behaviour_id,omitempty"` // absent when that record was itself refused
	Operator    string     `json:"operator"`
	RecordID    string     `json:"record_id"`
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
	// DuplicateOf names the record a duplicate repeats (the one that was
	// credited or capped), or, for a credited day total, the smaller report
	// of the day it tops up (it credits only the difference).
	DuplicateOf *RecordRef `json:"duplicate_of,omitempty"`
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
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.ingest", in, func(w *ledger.Writer) (IngestResult, error) {
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
	end   time.Time       // the interval's end; zero for an instant
	group string          // the kind's exclusivity group under rules ("" none)
	total bool            // a day's total with an interval: the largest report counts
	prev  decimal.Decimal // a total: what the day's earlier reports counted already
	dup   bool            // a duplicate: recorded, credits nothing
	dupOf *RecordRef      // what it duplicates or tops up
	src   *item           // the item of this batch it duplicates or tops up
	caps  CapResult
	id    uuid.UUID
	tx    uuid.UUID // the credit's ledger transaction
	dead  bool      // rejected or duplicate after this point
}

// ingestRun carries one batch through the stages of ingest. Each stage
// marks the items it turns away as dead (with their result already set)
// and drops them, so the next stage sees only the live ones.
type ingestRun struct {
	w       *ledger.Writer
	ctx     context.Context
	tx      pgx.Tx
	now     time.Time
	actor   ledger.Actor
	op      string
	allowed map[string]bool // the kinds the operator may report
	cfg     *Config
	res     IngestResult
	items   []*item
	repeats map[int]int // a record repeating the record id of an earlier one of the batch -> that one
}

func ingest(w *ledger.Writer, actor ledger.Actor, op string, recs []BehaviourRecord) (IngestResult, error) {
	run := &ingestRun{w: w, ctx: w.Ctx(), tx: w.Tx(), now: w.Now(), actor: actor, op: op,
		res: IngestResult{Operator: op, Received: len(recs), Results: make([]RecordResult, len(recs))}}
	if err := run.loadOperator(); err != nil {
		return run.res, err
	}
	run.checkRecords(recs)
	if err := run.checkCitizens(); err != nil {
		return run.res, err
	}
	run.dropBatchDuplicates()
	base, err := run.lockDays()
	if err != nil {
		return run.res, err
	}
	run.applyCaps(base)
	txs, err := run.recordCredits(base)
	if err != nil {
		return run.res, err
	}
	if err := run.applyCredits(txs); err != nil {
		return run.res, err
	}
	run.tally()
	return run.res, run.emitOutcomes(recs)
}

func (run *ingestRun) reject(i int, code ledger.Code, msg string) {
	r := &run.res.Results[i]
	r.Status, r.Reason, r.Message = StatusRejected, string(code), msg
}

func (run *ingestRun) duplicate(i int, msg string) {
	r := &run.res.Results[i]
	r.Status, r.Reason, r.Message = StatusDuplicate, string(CodeDuplicate), msg
}

// loadOperator fails the whole batch, before any record is looked at, when
// the operator is unknown or suspended; it also loads the programme
// configuration every record is checked against.
func (run *ingestRun) loadOperator() error {
	operator, err := getOperator(run.ctx, run.tx, run.op)
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeNotFound {
			return ledger.Errf(ledger.CodeForbidden, "operator %s is not registered", run.op)
		}
		return err
	}
	if operator.Status != "active" {
		return ledger.Errf(CodeOperatorInactive, "operator %s is suspended", run.op)
	}
	run.allowed = map[string]bool{}
	for _, k := range operator.Kinds {
		run.allowed[k] = true
	}
	cfg, err := loadConfig(run.ctx, run.tx)
	if err != nil {
		return err
	}
	run.cfg = cfg
	return nil
}

// checkRecords is stage 1: the checks that need no lock, in Go. It fills
// every record's index and id and makes an item of each record it keeps.
func (run *ingestRun) checkRecords(recs []BehaviourRecord) {
	run.items = make([]*item, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		run.res.Results[i].Index, run.res.Results[i].RecordID = i, r.RecordID
		it, code, msg := run.checkRecord(r)
		if it == nil {
			run.reject(i, code, msg)
			continue
		}
		it.idx = i
		run.items = append(run.items, it)
	}
}

// checkRecord checks one record and makes its item, or says why not.
func (run *ingestRun) checkRecord(r *BehaviourRecord) (*item, ledger.Code, string) {
	now, cfg, op := run.now, run.cfg, run.op
	switch {
	case !validRecordID(r.RecordID):
		return nil, ledger.CodeInvalidRequest, fmt.Sprintf("record_id must be 1 to %d printable characters without spaces", RecordIDBytesMax)
	case !ledger.ValidIdent(r.Citizen):
		return nil, ledger.CodeInvalidRequest, "citizen must be an identifier of at most 64 characters"
	case !validCode(r.Kind, KindBytesMax) || !validCode(r.Unit, UnitBytesMax):
		return nil, ledger.CodeInvalidRequest, "kind and unit must be lowercase identifiers"
	case r.OccurredAt.IsZero():
		return nil, ledger.CodeInvalidRequest, "occurred_at is required"
	}
	at := r.OccurredAt.UTC().Truncate(time.Microsecond)
	if at.After(now.Add(FutureSkewMax)) {
		return nil, CodeTimeOutOfWindow, "occurred_at is in the future"
	}
	end, code, msg := recordEnd(r, at, now)
	if code != "" {
		return nil, code, msg
	}
	rules, ok := cfg.RulesAt(at)
	if !ok {
		return nil, CodeNoMethodology, "no programme rules were in effect at occurred_at"
	}
	if now.Sub(at) > time.Duration(rules.ReportingWindowDays)*24*time.Hour {
		return nil, CodeTimeOutOfWindow, fmt.Sprintf("occurred_at is older than the reporting window of %d days", rules.ReportingWindowDays)
	}
	if !run.allowed[r.Kind] {
		return nil, CodeKindNotAllowed, fmt.Sprintf("operator %s may not report %s", op, r.Kind)
	}
	m, ok := cfg.MethodologyAt(r.Kind, r.Unit, at)
	if !ok {
		return nil, CodeNoMethodology, fmt.Sprintf("no methodology for %s in %s was in effect at occurred_at", r.Kind, r.Unit)
	}
	q, err := m.ParseQuantity(r.Quantity)
	if err != nil {
		return nil, CodeQuantityRange, err.(*ledger.Error).Msg
	}
	if m.Grams(q) < 1 {
		return nil, CodeBelowOneGram, "the record is worth less than 1 g CO2e"
	}
	it := &item{rec: r, at: at, m: m, rules: rules, qty: q, day: Day(at), key: BehaviourKey(r.Citizen, r.Kind, r.Unit, at, q), end: end}
	if !end.IsZero() {
		it.group, it.total = rules.GroupOf(r.Kind), rules.IsDailyTotal(r.Kind)
		if it.total && end.After(dayStart(at).Add(24*time.Hour)) {
			return nil, ledger.CodeInvalidRequest, r.Kind + " reports are a day's total: the interval must lie within one day (China Standard Time)"
		}
	}
	return it, "", ""
}

// checkCitizens is stage 2: citizens and entrustments in one query, then
// the status of their pending accounts in one engine read, so that a
// frozen or closed account rejects its records up front and the engine
// call at the end is not expected to refuse anything.
func (run *ingestRun) checkCitizens() error {
	if len(run.items) == 0 {
		return nil
	}
	citizens := map[string]bool{}
	for _, it := range run.items {
		citizens[it.rec.Citizen] = true
	}
	rows, err := run.tx.Query(run.ctx, `
			SELECT c.id, COALESCE(e.active, false)
			FROM unnest($1::TEXT[]) AS v(id)
			JOIN points_citizens c ON c.id = v.id
			LEFT JOIN points_entrustments e ON e.citizen_id = v.id AND e.operator_id = $2`, keys(citizens), run.op)
	if err != nil {
		return err
	}
	entrusted := map[string]bool{}
	found := map[string]bool{}
	var pending []string
	var id string
	var active bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &active}, func() error {
		found[id], entrusted[id] = true, active
		pending = append(pending, ledger.CitizenPendingAccount(id))
		return nil
	}); err != nil {
		return err
	}
	accts, err := run.w.Accounts(pending)
	if err != nil {
		return err
	}
	status := func(c string) string {
		if a, ok := accts[ledger.CitizenPendingAccount(c)]; ok {
			return a.Status
		}
		return "missing"
	}
	for _, it := range run.items {
		switch c := it.rec.Citizen; {
		case !found[c]:
			run.reject(it.idx, CodeUnknownCitizen, "citizen "+c+" has no carbon account")
			it.dead = true
		case !entrusted[c]:
			run.reject(it.idx, CodeNotEntrusted, "citizen "+c+" has not entrusted operator "+run.op)
			it.dead = true
		case status(c) != "active":
			run.reject(it.idx, accountStatusCode(status(c)), "the carbon account of citizen "+c+" is "+status(c))
			it.dead = true
		}
	}
	run.items = live(run.items)
	return nil
}

// dropBatchDuplicates is stage 3: a record repeating the record id of an
// earlier one of the batch is a duplicate of it (the first wins) and is
// not recorded: its id is taken. A repeated behaviour is found under the
// locks (resolveIdentity), so that it is recorded as a duplicate.
func (run *ingestRun) dropBatchDuplicates() {
	seenRec := map[string]int{}
	run.repeats = map[int]int{}
	for _, it := range run.items {
		if j, ok := seenRec[it.rec.RecordID]; ok {
			run.duplicate(it.idx, fmt.Sprintf("record_id repeats record %d of this batch", j))
			run.res.Results[it.idx].DuplicateOf = &RecordRef{Operator: run.op, RecordID: it.rec.RecordID}
			run.repeats[it.idx] = j
			it.dead = true
			continue
		}
		seenRec[it.rec.RecordID] = it.idx
	}
	run.items = live(run.items)
}

// lockDays is stage 4: lock the usage row of every citizen-day (sorted),
// then read what was already recorded: a concurrent batch for the same
// citizen-day has committed by the time we hold the lock, so its keys,
// record ids and intervals are visible. resolveIdentity then judges each
// record against them. It returns the locked usage, which recordCredits
// updates.
func (run *ingestRun) lockDays() (map[usageKey]*dayUsage, error) {
	base := map[usageKey]*dayUsage{}
	if len(run.items) > 0 {
		var st *storedIdentity
		var err error
		if base, st, err = lockUsage(run.w, run.op, run.items); err != nil {
			return base, err
		}
		run.resolveIdentity(st)
	}
	return base, nil
}

// applyCaps is stage 5: caps, in record order, on a working copy of the
// locked usage. The copy, not base, because buildCredits may still reject
// items (of a frozen pool): recordCredits adds to base only the usage of
// the items that survive it.
func (run *ingestRun) applyCaps(base map[usageKey]*dayUsage) {
	work := map[usageKey]*dayUsage{}
	for k, u := range base {
		work[k] = u.clone()
	}
	for _, it := range run.items {
		if it.dup {
			it.caps = CapResult{ComputedGrams: it.m.Grams(it.qty), Quantity: decimal.Zero}
			continue
		}
		u := work[usageKey{it.rec.Citizen, it.day}]
		sc := u.scope(it.m.Scope())
		it.caps = ApplyCapsFrom(it.m, it.rules, it.prev, it.qty, DayUsage{KindGrams: sc.grams, KindQuantity: sc.qty, TotalGrams: u.grams})
		u.add(it.m.Scope(), it.caps)
	}
}

// recordCredits is stage 6: the credit transactions (built, not yet
// applied), then the behaviours and the new usage; the engine call comes
// last (applyCredits), so the operator pool's row (locked by every batch
// of the operator) is held only while the engine writes and the
// transaction commits.
func (run *ingestRun) recordCredits(base map[usageKey]*dayUsage) ([]*ledger.Transaction, error) {
	if err := checkPools(run.w, run.op, run.items, run.reject); err != nil {
		return nil, err
	}
	run.dropOrphans()
	run.items = live(run.items)
	txs, err := buildCredits(run.w, run.actor, run.op, run.items)
	if err != nil {
		return txs, err
	}
	if len(run.items) > 0 {
		for _, it := range run.items {
			run.settle(it, base)
		}
		if err := recordBehaviours(run.w, run.op, run.items, base); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				// Only a concurrent batch of the same operator re-using a
				// record id for another citizen gets here (same citizen-days
				// are serialised by the usage locks): nothing was written.
				return txs, ledger.Errf(ledger.CodeConflict, "a concurrent batch reported the same record; send this batch again (with the same Idempotency-Key)")
			}
			return txs, err
		}
	}
	return txs, nil
}

// dropOrphans rejects, in record order, the records that duplicate or top
// up a record of this batch that checkPools rejected: what they were
// judged against is not recorded, so they are refused with it and may be
// sent again.
func (run *ingestRun) dropOrphans() {
	for _, it := range run.items {
		if it.src != nil && it.src.dead && !it.dead {
			sr := run.res.Results[it.src.idx]
			run.reject(it.idx, ledger.Code(sr.Reason), fmt.Sprintf("record %d of this batch, which this record duplicates or tops up, was rejected: %s", it.src.idx, sr.Message))
			it.dead = true
		}
	}
}

// settle fills a recorded item's result and adds a counted one to the
// locked usage of its day.
func (run *ingestRun) settle(it *item, base map[usageKey]*dayUsage) {
	r := &run.res.Results[it.idx]
	id := it.id
	r.BehaviourID, r.ComputedGrams, r.Methodology, r.DuplicateOf = &id, it.caps.ComputedGrams, it.m.ID, it.dupOf
	if it.dup {
		return // status and message come from resolveIdentity
	}
	base[usageKey{it.rec.Citizen, it.day}].add(it.m.Scope(), it.caps)
	r.Reason = it.caps.Reason
	if it.caps.Grams > 0 {
		dl := run.now.Add(time.Duration(it.m.ClaimWindowDays) * 24 * time.Hour)
		txID := it.tx
		r.Status, r.Grams, r.Points, r.TransactionID, r.ClaimDeadline = StatusCredited, it.caps.Grams, it.caps.Grams, &txID, &dl
		run.res.GramsCredited += it.caps.Grams
	} else {
		r.Status, r.Message = StatusCapReached, "the daily cap is reached; the record is kept and credits nothing"
	}
	if it.dupOf != nil && r.Message == "" {
		r.Message = fmt.Sprintf("a larger total of the day than %s reported by %s (%s %s): only the difference counts",
			it.dupOf.RecordID, it.dupOf.Operator, it.prev.String(), it.rec.Unit)
	}
}

// applyCredits is stage 7: one engine call for every credit of the batch.
// The accounts were checked above; should the engine still refuse (an
// account frozen in the meantime), the whole batch fails, nothing is
// written, and sending it again rejects only the refused records.
func (run *ingestRun) applyCredits(txs []*ledger.Transaction) error {
	if len(txs) > 0 {
		if err := run.w.Apply(txs...); err != nil {
			return err
		}
	}
	return nil
}

// tally counts the outcomes once every record has its final status, and
// names the row a repeated record id of the batch repeats.
func (run *ingestRun) tally() {
	for i, j := range run.repeats {
		if id := run.res.Results[j].BehaviourID; id != nil {
			run.res.Results[i].DuplicateOf.BehaviourID = id
		}
	}
	for _, r := range run.res.Results {
		switch r.Status {
		case StatusCredited:
			run.res.Credited++
		case StatusDuplicate:
			run.res.Duplicates++
		case StatusCapReached:
			run.res.CapReached++
		default:
			run.res.Rejected++
		}
	}
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
