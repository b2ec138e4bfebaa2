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

// ClaimResult is what a claim made available.
type ClaimResult struct {
	Citizen       string    `json:"citizen"`
	ClaimedPoints int64     `json:"claimed_points,string"`
	Behaviours    int       `json:"behaviours"`
	Lots          []Lot     `json:"lots"`
	TransactionID uuid.UUID `json:"transaction_id"`
}

// Claim moves every pending credit still inside its claim window to the
// citizen's available points, as one lot per validity period. Credits
// past their window are not claimable: they lapse to programme:CP:expired
// (ExpireDue), and a claim with only those fails with claim_window_closed.
func Claim(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string) (ClaimResult, bool, error) {
	citizen, err := citizenOf(actor)
	if err != nil {
		return ClaimResult{}, false, err
	}
	type input struct{ Citizen string }
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.claim", input{citizen}, func(w *ledger.Writer) (ClaimResult, error) {
		return claim(w, actor, citizen)
	})
}

func claim(w *ledger.Writer, actor ledger.Actor, citizen string) (ClaimResult, error) {
	res := ClaimResult{Citizen: citizen, Lots: []Lot{}}
	st, err := lockCitizen(w, citizen)
	if err != nil {
		return res, err
	}
	groups, late, err := claimable(w, citizen)
	if err != nil {
		return res, err
	}
	if len(groups) == 0 {
		if late > 0 || st.lateClaim() {
			return res, ledger.Errf(CodeClaimWindowClosed, "the claim window has closed: points not claimed in time lapse to expired")
		}
		return res, ledger.Errf(CodeNothingToClaim, "there are no pending points to claim")
	}
	for _, g := range groups {
		g.lot.Remaining = g.lot.Points
		res.Lots = append(res.Lots, g.lot)
		res.ClaimedPoints += g.lot.Points
		res.Behaviours += len(g.ids)
	}
	amt := decimal.NewFromInt(res.ClaimedPoints)
	t, err := w.Build(actor, ledger.TxInput{
		Kind: KindClaim,
		Postings: []ledger.PostingInput{
			{Account: ledger.CitizenPendingAccount(citizen), Amount: amt.Neg()},
			{Account: ledger.CitizenAvailableAccount(citizen), Amount: amt},
		},
		Metadata: map[string]string{"citizen": citizen, "behaviours": strconv.Itoa(res.Behaviours), "lots": strconv.Itoa(len(res.Lots))},
	})
	if err != nil {
		return res, err
	}
	if err := w.Apply(t); err != nil {
		return res, err
	}
	res.TransactionID = t.ID
	if err := recordClaim(w, citizen, t.ID, groups); err != nil {
		return res, err
	}
	return res, w.Emit(EventClaimed, "citizen:"+citizen, citizenSees(citizen, ""), res)
}

// claimGroup is one lot a claim makes: the pending credits of one validity.
type claimGroup struct {
	lot Lot
	ids []uuid.UUID
}

// claimable groups the citizen's pending credits still inside their claim
// window by validity, in validity order, and counts those past it.
func claimable(w *ledger.Writer, citizen string) ([]*claimGroup, int, error) {
	rows, err := w.Tx().Query(w.Ctx(), `
		SELECT b.id, b.grams, b.received_at, b.claim_deadline, m.validity_days
		FROM points_behaviours b JOIN points_methodologies m ON m.id = b.methodology_id
		WHERE b.citizen_id = $1 AND b.claim_state = 'pending'
		ORDER BY b.received_at, b.id`, citizen)
	if err != nil {
		return nil, 0, err
	}
	var p struct {
		id                 uuid.UUID
		grams              int64
		received, deadline time.Time
		validity           int
	}
	groups := map[int]*claimGroup{}
	late := 0
	if _, err := pgx.ForEachRow(rows, []any{&p.id, &p.grams, &p.received, &p.deadline, &p.validity}, func() error {
		if !w.Now().Before(p.deadline) {
			late++
			return nil
		}
		g, ok := groups[p.validity]
		if !ok {
			earned := p.received.UTC()
			g = &claimGroup{lot: Lot{ID: ledger.NewID(), EarnedAt: earned, ExpiresAt: earned.Add(time.Duration(p.validity) * 24 * time.Hour)}}
			groups[p.validity] = g
		}
		g.lot.Points += p.grams
		g.ids = append(g.ids, p.id)
		return nil
	}); err != nil {
		return nil, 0, err
	}
	validities := make([]int, 0, len(groups))
	for v := range groups {
		validities = append(validities, v)
	}
	sort.Ints(validities)
	out := make([]*claimGroup, len(validities))
	for i, v := range validities {
		out[i] = groups[v]
	}
	return out, late, nil
}

// recordClaim writes the claim's lots, each with its record hash, points
// the claimed behaviours at them and notes the claim on the citizen row.
func recordClaim(w *ledger.Writer, citizen string, txID uuid.UUID, groups []*claimGroup) error {
	now := w.Now()
	var lotIDs, bIDs, bLots []string
	var lotEarned, lotExpires []time.Time
	var lotPoints []int64
	var hashes [][]byte
	for _, g := range groups {
		l := g.lot
		lotIDs, lotEarned, lotExpires, lotPoints = append(lotIDs, l.ID.String()), append(lotEarned, l.EarnedAt), append(lotExpires, l.ExpiresAt), append(lotPoints, l.Points)
		rec := lotRecord{id: l.ID, claimTx: txID, citizen: citizen, points: l.Points, earned: l.EarnedAt, expires: l.ExpiresAt, created: now}
		hashes = append(hashes, rec.digest())
		for _, id := range g.ids {
			bIDs, bLots = append(bIDs, id.String()), append(bLots, l.ID.String())
		}
	}
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO points_lots (id, citizen_id, earned_at, expires_at, points, remaining, claim_tx, created_at, record_hash)
		SELECT id::UUID, $1, e, x, p, p, $2, $3, h
		FROM unnest($4::TEXT[], $5::TIMESTAMPTZ[], $6::TIMESTAMPTZ[], $7::INT8[], $8::BYTEA[]) AS v(id, e, x, p, h)`,
		citizen, txID, now, lotIDs, lotEarned, lotExpires, lotPoints, hashes)
	b.Queue(`
		UPDATE points_behaviours b SET claim_state = 'claimed', settled_tx_id = $1, lot_id = v.lot::UUID
		FROM unnest($2::TEXT[], $3::TEXT[]) AS v(id, lot)
		WHERE b.id = v.id::UUID AND b.claim_state = 'pending'`, txID, bIDs, bLots)
	b.Queue(`UPDATE points_citizens SET last_claim_at = $2 WHERE id = $1`, citizen, now)
	return w.Tx().SendBatch(w.Ctx(), b).Close()
}

// OverdueExpiry is how long the oldest credit past its claim window or lot
// past its validity has waited for expire-points (0 when none): one read
// of each partial index the job itself reads (points_behaviours_due_idx,
// points_lots_due_idx).
func OverdueExpiry(ctx context.Context, l *ledger.Ledger) (time.Duration, error) {
	now := l.Now()
	credits, err := l.OverdueSince(ctx, now, `SELECT min(claim_deadline) FROM points_behaviours WHERE claim_state = 'pending' AND claim_deadline <= $1`, now)
	if err != nil {
		return 0, err
	}
	lots, err := l.OverdueSince(ctx, now, `SELECT min(expires_at) FROM points_lots WHERE remaining > 0 AND expires_at <= $1`, now)
	return max(credits, lots), err
}

// ExpireDue is the background job: it lapses pending credits past their
// claim window and expires the rest of available lots past their validity,
// to programme:CP:expired, for up to limit citizens (one ledger
// transaction each). It returns how many credits and lots it expired.
//
// Several replicas may run it at once: each locks the citizens it works on
// (skipping those another replica holds) and re-reads what is due after it
// holds the lock, so a credit or lot is expired once.
func ExpireDue(ctx context.Context, l *ledger.Ledger, limit int) (int, error) {
	if limit <= 0 || limit > ExpireCitizensPerCallMax {
		limit = ExpireCitizensPerCallMax
	}
	var done int
	err := l.Update(ctx, func(w *ledger.Writer) (err error) {
		done, err = expireDue(w, limit)
		return err
	})
	return done, err
}

// expireDue skips citizens with a frozen (or closed) account when it picks
// what is due: they keep their points until unfrozen, and they must not
// fill every batch and starve everyone else.
func expireDue(w *ledger.Writer, limit int) (int, error) {
	run := &expireRun{w: w, ctx: w.Ctx(), tx: w.Tx(), now: w.Now()}
	candidates, err := run.pickCandidates(limit)
	if err != nil || len(candidates) == 0 {
		return 0, err
	}
	locked, err := run.lockCandidates(candidates)
	if err != nil || len(locked) == 0 {
		return 0, err
	}
	if err := run.readDue(locked); err != nil {
		return 0, err
	}
	if len(run.byCitizen) == 0 {
		return 0, nil
	}
	if err := run.buildExpiries(); err != nil {
		return 0, err
	}
	s, err := run.applyExpiries()
	if err != nil {
		return 0, err
	}
	if err := run.settle(s); err != nil {
		return 0, err
	}
	return s.count, nil
}

// expireRun carries one expiry job through the stages of expireDue.
type expireRun struct {
	w         *ledger.Writer
	ctx       context.Context
	tx        pgx.Tx
	now       time.Time
	byCitizen map[string]*citizenDue // what is due, read under the locks
	citizens  []string               // the keys of byCitizen, sorted
	txs       []*ledger.Transaction  // one per citizen, in that order
}

// citizenDue is what one citizen has due: pending credits to lapse and
// available lots to expire.
type citizenDue struct {
	lapse, expire    int64
	behaviours, lots []string
	lotPoints        []int64
}

// expirySettlement is what the applied expiries settle: the behaviours
// lapsed and the lots drawn down, each with its transaction, and how
// many credits and lots that is.
type expirySettlement struct {
	bIDs, bTx, lIDs, lTx, lapsedCitizens []string
	lPts                                 []int64
	count                                int
}

// pickCandidates reads, without locking, up to limit citizens with a
// pending credit past its claim deadline or a lot past its validity, taken
// from the earliest due. Citizens with an account that is not active are
// skipped: they keep their points until unfrozen and must not fill every
// batch and starve everyone else. The due citizens are read again without
// the inactive ones found among them until none is left, so the pick is
// the one excluding every inactive citizen in SQL would give. Statuses
// are read in this transaction, as an SQL subquery would; an account
// frozen after the read is refused by the engine under its row lock, and
// applyExpiries then leaves that citizen's points where they are.
func (run *expireRun) pickCandidates(limit int) ([]string, error) {
	skip := []string{}
	for {
		rows, err := run.tx.Query(run.ctx, `
			SELECT DISTINCT citizen_id FROM (
				(SELECT citizen_id FROM points_behaviours WHERE claim_state = 'pending' AND claim_deadline <= $1
				   AND citizen_id <> ALL($3::TEXT[]) ORDER BY claim_deadline LIMIT $2)
				UNION ALL
				(SELECT citizen_id FROM points_lots WHERE remaining > 0 AND expires_at <= $1
				   AND citizen_id <> ALL($3::TEXT[]) ORDER BY expires_at LIMIT $2)
			) due ORDER BY citizen_id`, run.now, limit, skip)
		if err != nil {
			return nil, err
		}
		due, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		owners := make([]string, len(due))
		for i, c := range due {
			owners[i] = "citizen:" + c
		}
		inactive, err := run.w.InactiveOwners(owners)
		if err != nil || len(inactive) == 0 {
			return due[:min(limit, len(due))], err
		}
		for o := range inactive {
			skip = append(skip, strings.TrimPrefix(o, "citizen:"))
		}
	}
}

// lockCandidates locks the candidates, in id order, and returns those it
// got: SKIP LOCKED leaves a citizen another replica works on to it.
func (run *expireRun) lockCandidates(candidates []string) ([]string, error) {
	rows, err := run.tx.Query(run.ctx, `SELECT id FROM points_citizens WHERE id = ANY($1::TEXT[]) ORDER BY id FOR UPDATE SKIP LOCKED`, candidates)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// due returns citizen c's entry of byCitizen, adding it if need be.
func (run *expireRun) due(c string) *citizenDue {
	d, ok := run.byCitizen[c]
	if !ok {
		d = &citizenDue{}
		run.byCitizen[c] = d
	}
	return d
}

// readDue re-reads what is due under the locks: what another replica
// expired is gone.
func (run *expireRun) readDue(locked []string) error {
	run.byCitizen = map[string]*citizenDue{}
	rows, err := run.tx.Query(run.ctx, `
		SELECT citizen_id, id::TEXT, grams FROM points_behaviours
		WHERE citizen_id = ANY($1::TEXT[]) AND claim_state = 'pending' AND claim_deadline <= $2`, locked, run.now)
	if err != nil {
		return err
	}
	var c, id string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&c, &id, &n}, func() error {
		d := run.due(c)
		d.lapse += n
		d.behaviours = append(d.behaviours, id)
		return nil
	}); err != nil {
		return err
	}
	rows, err = run.tx.Query(run.ctx, `
		SELECT citizen_id, id::TEXT, remaining FROM points_lots
		WHERE citizen_id = ANY($1::TEXT[]) AND remaining > 0 AND expires_at <= $2`, locked, run.now)
	if err != nil {
		return err
	}
	_, err = pgx.ForEachRow(rows, []any{&c, &id, &n}, func() error {
		d := run.due(c)
		d.expire += n
		d.lots, d.lotPoints = append(d.lots, id), append(d.lotPoints, n)
		return nil
	})
	return err
}

// buildExpiries builds (without applying) one transaction per citizen, in
// citizen order, moving what is due to programme:CP:expired.
func (run *expireRun) buildExpiries() error {
	if err := run.w.OpenAccounts(ProgrammeExpired); err != nil {
		return err
	}
	run.citizens = make([]string, 0, len(run.byCitizen))
	for c := range run.byCitizen {
		run.citizens = append(run.citizens, c)
	}
	sort.Strings(run.citizens)
	run.txs = make([]*ledger.Transaction, 0, len(run.citizens))
	for _, c := range run.citizens {
		d := run.byCitizen[c]
		var legs []ledger.PostingInput
		if d.lapse > 0 {
			legs = append(legs, ledger.PostingInput{Account: ledger.CitizenPendingAccount(c), Amount: decimal.NewFromInt(-d.lapse)})
		}
		if d.expire > 0 {
			legs = append(legs, ledger.PostingInput{Account: ledger.CitizenAvailableAccount(c), Amount: decimal.NewFromInt(-d.expire)})
		}
		legs = append(legs, ledger.PostingInput{Account: ProgrammeExpired, Amount: decimal.NewFromInt(d.lapse + d.expire)})
		t, err := run.w.Build(ledger.SystemActor, ledger.TxInput{Kind: KindExpire, Postings: legs, Metadata: map[string]string{
			"citizen": c, "lapsed_points": strconv.FormatInt(d.lapse, 10), "expired_points": strconv.FormatInt(d.expire, 10),
		}})
		if err != nil {
			return err
		}
		run.txs = append(run.txs, t)
	}
	return nil
}

// applyExpiries applies the transactions each with its own outcome, so a
// citizen the engine refuses does not fail the others, and gathers what
// the applied ones settle.
func (run *expireRun) applyExpiries() (expirySettlement, error) {
	var s expirySettlement
	errs, err := run.w.ApplyEach(run.txs)
	if err != nil {
		return s, err
	}
	for i, c := range run.citizens {
		if errs[i] != nil {
			// A frozen account keeps its points until it is unfrozen.
			if _, ok := ledger.AsError(errs[i]); !ok {
				return s, errs[i]
			}
			continue
		}
		d, id := run.byCitizen[c], run.txs[i].ID.String()
		for _, b := range d.behaviours {
			s.bIDs, s.bTx = append(s.bIDs, b), append(s.bTx, id)
		}
		for j, lot := range d.lots {
			s.lIDs, s.lTx, s.lPts = append(s.lIDs, lot), append(s.lTx, id), append(s.lPts, d.lotPoints[j])
		}
		if len(d.behaviours) > 0 {
			s.lapsedCitizens = append(s.lapsedCitizens, c)
		}
		if d.lapse > 0 {
			if err := run.w.Emit(EventLapsed, "citizen:"+c, citizenSees(c, ""),
				ExpiryEventData{Citizen: c, Points: d.lapse, Items: len(d.behaviours), TransactionID: id}); err != nil {
				return s, err
			}
		}
		if d.expire > 0 {
			if err := run.w.Emit(EventExpired, "citizen:"+c, citizenSees(c, ""),
				ExpiryEventData{Citizen: c, Points: d.expire, Items: len(d.lots), TransactionID: id}); err != nil {
				return s, err
			}
		}
		s.count += len(d.behaviours) + len(d.lots)
	}
	return s, nil
}

// settle marks the lapsed behaviours and draws the expired lots down, in
// one round trip.
func (run *expireRun) settle(s expirySettlement) error {
	b := &pgx.Batch{}
	if len(s.bIDs) > 0 {
		b.Queue(`
			UPDATE points_behaviours b SET claim_state = 'lapsed', settled_tx_id = v.tx::UUID
			FROM unnest($1::TEXT[], $2::TEXT[]) AS v(id, tx) WHERE b.id = v.id::UUID`, s.bIDs, s.bTx)
		b.Queue(`UPDATE points_citizens SET last_lapse_at = $2 WHERE id = ANY($1::TEXT[])`, s.lapsedCitizens, run.now)
	}
	if len(s.lIDs) > 0 {
		b.Queue(`
			UPDATE points_lots l SET remaining = l.remaining - v.p
			FROM unnest($1::TEXT[], $2::INT8[]) AS v(id, p) WHERE l.id = v.id::UUID`, s.lIDs, s.lPts)
		b.Queue(`
			INSERT INTO points_lot_moves (lot_id, tx_id, points, reason, created_at)
			SELECT id::UUID, tx::UUID, p, 'expired', $4 FROM unnest($1::TEXT[], $2::TEXT[], $3::INT8[]) AS v(id, tx, p)`, s.lIDs, s.lTx, s.lPts, run.now)
	}
	if b.Len() > 0 {
		if err := run.tx.SendBatch(run.ctx, b).Close(); err != nil {
			return err
		}
	}
	return nil
}
