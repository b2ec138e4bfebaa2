package points_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// run starts n goroutines at once (behind a barrier) and waits for them.
func run(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// 100 concurrent redemptions against a balance of 5,000 points: exactly
// floor(5,000 / 70) = 71 succeed, the balance ends at 30, the stock drops by
// exactly 71; and 100 concurrent redemptions of a reward with a stock of 10
// take exactly 10.
func TestConcurrentRedemptions(t *testing.T) {
	b := setup(t)
	b.one(t, "metro-jinan", rec("C1", "metro", "15", "km", day1.Add(-time.Hour))) // 3,000 (daily cap)
	b.claim(t, "C1")
	b.clock.Advance(24 * time.Hour)
	eq(t, "day 2", b.one(t, "metro-jinan", rec("C1", "metro", "9.48", "km", day1.Add(23*time.Hour))).Grams, int64(2000))
	b.claim(t, "C1")
	eq(t, "available", b.available(t, "C1"), int64(5000))
	for _, r := range []points.RewardInput{
		{ID: "seventy", Title: "Seventy", PricePoints: "70", Stock: "1000"},
		{ID: "scarce", Title: "Scarce", PricePoints: "1", Stock: "10"},
	} {
		if _, _, err := points.CreateReward(ctx, b.l, province, key(), r); err != nil {
			t.Fatal(err)
		}
	}

	var ok, short atomic.Int64
	run(100, func(int) {
		_, _, err := points.Redeem(ctx, b.l, citizen("C1"), key(), points.RedeemInput{Reward: "seventy"})
		switch {
		case err == nil:
			ok.Add(1)
		case ledger.ErrorCode(err) == ledger.CodeInsufficientBalance:
			short.Add(1)
		default:
			t.Errorf("redeem: %v", err)
		}
	})
	eq(t, "succeeded", ok.Load(), int64(71))
	eq(t, "refused", short.Load(), int64(29))
	eq(t, "available", b.available(t, "C1"), int64(30))
	eq(t, "redeemed", b.balance(t, points.ProgrammeRedeemed), int64(4970))
	rw, _ := points.GetReward(ctx, b.l, "seventy")
	eq(t, "stock", rw.Stock, int64(929))

	// Stock: C1 (30 points) and C2 (296) race for 10 items at 1 point.
	b.one(t, "tanhui-app", rec("C2", "walking", "15000", "steps", day1.Add(22*time.Hour)))
	b.claim(t, "C2")
	var got [2]atomic.Int64
	var out atomic.Int64
	run(100, func(i int) {
		c := []string{"C1", "C2"}[i%2]
		_, _, err := points.Redeem(ctx, b.l, citizen(c), key(), points.RedeemInput{Reward: "scarce"})
		switch {
		case err == nil:
			got[i%2].Add(1)
		case ledger.ErrorCode(err) == points.CodeOutOfStock:
			out.Add(1)
		default:
			t.Errorf("redeem: %v", err)
		}
	})
	eq(t, "items taken", got[0].Load()+got[1].Load(), int64(10))
	eq(t, "out of stock", out.Load(), int64(90))
	rw, _ = points.GetReward(ctx, b.l, "scarce")
	eq(t, "stock left", rw.Stock, int64(0))
	eq(t, "C1 available", b.available(t, "C1"), 30-got[0].Load())
	eq(t, "C2 available", b.available(t, "C2"), 296-got[1].Load())
	b.verify(t)
}

// The same trip reported at the same moment by two operators is credited
// once.
func TestConcurrentSameTripTwoOperators(t *testing.T) {
	b := setup(t)
	if _, _, err := points.RegisterOperator(ctx, b.l, province, key(), points.OperatorInput{ID: "maas-jinan", Name: "Jinan MaaS", Kinds: []string{"metro"}}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("T%02d", i)
	}
	if err := points.EnsureCitizens(ctx, b.l, ids, "metro-jinan", "maas-jinan"); err != nil {
		t.Fatal(err)
	}
	results := make([]points.RecordResult, 2*n)
	run(2*n, func(i int) {
		op := []string{"metro-jinan", "maas-jinan"}[i%2]
		results[i] = b.one(t, op, rec(ids[i/2], "metro", "12", "km", day1.Add(-time.Hour)))
	})
	for i := range n {
		a, c := results[2*i], results[2*i+1]
		credited := map[string]int{a.Status: 1}
		credited[c.Status]++
		if credited[points.StatusCredited] != 1 || credited[points.StatusDuplicate] != 1 {
			t.Fatalf("citizen %s: %s and %s, want one credited and one duplicate", ids[i], a.Status, c.Status)
		}
		eq(t, "pending "+ids[i], b.pending(t, ids[i]), int64(2532))
	}
	pools := b.balance(t, poolAccount("metro-jinan", "metro-km.v1", day1)) + b.balance(t, poolAccount("maas-jinan", "metro-km.v1", day1))
	eq(t, "pools", pools, int64(n*2532))
	b.verify(t)
}

// Concurrent batches push the same citizens over the daily caps: each
// citizen ends with exactly the 3,000 g all-behaviour cap, walking never
// above 296 g. Every batch names the citizens in its own random order, so
// the batches also prove that sorted locks do not deadlock.
func TestConcurrentBatchesOverDailyCap(t *testing.T) {
	b := setup(t)
	cs := []string{"C1", "C2", "C3", "C4", "C5"}
	if err := points.EnsureCitizens(ctx, b.l, cs, "metro-jinan", "tanhui-app"); err != nil {
		t.Fatal(err)
	}
	const metroBatches, walkBatches = 8, 4
	var mu sync.Mutex
	credited := map[string]int64{}
	walked := map[string]int64{}
	run(metroBatches+walkBatches, func(g int) {
		var recs []points.BehaviourRecord
		op, kind, qty, unit := "metro-jinan", "metro", "3", "km" // 633 g each
		if g >= metroBatches {
			op, kind, qty, unit = "tanhui-app", "walking", "5000", "steps" // 100 g each
		}
		for _, c := range cs {
			for j := range 4 {
				at := day1.Add(-time.Duration(g*10+j+1) * time.Minute)
				recs = append(recs, rec(c, kind, qty, unit, at))
			}
		}
		rand.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		res, _, err := points.Ingest(ctx, b.l, operator(op), key(), points.IngestInput{Records: recs})
		if err != nil {
			t.Errorf("batch %d: %v", g, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range res.Results {
			if r.Status != points.StatusCredited && r.Status != points.StatusCapReached {
				t.Errorf("batch %d record %d: %s %s", g, i, r.Status, r.Message)
			}
			credited[recs[i].Citizen] += r.Grams
			if kind == "walking" {
				walked[recs[i].Citizen] += r.Grams
			}
		}
	})
	for _, c := range cs {
		eq(t, "credited to "+c, credited[c], int64(3000))
		eq(t, "pending "+c, b.pending(t, c), int64(3000))
		if walked[c] > 296 {
			t.Errorf("%s walked %d g in a day, cap 296", c, walked[c])
		}
	}
	b.verify(t)
}

// Several replicas run the expiry job at once: every due credit lapses
// exactly once.
func TestConcurrentExpiry(t *testing.T) {
	b := setup(t)
	const n = 60
	ids := make([]string, n)
	recs := make([]points.BehaviourRecord, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("E%02d", i)
		recs[i] = rec(ids[i], "metro", "1", "km", day1.Add(-time.Hour))
	}
	if err := points.EnsureCitizens(ctx, b.l, ids, "metro-jinan"); err != nil {
		t.Fatal(err)
	}
	eq(t, "credited", b.report(t, "metro-jinan", recs...).Credited, n)
	b.clock.Advance(8 * 24 * time.Hour)
	var total atomic.Int64
	run(4, func(int) {
		for {
			k, err := points.ExpireDue(ctx, b.l, 7)
			if err != nil {
				t.Errorf("expire: %v", err)
				return
			}
			if k == 0 {
				return
			}
			total.Add(int64(k))
		}
	})
	k, err := points.ExpireDue(ctx, b.l, 0)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "expired once", total.Load()+int64(k), int64(n))
	eq(t, "expired sink", b.balance(t, points.ProgrammeExpired), int64(n*211))
	b.verify(t)
}
