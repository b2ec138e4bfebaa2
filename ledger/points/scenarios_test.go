package points_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// DOMAIN.md §7 Metro: 12 km → 12 × 211 = 2,532 g and 2,532 pending points;
// the same trip reported by a second operator is a duplicate and nothing moves.
func TestScenarioMetroAndDuplicate(t *testing.T) {
	b := setup(t)
	if _, _, err := points.RegisterOperator(ctx, b.l, province, key(), points.OperatorInput{ID: "maas-jinan", Name: "Jinan MaaS", Kinds: []string{"metro", "bus"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := points.Entrust(ctx, b.l, citizen("C1"), key(), points.EntrustInput{Operator: "maas-jinan"}); err != nil {
		t.Fatal(err)
	}
	trip := day1.Add(-30 * time.Minute)
	r := b.one(t, "metro-jinan", rec("C1", "metro", "12", "km", trip))
	wantStatus(t, r, points.StatusCredited, "")
	eq(t, "grams", r.Grams, int64(2532))
	eq(t, "points", r.Points, int64(2532))
	eq(t, "methodology", r.Methodology, "metro-km.v1")
	eq(t, "pending C1", b.pending(t, "C1"), int64(2532))
	pool := poolAccount("metro-jinan", "metro-km.v1", trip)
	eq(t, "metro-jinan pool", b.balance(t, pool), int64(2532))
	if r.ClaimDeadline == nil || !r.ClaimDeadline.Equal(day1.Add(7*24*time.Hour)) {
		t.Fatalf("claim deadline %v, want 7 days after the credit", r.ClaimDeadline)
	}

	// Same trip by a second operator: clocks differ by seconds, quantity
	// written differently.
	dup := rec("C1", "metro", "12.000", "km", trip.Add(20*time.Second))
	r2 := b.one(t, "maas-jinan", dup)
	wantStatus(t, r2, points.StatusDuplicate, "duplicate")
	eq(t, "pending C1 after duplicate", b.pending(t, "C1"), int64(2532))
	eq(t, "metro-jinan pool after duplicate", b.balance(t, pool), int64(2532))
	eq(t, "maas pool", b.balance(t, poolAccount("maas-jinan", "metro-km.v1", trip)), int64(0))
	eq(t, "programme issuance", b.balance(t, points.ProgrammeIssuance), int64(-2532))
	b.verify(t)
}

// DOMAIN.md §7 Walking cap: 15,000 steps → 300 g capped to 296 g; 2,000 more
// the same day → 0 (cap_reached, recorded); 5,000 the next day → 100 g.
func TestScenarioWalkingCap(t *testing.T) {
	b := setup(t)
	r := b.one(t, "tanhui-app", rec("C2", "walking", "15000", "steps", day1.Add(-time.Hour)))
	wantStatus(t, r, points.StatusCredited, points.CapDailyKind)
	eq(t, "computed", r.ComputedGrams, int64(300))
	eq(t, "grams", r.Grams, int64(296))

	r = b.one(t, "tanhui-app", rec("C2", "walking", "2000", "steps", day1.Add(-time.Minute)))
	wantStatus(t, r, points.StatusCapReached, points.CapDailyKind)
	eq(t, "grams", r.Grams, int64(0))
	eq(t, "computed", r.ComputedGrams, int64(40))
	if r.BehaviourID == nil {
		t.Fatal("a cap_reached record is recorded and has a behaviour id")
	}
	eq(t, "pending after cap", b.pending(t, "C2"), int64(296))

	b.clock.Advance(24 * time.Hour)
	r = b.one(t, "tanhui-app", rec("C2", "walking", "5000", "steps", day1.Add(23*time.Hour)))
	wantStatus(t, r, points.StatusCredited, "")
	eq(t, "grams next day", r.Grams, int64(100))
	eq(t, "pending C2", b.pending(t, "C2"), int64(396))
	b.verify(t)
}

// DOMAIN.md §7 Ride cap: 6 metro rides at 52 g, at most 5 a day → 260 g; the
// sixth → cap reached.
func TestScenarioRideCap(t *testing.T) {
	b := setup(t)
	var recs []points.BehaviourRecord
	for i := range 6 {
		recs = append(recs, rec("C3", "metro", "1", "rides", day1.Add(-time.Duration(6-i)*time.Hour)))
	}
	res := b.report(t, "metro-jinan", recs...)
	for i := range 5 {
		wantStatus(t, res.Results[i], points.StatusCredited, "")
		eq(t, "ride grams", res.Results[i].Grams, int64(52))
	}
	wantStatus(t, res.Results[5], points.StatusCapReached, points.CapDailyQuantity)
	eq(t, "credited", res.Credited, 5)
	eq(t, "cap reached", res.CapReached, 1)
	eq(t, "grams credited", res.GramsCredited, int64(260))
	eq(t, "pending C3", b.pending(t, "C3"), int64(260))
	b.verify(t)
}

// DOMAIN.md §7 Lapse: 1,020 pending points unclaimed after 7 days → expired;
// a late claim fails.
func TestScenarioLapse(t *testing.T) {
	b := setup(t)
	r := b.one(t, "metro-jinan", rec("C1", "bus", "5", "km", day1.Add(-time.Hour)))
	eq(t, "bus 5 km", r.Grams, int64(1020))

	b.clock.Advance(7*24*time.Hour + time.Minute)
	// Before the job runs, the window is closed all the same.
	_, _, err := points.Claim(ctx, b.l, citizen("C1"), key())
	wantCode(t, err, points.CodeClaimWindowClosed)

	n, err := points.ExpireDue(ctx, b.l, 0)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "expired items", n, 1)
	eq(t, "pending C1", b.pending(t, "C1"), int64(0))
	eq(t, "expired sink", b.balance(t, points.ProgrammeExpired), int64(1020))

	_, _, err = points.Claim(ctx, b.l, citizen("C1"), key())
	wantCode(t, err, points.CodeClaimWindowClosed)
	eq(t, "available C1", b.available(t, "C1"), int64(0))

	// The job is idempotent by construction: nothing is due any more.
	n, err = points.ExpireDue(ctx, b.l, 0)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "second run", n, 0)
	eq(t, "expired sink after second run", b.balance(t, points.ProgrammeExpired), int64(1020))
	b.verify(t)
}

// DOMAIN.md §7 Redeem and expire: lots of 3,000 (older) and 4,000; redeeming
// 5,000 takes 3,000 + 2,000; later the rest of the newer lot expires;
// redeeming 1 more point fails; sending points to another citizen fails.
func TestScenarioRedeemAndExpire(t *testing.T) {
	b := setup(t)
	// Day 1: 15 km = 3,165 g, capped at the 3,000 g all-behaviour daily cap.
	r := b.one(t, "metro-jinan", rec("C1", "metro", "15", "km", day1.Add(-time.Hour)))
	wantStatus(t, r, points.StatusCredited, points.CapDailyTotal)
	eq(t, "day 1 grams", r.Grams, int64(3000))
	c1 := b.claim(t, "C1")
	eq(t, "first lot", c1.ClaimedPoints, int64(3000))

	// Day 2: 3,000 again; day 3: 4.74 km = 1,000.14 g, floored to 1,000.
	b.clock.Advance(24 * time.Hour)
	eq(t, "day 2 grams", b.one(t, "metro-jinan", rec("C1", "metro", "15", "km", day1.Add(23*time.Hour))).Grams, int64(3000))
	b.clock.Advance(24 * time.Hour)
	eq(t, "day 3 grams", b.one(t, "metro-jinan", rec("C1", "metro", "4.74", "km", day1.Add(47*time.Hour))).Grams, int64(1000))
	c2 := b.claim(t, "C1")
	eq(t, "second lot", c2.ClaimedPoints, int64(4000))
	eq(t, "lots in the second claim", len(c2.Lots), 1)
	if !c2.Lots[0].EarnedAt.Equal(day1.Add(24 * time.Hour).UTC()) {
		t.Fatalf("second lot earned %v, want its earliest credit (day 2)", c2.Lots[0].EarnedAt)
	}
	eq(t, "available", b.available(t, "C1"), int64(7000))

	red, _, err := points.Redeem(ctx, b.l, citizen("C1"), key(), points.RedeemInput{Reward: "metro-day-pass"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "price", red.Points, int64(5000))
	eq(t, "lots taken", len(red.Lots), 2)
	eq(t, "from the older lot", red.Lots[0], points.Take{LotID: c1.Lots[0].ID, Points: 3000})
	eq(t, "from the newer lot", red.Lots[1], points.Take{LotID: c2.Lots[0].ID, Points: 2000})
	eq(t, "available after redemption", b.available(t, "C1"), int64(2000))
	eq(t, "redeemed sink", b.balance(t, points.ProgrammeRedeemed), int64(5000))
	rw, err := points.GetReward(ctx, b.l, "metro-day-pass")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stock", rw.Stock, int64(999))

	// The newer lot expires 730 days after its earn date (day 2).
	b.clock.Set(day1.Add(24*time.Hour + 730*24*time.Hour + time.Minute))
	n, err := points.ExpireDue(ctx, b.l, 10)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "lots expired", n, 1)
	eq(t, "available after expiry", b.available(t, "C1"), int64(0))
	eq(t, "expired sink", b.balance(t, points.ProgrammeExpired), int64(2000))

	if _, _, err := points.CreateReward(ctx, b.l, province, key(), points.RewardInput{ID: "sticker", Title: "Sticker", PricePoints: "1", Stock: "10"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = points.Redeem(ctx, b.l, citizen("C1"), key(), points.RedeemInput{Reward: "sticker"})
	wantCode(t, err, ledger.CodeInsufficientBalance)
	rw, _ = points.GetReward(ctx, b.l, "sticker")
	eq(t, "stock untouched by a failed redemption", rw.Stock, int64(10))

	// Points never go to another citizen: there is no such operation, a
	// "donation" to a citizen finds no pool, and the move rule refuses it.
	_, _, err = points.Donate(ctx, b.l, citizen("C1"), key(), points.DonateInput{Pool: "C2", Points: "1"})
	wantCode(t, err, ledger.CodeNotFound)
	wantCode(t, points.CheckCitizenMove(ledger.CitizenAvailableAccount("C1"), ledger.CitizenAvailableAccount("C2")), points.CodeNotTransferable)
	_, _, err = b.l.Post(ctx, citizen("C1"), key(), ledger.TxInput{Kind: "transfer", Postings: []ledger.PostingInput{
		{Account: ledger.CitizenAvailableAccount("C1"), Amount: decimal.NewFromInt(-1)},
		{Account: ledger.CitizenAvailableAccount("C2"), Amount: decimal.NewFromInt(1)},
	}})
	wantCode(t, err, ledger.CodeManagedAsset) // the generic route moves no points
	eq(t, "C2 available", b.available(t, "C2"), int64(0))
	b.verify(t)
}

func TestDonation(t *testing.T) {
	b := setup(t)
	b.one(t, "tanhui-app", rec("C2", "walking", "15000", "steps", day1.Add(-time.Hour)))
	b.claim(t, "C2")
	d, _, err := points.Donate(ctx, b.l, citizen("C2"), key(), points.DonateInput{Pool: "trees-2026", Points: "200"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "donated", d.Points, int64(200))
	eq(t, "pool", b.balance(t, points.DonationPoolAccount("trees-2026")), int64(200))
	eq(t, "available", b.available(t, "C2"), int64(96))
	_, _, err = points.Donate(ctx, b.l, citizen("C2"), key(), points.DonateInput{Pool: "trees-2026", Points: "97"})
	wantCode(t, err, ledger.CodeInsufficientBalance)
	for _, bad := range []string{"0", "-5", "1.5", "", "abc"} {
		_, _, err = points.Donate(ctx, b.l, citizen("C2"), key(), points.DonateInput{Pool: "trees-2026", Points: bad})
		wantCode(t, err, ledger.CodeInvalidAmount)
	}
	_, _, err = points.Donate(ctx, b.l, citizen("C2"), key(), points.DonateInput{Pool: "no-such-pool", Points: "1"})
	wantCode(t, err, ledger.CodeNotFound)
	b.verify(t)
}

// Fraud clawback: reverse what remains, never below zero, with a case
// reference; a credit is clawed back once.
func TestClawback(t *testing.T) {
	b := setup(t)
	r1 := b.one(t, "metro-jinan", rec("C3", "metro", "10", "km", day1.Add(-2*time.Hour))) // 2,110
	b.claim(t, "C3")
	r2 := b.one(t, "metro-jinan", rec("C3", "bus", "2", "km", day1.Add(-time.Hour))) // 408, still pending
	eq(t, "bus", r2.Grams, int64(408))
	// The citizen spends 1,500 of the claimed 2,110 first.
	if _, _, err := points.Redeem(ctx, b.l, citizen("C3"), key(), points.RedeemInput{Reward: "bus-ticket"}); err != nil {
		t.Fatal(err)
	}
	eq(t, "available before clawback", b.available(t, "C3"), int64(610))

	in := points.ClawbackInput{Citizen: "C3", Behaviours: []uuid.UUID{*r1.BehaviourID, *r2.BehaviourID}, CaseRef: "SD-FRAUD-2026-001", Reason: "GPS spoofing"}
	_, _, err := points.ClawBack(ctx, b.l, citizen("C3"), key(), in)
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = points.ClawBack(ctx, b.l, operator("metro-jinan"), key(), in)
	wantCode(t, err, ledger.CodeForbidden)

	c, _, err := points.ClawBack(ctx, b.l, province, key(), in)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "worth", c.BehaviourGrams, int64(2518))
	eq(t, "from pending", c.ReversedPending, int64(408))
	eq(t, "from lots", c.ReversedAvailable, int64(610))
	eq(t, "shortfall (already redeemed)", c.ShortfallPoints, int64(1500))
	eq(t, "reductions", c.ReversedGrams, int64(2518))
	eq(t, "pending", b.pending(t, "C3"), int64(0))
	eq(t, "available never below zero", b.available(t, "C3"), int64(0))
	eq(t, "CP reversed sink", b.balance(t, points.ProgrammeReversed), int64(1018))
	eq(t, "CO2E reversed sink", b.balance(t, points.CO2EReversed), int64(2518))

	_, _, err = points.ClawBack(ctx, b.l, province, key(), in)
	wantCode(t, err, points.CodeAlreadyClawedBack)
	_, _, err = points.ClawBack(ctx, b.l, province, key(), points.ClawbackInput{Citizen: "C3", Behaviours: []uuid.UUID{*r1.BehaviourID}, Reason: "x"})
	wantCode(t, err, ledger.CodeInvalidRequest)

	s, err := points.GetSummary(ctx, b.l, citizen("C3"), "C3")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "lifetime grams less clawback", s.LifetimeGrams, int64(0))
	b.verify(t)
}

// A frozen citizen who is due first does not stop others from expiring,
// even when the job takes one citizen per run.
func TestExpiryIsNotStarvedByFrozenCitizens(t *testing.T) {
	b := setup(t)
	b.one(t, "metro-jinan", rec("C1", "bus", "5", "km", day1.Add(-2*time.Hour)))
	b.one(t, "metro-jinan", rec("C2", "bus", "5", "km", day1.Add(-time.Hour)))
	setStatus(t, b, ledger.CitizenPendingAccount("C1"), "frozen")
	b.clock.Advance(7*24*time.Hour + time.Minute)
	n, err := points.ExpireDue(ctx, b.l, 1)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "expired items", n, 1)
	eq(t, "pending C2", b.pending(t, "C2"), int64(0))
	eq(t, "pending C1 (frozen)", b.pending(t, "C1"), int64(1020))
	setStatus(t, b, ledger.CitizenPendingAccount("C1"), "active")
	if n, err = points.ExpireDue(ctx, b.l, 1); err != nil || n != 1 {
		t.Fatalf("after unfreezing: %d %v", n, err)
	}
	b.verify(t)
}
