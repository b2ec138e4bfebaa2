package points

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Summary is a citizen's carbon account at a glance (GET /v1/me).
type Summary struct {
	Citizen            string     `json:"citizen"`
	PendingPoints      int64      `json:"pending_points,string"`   // balance of citizen:{id}:CP:pending
	ClaimablePoints    int64      `json:"claimable_points,string"` // pending and still inside the claim window
	NextClaimDeadline  *time.Time `json:"next_claim_deadline,omitempty"`
	AvailablePoints    int64      `json:"available_points,string"` // balance of citizen:{id}:CP:available
	LifetimeGrams      int64      `json:"lifetime_grams,string"`   // reductions credited, less clawbacks
	ExpiringSoonPoints int64      `json:"expiring_soon_points,string"`
	ExpiringSoonBefore time.Time  `json:"expiring_soon_before"`
	NextExpiry         *time.Time `json:"next_expiry,omitempty"`
	Lots               []Lot      `json:"lots"`
}

// GetSummary returns a citizen's summary: to the citizen, the province and
// auditors only.
func GetSummary(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, citizen string) (Summary, error) {
	if err := canReadCitizen(actor, citizen); err != nil {
		return Summary{Citizen: citizen, Lots: []Lot{}}, err
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (Summary, error) { return summary(r, citizen, l.Now()) })
}

func summary(r *ledger.Reader, citizen string, now time.Time) (Summary, error) {
	s := Summary{Citizen: citizen, Lots: []Lot{}, ExpiringSoonBefore: now.Add(ExpiringSoonWindow)}
	ctx, q := r.Ctx(), r.Tx()
	if _, err := getCitizen(ctx, q, citizen); err != nil {
		return s, err
	}
	pend, err := r.Account(ledger.CitizenPendingAccount(citizen))
	if err != nil {
		return s, err
	}
	avail, err := r.Account(ledger.CitizenAvailableAccount(citizen))
	if err != nil {
		return s, err
	}
	s.PendingPoints, s.AvailablePoints = pend.Balance.IntPart(), avail.Available.IntPart()
	err = q.QueryRow(ctx, `
		SELECT
			(SELECT COALESCE(sum(grams), 0) FROM points_daily_usage WHERE citizen_id = $1)::BIGINT
			  - (SELECT COALESCE(sum(behaviour_grams), 0) FROM points_clawbacks WHERE citizen_id = $1)::BIGINT,
			(SELECT COALESCE(sum(grams), 0) FROM points_behaviours WHERE citizen_id = $1 AND claim_state = 'pending' AND claim_deadline > $2)::BIGINT,
			(SELECT min(claim_deadline) FROM points_behaviours WHERE citizen_id = $1 AND claim_state = 'pending' AND claim_deadline > $2),
			(SELECT COALESCE(sum(remaining), 0) FROM points_lots WHERE citizen_id = $1 AND remaining > 0 AND expires_at <= $3)::BIGINT,
			(SELECT min(expires_at) FROM points_lots WHERE citizen_id = $1 AND remaining > 0)`,
		citizen, now, s.ExpiringSoonBefore).Scan(&s.LifetimeGrams, &s.ClaimablePoints, &s.NextClaimDeadline, &s.ExpiringSoonPoints, &s.NextExpiry)
	if err != nil {
		return s, err
	}
	s.NextClaimDeadline, s.NextExpiry = utcPtr(s.NextClaimDeadline), utcPtr(s.NextExpiry)
	rows, err := q.Query(ctx, `
		SELECT `+lotColumns+` FROM points_lots
		WHERE citizen_id = $1 AND remaining > 0 ORDER BY earned_at, id LIMIT $2`, citizen, ledger.PageLimitMax)
	if err != nil {
		return s, err
	}
	s.Lots, err = pgx.CollectRows(rows, scanLot)
	return s, err
}

// BehaviourView is the behaviour behind a credit, for the citizen.
type BehaviourView struct {
	ID            uuid.UUID  `json:"id"`
	Operator      string     `json:"operator"`
	RecordID      string     `json:"record_id"`
	Kind          string     `json:"kind"`
	Quantity      string     `json:"quantity"`
	Unit          string     `json:"unit"`
	OccurredAt    time.Time  `json:"occurred_at"`        // with an interval, its start
	EndedAt       *time.Time `json:"ended_at,omitempty"` // the interval's end
	Status        string     `json:"status"`             // credited, cap_reached or duplicate
	Methodology   string     `json:"methodology"`
	ComputedGrams int64      `json:"computed_grams,string"`
	Grams         int64      `json:"grams,string"`
	CapReason     string     `json:"cap_reason,omitempty"`
	ClaimState    string     `json:"claim_state,omitempty"`
	ClaimDeadline *time.Time `json:"claim_deadline,omitempty"`
	// DuplicateOf names, for a duplicate, the record credited instead (it
	// is listed under that record's credit); for a credited day's total,
	// the smaller report of the day it tops up.
	DuplicateOf *RecordRef `json:"duplicate_of,omitempty"`
}

// Activity types, in plain terms.
const (
	ActivityEarned   = "earned"
	ActivityClaimed  = "claimed"
	ActivityLapsed   = "lapsed"
	ActivityExpired  = "expired"
	ActivityRedeemed = "redeemed"
	ActivityDonated  = "donated"
	ActivityReversed = "reversed"
	ActivityAdjusted = "adjusted"
)

// ActivityItem is one line of a citizen's history.
type ActivityItem struct {
	Type            string          `json:"type"`
	Description     string          `json:"description"`
	At              time.Time       `json:"at"`
	PendingChange   int64           `json:"pending_change,string"`
	AvailableChange int64           `json:"available_change,string"`
	TransactionID   uuid.UUID       `json:"transaction_id"`
	Behaviours      []BehaviourView `json:"behaviours,omitempty"` // behind an earned line, then the reports found to duplicate them
	Reward          string          `json:"reward,omitempty"`
	Pool            string          `json:"pool,omitempty"`
	CaseRef         string          `json:"case_ref,omitempty"`
}

// histRow is one line of either account's history, with what its
// transaction posted on each of the two accounts and the positions of
// both streams once it is listed (the next page's cursor).
type histRow struct {
	ledger.HistoryLine
	pending, available int64
	pCur, aCur         int64
}

// ListActivity pages a citizen's history, newest first. It reads the two
// accounts' histories as two streams, each paged by its own per-account
// sequence (commit order), and merges them by time: the cursor holds both
// positions, so no line is skipped or repeated when new ones commit
// between pages. A transaction touching both accounts (a claim) is listed
// once, from the available account.
func ListActivity(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, citizen string, limit int, cursor string) (ledger.Page[ActivityItem], error) {
	page := ledger.Page[ActivityItem]{Items: []ActivityItem{}}
	if err := canReadCitizen(actor, citizen); err != nil {
		return page, err
	}
	limit = ledger.ClampLimit(limit)
	pCur, aCur := int64(math.MaxInt64), int64(math.MaxInt64)
	if cursor != "" {
		if err := ledger.DecodeCursor(cursor, &pCur, &aCur); err != nil {
			return page, err
		}
	}
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (ledger.Page[ActivityItem], error) {
		if _, err := getCitizen(r.Ctx(), r.Tx(), citizen); err != nil {
			return page, err
		}
		pRows, aRows, err := activityStreams(r, citizen, pCur, aCur, limit+1)
		if err != nil {
			return page, err
		}
		lines := ledger.PageOf(mergeActivity(pRows, aRows, pCur, aCur, limit+1), limit, func(h histRow) string {
			return ledger.EncodeCursor(h.pCur, h.aCur)
		})
		page.NextCursor = lines.NextCursor
		for _, h := range lines.Items {
			page.Items = append(page.Items, activityItem(h))
		}
		return page, attachBehaviours(r, citizen, page.Items)
	})
}

// activityStreams reads up to n lines of each account below its cursor
// position: the pending account's without the transactions that touched
// the available account too (listed from there), and the available
// account's with what their transactions posted on the pending account.
func activityStreams(r *ledger.Reader, citizen string, pCur, aCur int64, n int) (pRows, aRows []histRow, err error) {
	pend, avail := ledger.CitizenPendingAccount(citizen), ledger.CitizenAvailableAccount(citizen)
	// Skipped lines do not count: page on until n lines or the end.
	for before := pCur; len(pRows) < n; {
		lines, err := r.History(pend, before, n)
		if err != nil {
			return nil, nil, err
		}
		both, err := r.AmountsOn(txIDsOf(lines), avail)
		if err != nil {
			return nil, nil, err
		}
		for _, h := range lines {
			if _, ok := both[h.TxID]; !ok && len(pRows) < n {
				pRows = append(pRows, histRow{HistoryLine: h, pending: h.Amount.IntPart()})
			}
		}
		if len(lines) < n {
			break
		}
		before = lines[len(lines)-1].Seq
	}
	lines, err := r.History(avail, aCur, n)
	if err != nil {
		return nil, nil, err
	}
	other, err := r.AmountsOn(txIDsOf(lines), pend)
	for _, h := range lines {
		aRows = append(aRows, histRow{HistoryLine: h, pending: other[h.TxID].IntPart(), available: h.Amount.IntPart()})
	}
	return pRows, aRows, err
}

func txIDsOf(lines []ledger.HistoryLine) []uuid.UUID {
	ids := make([]uuid.UUID, len(lines))
	for i, h := range lines {
		ids[i] = h.TxID
	}
	return ids
}

// mergeActivity merges the streams by time, newest first (ties by
// transaction id), up to n lines, each carrying both positions after it.
func mergeActivity(pRows, aRows []histRow, pCur, aCur int64, n int) []histRow {
	newer := func(a, b histRow) bool {
		if !a.TxCreatedAt.Equal(b.TxCreatedAt) {
			return a.TxCreatedAt.After(b.TxCreatedAt)
		}
		return bytes.Compare(a.TxID[:], b.TxID[:]) > 0
	}
	var out []histRow
	for len(out) < n && (len(pRows) > 0 || len(aRows) > 0) {
		var h histRow
		if len(aRows) == 0 || (len(pRows) > 0 && newer(pRows[0], aRows[0])) {
			h, pRows = pRows[0], pRows[1:]
			pCur = h.Seq
		} else {
			h, aRows = aRows[0], aRows[1:]
			aCur = h.Seq
		}
		h.pCur, h.aCur = pCur, aCur
		out = append(out, h)
	}
	return out
}

// attachBehaviours adds the behaviours behind each credit, in one query:
// a credit transaction pays several citizens, and a citizen may have
// several records in it. After them come the reports found to duplicate
// them, each naming the record it duplicates: a duplicate moves no points,
// so it is shown with the credit it did not repeat.
func attachBehaviours(r *ledger.Reader, citizen string, items []ActivityItem) error {
	var txIDs []uuid.UUID
	for _, it := range items {
		if it.Type == ActivityEarned {
			txIDs = append(txIDs, it.TransactionID)
		}
	}
	if len(txIDs) == 0 {
		return nil
	}
	rows, err := r.Tx().Query(r.Ctx(), `
		SELECT b.id, t.tx, b.operator_id, b.operator_record_id, b.kind, b.quantity, b.unit, b.occurred_at, b.ended_at, b.status,
			b.methodology_id, b.computed_grams, b.grams, b.cap_reason, COALESCE(b.claim_state, ''), b.claim_deadline,
			o.id, COALESCE(o.operator_id, ''), COALESCE(o.operator_record_id, '')
		FROM (
			SELECT id, tx_id AS tx, 0 AS part FROM points_behaviours WHERE tx_id = ANY($1::UUID[]) AND citizen_id = $2
			UNION ALL
			SELECT d.id, c.tx_id, 1 FROM points_behaviours c JOIN points_behaviours d ON d.duplicate_of = c.id
			WHERE c.tx_id = ANY($1::UUID[]) AND c.citizen_id = $2 AND d.status = 'duplicate'
		) AS t
		JOIN points_behaviours b ON b.id = t.id
		LEFT JOIN points_behaviours o ON o.id = b.duplicate_of
		ORDER BY t.part, b.occurred_at, b.id`, txIDs, citizen)
	if err != nil {
		return err
	}
	byTx := map[uuid.UUID][]BehaviourView{}
	var b BehaviourView
	var tx uuid.UUID
	var qty decimal.Decimal
	var orig *uuid.UUID
	var ref RecordRef
	if _, err := pgx.ForEachRow(rows, []any{&b.ID, &tx, &b.Operator, &b.RecordID, &b.Kind, &qty, &b.Unit, &b.OccurredAt, &b.EndedAt, &b.Status,
		&b.Methodology, &b.ComputedGrams, &b.Grams, &b.CapReason, &b.ClaimState, &b.ClaimDeadline, &orig, &ref.Operator, &ref.RecordID}, func() error {
		// The quantity without the NUMERIC's trailing zeros ("12.000000" -> "12").
		v := b
		v.OccurredAt, v.EndedAt, v.ClaimDeadline, v.Quantity = b.OccurredAt.UTC(), utcPtr(b.EndedAt), utcPtr(b.ClaimDeadline), qty.String()
		if orig != nil {
			v.DuplicateOf = &RecordRef{BehaviourID: new(*orig), Operator: ref.Operator, RecordID: ref.RecordID}
		}
		byTx[tx] = append(byTx[tx], v)
		return nil
	}); err != nil {
		return err
	}
	for i := range items {
		if it := &items[i]; it.Type == ActivityEarned {
			it.Behaviours = byTx[it.TransactionID]
			describeEarned(it)
		}
	}
	return nil
}

// describeEarned says what an earned line's records were, and which
// reports of them were duplicates.
func describeEarned(it *ActivityItem) {
	var parts, dups []string
	for _, b := range it.Behaviours {
		if b.Status == StatusDuplicate && b.DuplicateOf != nil {
			dups = append(dups, fmt.Sprintf("%s %s %s reported by %s as %s duplicates %s of %s", b.Kind, b.Quantity, b.Unit,
				b.Operator, b.RecordID, b.DuplicateOf.RecordID, b.DuplicateOf.Operator))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s %s (%d g CO2e under %s)", b.Kind, b.Quantity, b.Unit, b.Grams, b.Methodology))
	}
	if len(parts) > 0 {
		it.Description = fmt.Sprintf("Earned %d points: %s", it.PendingChange, strings.Join(parts, "; "))
	}
	if len(dups) > 0 {
		it.Description += ". Not credited again: " + strings.Join(dups, "; ")
	}
}

func activityItem(h histRow) ActivityItem {
	pending, available := h.pending, h.available
	it := ActivityItem{At: h.TxCreatedAt, PendingChange: pending, AvailableChange: available, TransactionID: h.TxID}
	switch h.Kind {
	case KindCredit:
		it.Type = ActivityEarned
		it.Description = fmt.Sprintf("Earned %d points", pending)
	case KindClaim:
		it.Type, it.Description = ActivityClaimed, fmt.Sprintf("Claimed %d points; they are now available", available)
	case KindExpire:
		if available == 0 {
			it.Type, it.Description = ActivityLapsed, fmt.Sprintf("%d unclaimed points lapsed after the claim window", -pending)
		} else {
			it.Type, it.Description = ActivityExpired, fmt.Sprintf("%d points expired", -(pending+available))
		}
	case KindRedeem:
		it.Type, it.Reward = ActivityRedeemed, h.TxMetadata["reward"]
		it.Description = fmt.Sprintf("Redeemed %d points for %s", -available, nonEmpty(h.TxMetadata["title"], h.TxMetadata["reward"]))
	case KindDonate:
		it.Type, it.Pool = ActivityDonated, h.TxMetadata["pool"]
		it.Description = fmt.Sprintf("Donated %d points to %s", -available, h.TxMetadata["pool"])
	case KindClawback:
		it.Type, it.CaseRef = ActivityReversed, h.TxMetadata["case_ref"]
		it.Description = fmt.Sprintf("%d points reversed (fraud case %s)", -(pending + available), h.TxMetadata["case_ref"])
	default:
		it.Type, it.Description = ActivityAdjusted, fmt.Sprintf("Adjustment (%s): %+d points", h.Kind, pending+available)
	}
	return it
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
