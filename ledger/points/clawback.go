package points

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// ClawbackInput names fraudulent credits of one citizen and the case.
type ClawbackInput struct {
	Citizen    string      `json:"citizen"`
	Behaviours []uuid.UUID `json:"behaviours"`
	CaseRef    string      `json:"case_ref"`
	Reason     string      `json:"reason"`
}

// Clawback is what a fraud case took back.
type Clawback struct {
	ID                uuid.UUID  `json:"id"`
	Citizen           string     `json:"citizen"`
	CaseRef           string     `json:"case_ref"`
	Reason            string     `json:"reason"`
	Behaviours        int        `json:"behaviours"`
	BehaviourGrams    int64      `json:"behaviour_grams,string"`    // what the credits were worth
	ReversedPending   int64      `json:"reversed_pending,string"`   // unclaimed points taken back
	ReversedAvailable int64      `json:"reversed_available,string"` // claimed points still in their lots, taken back
	ShortfallPoints   int64      `json:"shortfall_points,string"`   // already redeemed, donated or expired: not recoverable
	ReversedGrams     int64      `json:"reversed_grams,string"`     // reductions taken out of operator pools
	TransactionID     *uuid.UUID `json:"transaction_id,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
}

func (in ClawbackInput) validate() (ClawbackInput, error) {
	if !ledger.ValidIdent(in.Citizen) {
		return in, ledger.Errf(ledger.CodeInvalidRequest, "citizen must be an identifier").At("citizen")
	}
	if len(in.Behaviours) == 0 || len(in.Behaviours) > ClawbackBehavioursMax {
		return in, ledger.Errf(ledger.CodeInvalidRequest, "behaviours must list 1 to %d credits", ClawbackBehavioursMax).At("behaviours")
	}
	seen := map[uuid.UUID]bool{}
	for i, id := range in.Behaviours {
		if seen[id] {
			return in, ledger.Errf(ledger.CodeInvalidRequest, "behaviour %s is listed twice", id).At("behaviours[" + strconv.Itoa(i) + "]")
		}
		seen[id] = true
	}
	if err := validText(in.CaseRef, CaseRefBytesMax); err != nil {
		return in, err.At("case_ref")
	}
	if err := validText(in.Reason, ReasonBytesMax); err != nil {
		return in, err.At("reason")
	}
	in.CaseRef, in.Reason = strings.TrimSpace(in.CaseRef), strings.TrimSpace(in.Reason)
	return in, nil
}

// ClawBack reverses fraudulent credits (province only): what remains of
// them is taken back, never below zero. Unclaimed points leave the pending
// account; claimed points leave the lots they went into, up to what those
// lots still hold; points already redeemed, donated or expired are the
// shortfall. The reductions leave the operators' pools, up to what the
// pools still hold, to programme:CO2E:reversed. A credit is clawed back at
// most once.
func ClawBack(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in ClawbackInput) (Clawback, bool, error) {
	if err := requireProvince(actor); err != nil {
		return Clawback{}, false, err
	}
	v, err := in.validate()
	if err != nil {
		return Clawback{}, false, err
	}
	return ledger.Run(ctx, l, ledger.Key{Scope: actor.ID(), Key: key}, "points.clawback", in, func(w *ledger.Writer) (Clawback, error) {
		return clawBack(w, actor, v)
	})
}

func clawBack(w *ledger.Writer, actor ledger.Actor, in ClawbackInput) (Clawback, error) {
	ctx, tx, now := w.Ctx(), w.Tx(), w.Now()
	c := Clawback{ID: newID(), Citizen: in.Citizen, CaseRef: in.CaseRef, Reason: in.Reason, Behaviours: len(in.Behaviours), CreatedAt: now}
	if _, err := lockCitizen(w, in.Citizen); err != nil {
		return c, err
	}
	rows, err := tx.Query(ctx, `
		SELECT id, citizen_id, status, grams, COALESCE(claim_state, ''), lot_id, operator_id, methodology_id, occurred_at, reversed_by
		FROM points_behaviours WHERE id = ANY($1::UUID[]) ORDER BY id FOR UPDATE`, in.Behaviours)
	if err != nil {
		return c, err
	}
	type beh struct {
		id          uuid.UUID
		citizen     string
		status      string
		grams       int64
		state       string
		lot         *uuid.UUID
		operator    string
		methodology string
		at          time.Time
		reversedBy  *uuid.UUID
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (beh, error) {
		var b beh
		err := r.Scan(&b.id, &b.citizen, &b.status, &b.grams, &b.state, &b.lot, &b.operator, &b.methodology, &b.at, &b.reversedBy)
		return b, err
	})
	if err != nil {
		return c, err
	}
	found := map[uuid.UUID]bool{}
	for _, b := range bs {
		found[b.id] = true
	}
	for i, id := range in.Behaviours {
		if !found[id] {
			return c, ledger.Errf(ledger.CodeNotFound, "behaviour %s not found", id).At("behaviours[" + strconv.Itoa(i) + "]")
		}
	}
	var pendingPts int64
	perLot := map[uuid.UUID]int64{}
	perPool := map[string]int64{}
	for _, b := range bs {
		switch {
		case b.citizen != in.Citizen:
			return c, ledger.Errf(ledger.CodeInvalidRequest, "behaviour %s belongs to another citizen", b.id).At("behaviours")
		case b.status != StatusCredited:
			return c, ledger.Errf(ledger.CodeInvalidRequest, "behaviour %s credited nothing", b.id).At("behaviours")
		case b.reversedBy != nil:
			return c, ledger.Errf(CodeAlreadyClawedBack, "behaviour %s was already clawed back", b.id).At("behaviours")
		}
		c.BehaviourGrams += b.grams
		switch b.state {
		case "pending":
			pendingPts += b.grams
		case "claimed":
			if b.lot != nil {
				perLot[*b.lot] += b.grams
			}
		}
		perPool[PoolAccount(b.operator, b.methodology, Period(b.at))] += b.grams
	}

	// Claimed points: what their lots still hold, up to the credits' worth.
	var takes []Take
	if len(perLot) > 0 {
		ids := make([]uuid.UUID, 0, len(perLot))
		for id := range perLot {
			ids = append(ids, id)
		}
		rows, err := tx.Query(ctx, `SELECT id, remaining FROM points_lots WHERE id = ANY($1::UUID[]) ORDER BY id`, ids)
		if err != nil {
			return c, err
		}
		for rows.Next() {
			var id uuid.UUID
			var rem int64
			if err := rows.Scan(&id, &rem); err != nil {
				rows.Close()
				return c, err
			}
			if n := min(rem, perLot[id]); n > 0 {
				takes = append(takes, Take{LotID: id, Points: n})
				c.ReversedAvailable += n
			}
		}
		if err := rows.Err(); err != nil {
			return c, err
		}
	}
	c.ReversedPending = pendingPts
	c.ShortfallPoints = c.BehaviourGrams - c.ReversedPending - c.ReversedAvailable

	// Reductions: what each pool still holds, up to the credits' worth.
	pools := make([]string, 0, len(perPool))
	for p := range perPool {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	if len(pools) > ledger.PostingsPerTransactionMax-4 {
		return c, ledger.Errf(ledger.CodeLimitExceeded, "the credits span %d operator pools; claw back at most %d at a time", len(pools), ledger.PostingsPerTransactionMax-4)
	}
	var legs []ledger.PostingInput
	for _, p := range pools {
		a, err := w.Account(p)
		if err != nil {
			return c, err
		}
		if n := min(a.Available.IntPart(), perPool[p]); n > 0 {
			legs = append(legs, ledger.PostingInput{Account: p, Amount: decimal.NewFromInt(-n)})
			c.ReversedGrams += n
		}
	}
	if c.ReversedGrams > 0 {
		legs = append(legs, ledger.PostingInput{Account: CO2EReversed, Amount: decimal.NewFromInt(c.ReversedGrams)})
	}
	if c.ReversedPending > 0 {
		legs = append(legs, ledger.PostingInput{Account: ledger.CitizenPendingAccount(in.Citizen), Amount: decimal.NewFromInt(-c.ReversedPending)})
	}
	if c.ReversedAvailable > 0 {
		legs = append(legs, ledger.PostingInput{Account: ledger.CitizenAvailableAccount(in.Citizen), Amount: decimal.NewFromInt(-c.ReversedAvailable)})
	}
	if pts := c.ReversedPending + c.ReversedAvailable; pts > 0 {
		legs = append(legs, ledger.PostingInput{Account: ProgrammeReversed, Amount: decimal.NewFromInt(pts)})
	}
	if len(legs) > 0 {
		if err := ensureProgrammeAccounts(w); err != nil {
			return c, err
		}
		t, err := w.Build(actor, ledger.TxInput{Kind: KindClawback, Postings: legs, Metadata: map[string]string{
			"citizen": in.Citizen, "case_ref": in.CaseRef, "clawback": c.ID.String(), "behaviours": strconv.Itoa(c.Behaviours),
		}})
		if err != nil {
			return c, err
		}
		if err := w.Apply(t); err != nil {
			return c, err
		}
		id := t.ID
		c.TransactionID = &id
		if err := takeLots(w, t.ID, takes, "reversed"); err != nil {
			return c, err
		}
	}
	if _, err := tx.Exec(ctx, `
		UPDATE points_behaviours SET reversed_by = $2,
			claim_state = CASE WHEN claim_state = 'pending' THEN 'reversed' ELSE claim_state END
		WHERE id = ANY($1::UUID[])`, in.Behaviours, c.ID); err != nil {
		return c, err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO points_clawbacks (id, citizen_id, case_ref, reason, behaviours, behaviour_grams, reversed_pending,
			reversed_available, reversed_grams, tx_id, actor, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, c.Citizen, c.CaseRef, c.Reason, c.Behaviours, c.BehaviourGrams, c.ReversedPending, c.ReversedAvailable,
		c.ReversedGrams, c.TransactionID, actor.ID(), now); err != nil {
		return c, err
	}
	return c, addEvent(w, "clawback", "citizen:"+in.Citizen, actor, c)
}
