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
	if err := actor.Require(ledger.RoleProvince); err != nil {
		return Clawback{}, false, err
	}
	v, err := in.validate()
	if err != nil {
		return Clawback{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.clawback", in, func(w *ledger.Writer) (Clawback, error) {
		return clawBack(w, actor, v)
	})
}

func clawBack(w *ledger.Writer, actor ledger.Actor, in ClawbackInput) (Clawback, error) {
	run := &clawbackRun{w: w, ctx: w.Ctx(), tx: w.Tx(), now: w.Now(), actor: actor, in: in}
	run.c = Clawback{ID: ledger.NewID(), Citizen: in.Citizen, CaseRef: in.CaseRef, Reason: in.Reason, Behaviours: len(in.Behaviours), CreatedAt: run.now}
	bs, err := run.loadBehaviours()
	if err != nil {
		return run.c, err
	}
	if err := run.sumBehaviours(bs); err != nil {
		return run.c, err
	}
	if err := run.planLotTakes(); err != nil {
		return run.c, err
	}
	legs, err := run.buildLegs()
	if err != nil {
		return run.c, err
	}
	if err := run.postReversal(legs); err != nil {
		return run.c, err
	}
	err = run.record()
	return run.c, err
}

// clawbackRun carries one clawback through the stages of clawBack: the
// result c fills up as they go, and the credits' worth is split per
// claim state, lot and pool for the stages that take it back.
type clawbackRun struct {
	w          *ledger.Writer
	ctx        context.Context
	tx         pgx.Tx
	now        time.Time
	actor      ledger.Actor
	in         ClawbackInput
	c          Clawback
	pendingPts int64               // unclaimed points, still in the pending account
	perLot     map[uuid.UUID]int64 // claimed points, by the lot they went into
	perPool    map[string]int64    // reductions, by operator pool
	takes      []Take              // what the lots give back
}

// clawedBehaviour is one credit named by a clawback, as locked.
type clawedBehaviour struct {
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

// loadBehaviours locks the citizen, then the named behaviours, and fails
// unless every one of them exists.
func (run *clawbackRun) loadBehaviours() ([]clawedBehaviour, error) {
	if _, err := lockCitizen(run.w, run.in.Citizen); err != nil {
		return nil, err
	}
	rows, err := run.tx.Query(run.ctx, `
		SELECT id, citizen_id, status, grams, COALESCE(claim_state, ''), lot_id, operator_id, methodology_id, occurred_at, reversed_by
		FROM points_behaviours WHERE id = ANY($1::UUID[]) ORDER BY id FOR UPDATE`, run.in.Behaviours)
	if err != nil {
		return nil, err
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (clawedBehaviour, error) {
		var b clawedBehaviour
		err := r.Scan(&b.id, &b.citizen, &b.status, &b.grams, &b.state, &b.lot, &b.operator, &b.methodology, &b.at, &b.reversedBy)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	found := map[uuid.UUID]bool{}
	for _, b := range bs {
		found[b.id] = true
	}
	for i, id := range run.in.Behaviours {
		if !found[id] {
			return nil, ledger.Errf(ledger.CodeNotFound, "behaviour %s not found", id).At("behaviours[" + strconv.Itoa(i) + "]")
		}
	}
	return bs, nil
}

// sumBehaviours fails unless every behaviour is an unreversed credit of
// the citizen, and splits what the credits were worth by where their
// points are now (pending, or the lot they were claimed into) and by the
// operator pool their reductions went to.
func (run *clawbackRun) sumBehaviours(bs []clawedBehaviour) error {
	run.perLot = map[uuid.UUID]int64{}
	run.perPool = map[string]int64{}
	for _, b := range bs {
		switch {
		case b.citizen != run.in.Citizen:
			return ledger.Errf(ledger.CodeInvalidRequest, "behaviour %s belongs to another citizen", b.id).At("behaviours")
		case b.status != StatusCredited:
			return ledger.Errf(ledger.CodeInvalidRequest, "behaviour %s credited nothing", b.id).At("behaviours")
		case b.reversedBy != nil:
			return ledger.Errf(CodeAlreadyClawedBack, "behaviour %s was already clawed back", b.id).At("behaviours")
		}
		run.c.BehaviourGrams += b.grams
		switch b.state {
		case "pending":
			run.pendingPts += b.grams
		case "claimed":
			if b.lot != nil {
				run.perLot[*b.lot] += b.grams
			}
		}
		run.perPool[PoolAccount(b.operator, b.methodology, Period(b.at))] += b.grams
	}
	return nil
}

// planLotTakes decides what claimed points come back: what their lots
// still hold, up to the credits' worth (postReversal takes them). The
// rest of the points, neither pending nor in a lot any more, is the
// shortfall.
func (run *clawbackRun) planLotTakes() error {
	c := &run.c
	if len(run.perLot) > 0 {
		ids := make([]uuid.UUID, 0, len(run.perLot))
		for id := range run.perLot {
			ids = append(ids, id)
		}
		rows, err := run.tx.Query(run.ctx, `SELECT id, remaining FROM points_lots WHERE id = ANY($1::UUID[]) ORDER BY id`, ids)
		if err != nil {
			return err
		}
		var id uuid.UUID
		var rem int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &rem}, func() error {
			if n := min(rem, run.perLot[id]); n > 0 {
				run.takes = append(run.takes, Take{LotID: id, Points: n})
				c.ReversedAvailable += n
			}
			return nil
		}); err != nil {
			return err
		}
	}
	c.ReversedPending = run.pendingPts
	c.ShortfallPoints = c.BehaviourGrams - c.ReversedPending - c.ReversedAvailable
	return nil
}

// buildLegs takes the reductions back from what each pool still holds, up
// to the credits' worth (pools sorted, so the legs come in a stable
// order), and adds the legs of the points planLotTakes decided.
func (run *clawbackRun) buildLegs() ([]ledger.PostingInput, error) {
	c := &run.c
	pools := make([]string, 0, len(run.perPool))
	for p := range run.perPool {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	if len(pools) > ledger.PostingsPerTransactionMax-4 {
		return nil, ledger.Errf(ledger.CodeLimitExceeded, "the credits span %d operator pools; claw back at most %d at a time", len(pools), ledger.PostingsPerTransactionMax-4)
	}
	var legs []ledger.PostingInput
	for _, p := range pools {
		a, err := run.w.Account(p)
		if err != nil {
			return nil, err
		}
		if n := min(a.Available.IntPart(), run.perPool[p]); n > 0 {
			legs = append(legs, ledger.PostingInput{Account: p, Amount: decimal.NewFromInt(-n)})
			c.ReversedGrams += n
		}
	}
	if c.ReversedGrams > 0 {
		legs = append(legs, ledger.PostingInput{Account: CO2EReversed, Amount: decimal.NewFromInt(c.ReversedGrams)})
	}
	if c.ReversedPending > 0 {
		legs = append(legs, ledger.PostingInput{Account: ledger.CitizenPendingAccount(run.in.Citizen), Amount: decimal.NewFromInt(-c.ReversedPending)})
	}
	if c.ReversedAvailable > 0 {
		legs = append(legs, ledger.PostingInput{Account: ledger.CitizenAvailableAccount(run.in.Citizen), Amount: decimal.NewFromInt(-c.ReversedAvailable)})
	}
	if pts := c.ReversedPending + c.ReversedAvailable; pts > 0 {
		legs = append(legs, ledger.PostingInput{Account: ProgrammeReversed, Amount: decimal.NewFromInt(pts)})
	}
	return legs, nil
}

// postReversal applies the clawback's one ledger transaction, if there is
// anything left to take back, and draws the lots down by what it took.
func (run *clawbackRun) postReversal(legs []ledger.PostingInput) error {
	if len(legs) == 0 {
		return nil
	}
	c, in := &run.c, run.in
	if err := ensureProgrammeAccounts(run.w); err != nil {
		return err
	}
	t, err := run.w.Build(run.actor, ledger.TxInput{Kind: KindClawback, Postings: legs, Metadata: map[string]string{
		"citizen": in.Citizen, "case_ref": in.CaseRef, "clawback": c.ID.String(), "behaviours": strconv.Itoa(c.Behaviours),
	}})
	if err != nil {
		return err
	}
	if err := run.w.Apply(t); err != nil {
		return err
	}
	id := t.ID
	c.TransactionID = &id
	return takeLots(run.w, t.ID, run.takes, "reversed")
}

// record marks the behaviours clawed back (even when nothing was left to
// take, so a credit is clawed back at most once), then stores the
// clawback and its event.
func (run *clawbackRun) record() error {
	c, in := run.c, run.in
	if _, err := run.tx.Exec(run.ctx, `
		UPDATE points_behaviours SET reversed_by = $2,
			claim_state = CASE WHEN claim_state = 'pending' THEN 'reversed' ELSE claim_state END
		WHERE id = ANY($1::UUID[])`, in.Behaviours, c.ID); err != nil {
		return err
	}
	if _, err := run.tx.Exec(run.ctx, `
		INSERT INTO points_clawbacks (id, citizen_id, case_ref, reason, behaviours, behaviour_grams, reversed_pending,
			reversed_available, reversed_grams, tx_id, actor, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, c.Citizen, c.CaseRef, c.Reason, c.Behaviours, c.BehaviourGrams, c.ReversedPending, c.ReversedAvailable,
		c.ReversedGrams, c.TransactionID, run.actor.ID(), run.now); err != nil {
		return err
	}
	if err := run.w.Emit(EventClawedBack, "citizen:"+in.Citizen, citizenSees(in.Citizen, ""), c); err != nil {
		return err
	}
	return run.w.Trail("points", "citizen:"+in.Citizen, "clawback", run.actor, c.Reason, c, c.TransactionID)
}
