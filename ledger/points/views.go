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
	s := Summary{Citizen: citizen, Lots: []Lot{}}
	if err := canReadCitizen(actor, citizen); err != nil {
		return s, err
	}
	q := l.Pool()
	if _, err := getCitizen(ctx, q, citizen); err != nil {
		return s, err
	}
	now := l.Now()
	s.ExpiringSoonBefore = now.Add(ExpiringSoonWindow)
	pend, err := l.GetAccount(ctx, ledger.CitizenPendingAccount(citizen))
	if err != nil {
		return s, err
	}
	avail, err := l.GetAccount(ctx, ledger.CitizenAvailableAccount(citizen))
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
		SELECT id, earned_at, expires_at, points, remaining FROM points_lots
		WHERE citizen_id = $1 AND remaining > 0 ORDER BY earned_at, id LIMIT $2`, citizen, ledger.PageLimitMax)
	if err != nil {
		return s, err
	}
	s.Lots, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lot, error) {
		var lot Lot
		err := r.Scan(&lot.ID, &lot.EarnedAt, &lot.ExpiresAt, &lot.Points, &lot.Remaining)
		lot.EarnedAt, lot.ExpiresAt = lot.EarnedAt.UTC(), lot.ExpiresAt.UTC()
		return lot, err
	})
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
	OccurredAt    time.Time  `json:"occurred_at"`
	Methodology   string     `json:"methodology"`
	ComputedGrams int64      `json:"computed_grams,string"`
	Grams         int64      `json:"grams,string"`
	CapReason     string     `json:"cap_reason,omitempty"`
	ClaimState    string     `json:"claim_state,omitempty"`
	ClaimDeadline *time.Time `json:"claim_deadline,omitempty"`
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
	Behaviours      []BehaviourView `json:"behaviours,omitempty"` // behind an earned line
	Reward          string          `json:"reward,omitempty"`
	Pool            string          `json:"pool,omitempty"`
	CaseRef         string          `json:"case_ref,omitempty"`
}

type histRow struct {
	seq       int64
	amount    int64 // on this stream's account
	other     int64 // on the other account (available stream only)
	txID      uuid.UUID
	kind      string
	createdAt time.Time
	meta      map[string]string
}

// ListActivity pages a citizen's history, newest first. It reads the two
// accounts' postings as two streams, each paged by its own per-account
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
	q := l.Pool()
	if _, err := getCitizen(ctx, q, citizen); err != nil {
		return page, err
	}
	pendAcct, availAcct := ledger.CitizenPendingAccount(citizen), ledger.CitizenAvailableAccount(citizen)
	// Read-only queries on the engine's journal (postings, transactions):
	// the engine offers no joined, two-account history.
	scan := func(rows pgx.Rows) ([]histRow, error) {
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (histRow, error) {
			var h histRow
			err := r.Scan(&h.seq, &h.amount, &h.other, &h.txID, &h.kind, &h.createdAt, &h.meta)
			h.createdAt = h.createdAt.UTC()
			return h, err
		})
	}
	rows, err := q.Query(ctx, `
		SELECT p.seq, p.amount::BIGINT, 0::BIGINT, t.id, t.kind, t.created_at, t.metadata
		FROM postings p JOIN transactions t ON t.id = p.tx_id
		WHERE p.account_id = $1 AND p.shard = 0 AND p.seq < $2 AND p.phase = 'posted'
		  AND NOT EXISTS (SELECT 1 FROM postings o WHERE o.tx_id = p.tx_id AND o.account_id = $3)
		ORDER BY p.seq DESC LIMIT $4`, pendAcct, pCur, availAcct, limit+1)
	if err != nil {
		return page, err
	}
	pRows, err := scan(rows)
	if err != nil {
		return page, err
	}
	rows, err = q.Query(ctx, `
		SELECT p.seq, p.amount::BIGINT,
			COALESCE((SELECT sum(o.amount) FROM postings o WHERE o.tx_id = p.tx_id AND o.account_id = $3 AND o.phase = 'posted'), 0)::BIGINT,
			t.id, t.kind, t.created_at, t.metadata
		FROM postings p JOIN transactions t ON t.id = p.tx_id
		WHERE p.account_id = $1 AND p.shard = 0 AND p.seq < $2 AND p.phase = 'posted'
		ORDER BY p.seq DESC LIMIT $4`, availAcct, aCur, pendAcct, limit+1)
	if err != nil {
		return page, err
	}
	aRows, err := scan(rows)
	if err != nil {
		return page, err
	}

	pi, ai := 0, 0
	newer := func(a, b histRow) bool {
		if !a.createdAt.Equal(b.createdAt) {
			return a.createdAt.After(b.createdAt)
		}
		return bytes.Compare(a.txID[:], b.txID[:]) > 0
	}
	for len(page.Items) < limit && (pi < len(pRows) || ai < len(aRows)) {
		if ai >= len(aRows) || (pi < len(pRows) && newer(pRows[pi], aRows[ai])) {
			h := pRows[pi]
			page.Items = append(page.Items, activityItem(h, h.amount, 0))
			pCur, pi = h.seq, pi+1
		} else {
			h := aRows[ai]
			page.Items = append(page.Items, activityItem(h, h.other, h.amount))
			aCur, ai = h.seq, ai+1
		}
	}
	if pi < len(pRows) || ai < len(aRows) {
		page.NextCursor = ledger.EncodeCursor(pCur, aCur)
	}

	// The behaviours behind each credit, in one query: a credit
	// transaction pays several citizens, and a citizen may have several
	// records in it.
	var txIDs []uuid.UUID
	for _, it := range page.Items {
		if it.Type == ActivityEarned {
			txIDs = append(txIDs, it.TransactionID)
		}
	}
	if len(txIDs) == 0 {
		return page, nil
	}
	rows, err = q.Query(ctx, `
		SELECT id, tx_id, operator_id, operator_record_id, kind, quantity::TEXT, unit, occurred_at, methodology_id,
			computed_grams, grams, cap_reason, COALESCE(claim_state, ''), claim_deadline
		FROM points_behaviours WHERE tx_id = ANY($1::UUID[]) AND citizen_id = $2
		ORDER BY occurred_at, id`, txIDs, citizen)
	if err != nil {
		return page, err
	}
	byTx := map[uuid.UUID][]BehaviourView{}
	for rows.Next() {
		var b BehaviourView
		var tx uuid.UUID
		if err := rows.Scan(&b.ID, &tx, &b.Operator, &b.RecordID, &b.Kind, &b.Quantity, &b.Unit, &b.OccurredAt, &b.Methodology,
			&b.ComputedGrams, &b.Grams, &b.CapReason, &b.ClaimState, &b.ClaimDeadline); err != nil {
			rows.Close()
			return page, err
		}
		b.OccurredAt, b.ClaimDeadline, b.Quantity = b.OccurredAt.UTC(), utcPtr(b.ClaimDeadline), trimZeros(b.Quantity)
		byTx[tx] = append(byTx[tx], b)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	for i := range page.Items {
		it := &page.Items[i]
		if it.Type != ActivityEarned {
			continue
		}
		it.Behaviours = byTx[it.TransactionID]
		var parts []string
		for _, b := range it.Behaviours {
			parts = append(parts, fmt.Sprintf("%s %s %s (%d g CO2e under %s)", b.Kind, b.Quantity, b.Unit, b.Grams, b.Methodology))
		}
		if len(parts) > 0 {
			it.Description = fmt.Sprintf("Earned %d points: %s", it.PendingChange, strings.Join(parts, "; "))
		}
	}
	return page, nil
}

func activityItem(h histRow, pending, available int64) ActivityItem {
	it := ActivityItem{At: h.createdAt, PendingChange: pending, AvailableChange: available, TransactionID: h.txID}
	switch h.kind {
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
		it.Type, it.Reward = ActivityRedeemed, h.meta["reward"]
		it.Description = fmt.Sprintf("Redeemed %d points for %s", -available, nonEmpty(h.meta["title"], h.meta["reward"]))
	case KindDonate:
		it.Type, it.Pool = ActivityDonated, h.meta["pool"]
		it.Description = fmt.Sprintf("Donated %d points to %s", -available, h.meta["pool"])
	case KindClawback:
		it.Type, it.CaseRef = ActivityReversed, h.meta["case_ref"]
		it.Description = fmt.Sprintf("%d points reversed (fraud case %s)", -(pending + available), h.meta["case_ref"])
	default:
		it.Type, it.Description = ActivityAdjusted, fmt.Sprintf("Adjustment (%s): %+d points", h.kind, pending+available)
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

// trimZeros renders a NUMERIC quantity without trailing zeros ("12.000000" -> "12").
func trimZeros(s string) string {
	if !bytes.ContainsRune([]byte(s), '.') {
		return s
	}
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return trimSuffixDot(s)
}

func trimSuffixDot(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}
