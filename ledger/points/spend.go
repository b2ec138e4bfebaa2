package points

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// RedeemInput names the reward; a redemption takes one from its stock.
type RedeemInput struct {
	Reward string `json:"reward"`
}

// Redemption is a reward bought with points.
type Redemption struct {
	ID            uuid.UUID `json:"id"`
	Citizen       string    `json:"citizen"`
	Reward        string    `json:"reward"`
	Title         string    `json:"title"`
	Points        int64     `json:"points,string"`
	Lots          []Take    `json:"lots"`
	TransactionID uuid.UUID `json:"transaction_id"`
	CreatedAt     time.Time `json:"created_at"`
}

// Redeem spends the reward's price from the citizen's lots, oldest first,
// and takes one from the reward's stock. Points and stock never go
// negative: the citizen's row lock orders the citizen's spending, the
// stock decrement is conditional on the stock left, and the engine checks
// the balance again.
func Redeem(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in RedeemInput) (Redemption, bool, error) {
	citizen, err := citizenOf(actor)
	if err != nil {
		return Redemption{}, false, err
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.redeem", in, func(w *ledger.Writer) (Redemption, error) {
		ctx, tx := w.Ctx(), w.Tx()
		r := Redemption{ID: ledger.NewID(), Citizen: citizen, Reward: in.Reward, CreatedAt: w.Now()}
		if _, err := lockCitizen(w, citizen); err != nil {
			return r, err
		}
		err := tx.QueryRow(ctx, `
			UPDATE points_rewards SET stock = stock - 1
			WHERE id = $1 AND status = 'active' AND stock >= 1
			RETURNING title, price_points`, in.Reward).Scan(&r.Title, &r.Points)
		if errors.Is(err, pgx.ErrNoRows) {
			rw, gerr := getReward(ctx, tx, in.Reward)
			switch {
			case gerr != nil:
				return r, gerr
			case rw.Status != "active":
				return r, ledger.Errf(CodeRewardWithdrawn, "reward %s is no longer offered", in.Reward)
			default:
				return r, ledger.Errf(CodeOutOfStock, "reward %s is out of stock", in.Reward)
			}
		}
		if err != nil {
			return r, err
		}
		if err := w.OpenAccounts(ProgrammeRedeemed); err != nil {
			return r, err
		}
		txID, takes, err := spend(w, actor, citizen, r.Points, ProgrammeRedeemed, KindRedeem, "redeemed",
			map[string]string{"citizen": citizen, "reward": in.Reward, "redemption": r.ID.String(), "title": truncate(r.Title, 200)})
		if err != nil {
			return r, err
		}
		r.TransactionID, r.Lots = txID, takes
		_, err = tx.Exec(ctx, `
			INSERT INTO points_redemptions (id, citizen_id, reward_id, points, tx_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, citizen, in.Reward, r.Points, txID, r.CreatedAt)
		if err != nil {
			return r, err
		}
		return r, w.Emit(EventRedeemed, "citizen:"+citizen, citizenSees(citizen, ""), r)
	})
}

// DonateInput names an approved pool and the points to give.
type DonateInput struct {
	Pool   string `json:"pool"`
	Points string `json:"points"`
}

// Donation is points given to a public-good pool.
type Donation struct {
	ID            uuid.UUID `json:"id"`
	Citizen       string    `json:"citizen"`
	Pool          string    `json:"pool"`
	Points        int64     `json:"points,string"`
	Lots          []Take    `json:"lots"`
	TransactionID uuid.UUID `json:"transaction_id"`
	CreatedAt     time.Time `json:"created_at"`
}

// Donate moves points from the citizen's lots, oldest first, to an approved
// donation pool. It is the only way points reach another account than a
// programme sink: never another citizen's.
func Donate(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, key string, in DonateInput) (Donation, bool, error) {
	citizen, err := citizenOf(actor)
	if err != nil {
		return Donation{}, false, err
	}
	pts, ok := parseCount(in.Points, DonationPointsMax)
	if !ok {
		return Donation{}, false, ledger.Errf(ledger.CodeInvalidAmount, "points must be a whole number from 1 to %d", DonationPointsMax).At("points")
	}
	return ledger.Run(ctx, l, ledger.KeyOf(actor, key), "points.donate", in, func(w *ledger.Writer) (Donation, error) {
		d := Donation{ID: ledger.NewID(), Citizen: citizen, Pool: in.Pool, Points: pts, CreatedAt: w.Now()}
		if _, err := lockCitizen(w, citizen); err != nil {
			return d, err
		}
		if !validCode(in.Pool, 64) {
			return d, ledger.Errf(ledger.CodeNotFound, "donation pool %q not found", truncate(in.Pool, 64)).At("pool")
		}
		p, err := getPool(w.Ctx(), w.Tx(), in.Pool)
		if err != nil {
			return d, err
		}
		if p.Status != "approved" {
			return d, ledger.Errf(CodePoolNotApproved, "donation pool %s is not open for donations", p.ID)
		}
		txID, takes, err := spend(w, actor, citizen, pts, p.Account, KindDonate, "donated",
			map[string]string{"citizen": citizen, "pool": p.ID, "donation": d.ID.String()})
		if err != nil {
			return d, err
		}
		d.TransactionID, d.Lots = txID, takes
		_, err = w.Tx().Exec(w.Ctx(), `
			INSERT INTO points_donations (id, citizen_id, pool_id, points, tx_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			d.ID, citizen, p.ID, pts, txID, d.CreatedAt)
		if err != nil {
			return d, err
		}
		return d, w.Emit(EventDonated, "citizen:"+citizen, citizenSees(citizen, ""), d)
	})
}

// spend takes points from the citizen's unexpired lots oldest first and
// posts them from the available account to `to`. The caller holds the
// citizen's lock.
func spend(w *ledger.Writer, actor ledger.Actor, citizen string, points int64, to, kind, reason string, meta map[string]string) (uuid.UUID, []Take, error) {
	from := ledger.CitizenAvailableAccount(citizen)
	if err := CheckCitizenMove(from, to); err != nil {
		return uuid.Nil, nil, err
	}
	lots, err := openLots(w.Ctx(), w.Tx(), citizen, w.Now())
	if err != nil {
		return uuid.Nil, nil, err
	}
	takes, err := TakeOldestFirst(lots, points)
	if err != nil {
		return uuid.Nil, nil, err
	}
	amt := decimal.NewFromInt(points)
	t, err := w.Build(actor, ledger.TxInput{Kind: kind, Metadata: meta, Postings: []ledger.PostingInput{
		{Account: from, Amount: amt.Neg()},
		{Account: to, Amount: amt},
	}})
	if err != nil {
		return uuid.Nil, nil, err
	}
	if err := w.Apply(t); err != nil {
		return uuid.Nil, nil, err
	}
	return t.ID, takes, takeLots(w, t.ID, takes, reason)
}

// openLots reads the citizen's lots with points left that have not expired.
func openLots(ctx context.Context, q pgx.Tx, citizen string, now time.Time) ([]Lot, error) {
	rows, err := q.Query(ctx, `
		SELECT `+lotColumns+` FROM points_lots
		WHERE citizen_id = $1 AND remaining > 0 AND expires_at > $2
		ORDER BY earned_at, id`, citizen, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanLot)
}

const lotColumns = `id, earned_at, expires_at, points, remaining`

func scanLot(r pgx.CollectableRow) (Lot, error) {
	var l Lot
	err := r.Scan(&l.ID, &l.EarnedAt, &l.ExpiresAt, &l.Points, &l.Remaining)
	l.EarnedAt, l.ExpiresAt = l.EarnedAt.UTC(), l.ExpiresAt.UTC()
	return l, err
}

// takeLots lowers the lots and records each move with the transaction.
func takeLots(w *ledger.Writer, txID uuid.UUID, takes []Take, reason string) error {
	if len(takes) == 0 {
		return nil
	}
	ids, pts := make([]string, len(takes)), make([]int64, len(takes))
	for i, t := range takes {
		ids[i], pts[i] = t.LotID.String(), t.Points
	}
	b := &pgx.Batch{}
	b.Queue(`
		UPDATE points_lots l SET remaining = l.remaining - v.p
		FROM unnest($1::TEXT[], $2::INT8[]) AS v(id, p) WHERE l.id = v.id::UUID`, ids, pts)
	b.Queue(`
		INSERT INTO points_lot_moves (lot_id, tx_id, points, reason, created_at)
		SELECT id::UUID, $3, p, $4, $5 FROM unnest($1::TEXT[], $2::INT8[]) AS v(id, p)`, ids, pts, txID, reason, w.Now())
	return w.Tx().SendBatch(w.Ctx(), b).Close()
}
