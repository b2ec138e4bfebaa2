package points_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// claimedLot gives C1 one claimed lot and returns its id.
func claimedLot(t *testing.T, b *bundle) string {
	t.Helper()
	b.one(t, "metro-jinan", rec("C1", "metro", "12", "km", day1.Add(-30*time.Minute)))
	b.clock.Advance(time.Hour)
	c := b.claim(t, "C1")
	if len(c.Lots) != 1 {
		t.Fatalf("claim made %d lots, want 1", len(c.Lots))
	}
	b.verify(t)
	return c.Lots[0].ID.String()
}

// wantRecordHashProblem asserts that VerifyAll over the points use case
// fails and names the lot's row in points_lots.
func wantRecordHashProblem(t *testing.T, b *bundle, lot string) {
	t.Helper()
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{points.UseCase})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatal("verify is ok after a lot was edited")
	}
	for _, p := range rep.Problems {
		if p.Kind == "record_hash" && p.UseCase == "points" && p.Table == "points_lots" && p.Row == lot {
			return
		}
	}
	t.Fatalf("no record_hash problem names lot %s: %+v", lot, rep.Problems)
}

// A lot's amount, its times, its citizen and its claim are what the
// public relies on: editing any of them in SQL is reported, and putting
// it back makes verify clean again.
func TestLotEditsAreReported(t *testing.T) {
	b := setup(t)
	lot := claimedLot(t, b)
	for field, edit := range map[string][2]string{
		"points":     {`points = points + 1`, `points = points - 1`},
		"expires_at": {`expires_at = expires_at + interval '1 year'`, `expires_at = expires_at - interval '1 year'`},
		"earned_at":  {`earned_at = earned_at + interval '1 day'`, `earned_at = earned_at - interval '1 day'`},
		"created_at": {`created_at = created_at - interval '1 day'`, `created_at = created_at + interval '1 day'`},
		"citizen_id": {`citizen_id = 'C2'`, `citizen_id = 'C1'`},
		"claim_tx":   {`claim_tx = gen_random_uuid()`, ``},
	} {
		t.Run(field, func(t *testing.T) {
			var old string
			if err := b.Pool.QueryRow(ctx, `SELECT claim_tx::TEXT FROM points_lots WHERE id = $1`, lot).Scan(&old); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Pool.Exec(ctx, `UPDATE points_lots SET `+edit[0]+` WHERE id = $1`, lot); err != nil {
				t.Fatal(err)
			}
			wantRecordHashProblem(t, b, lot)
			undo := edit[1]
			if undo == "" {
				undo = `claim_tx = '` + old + `'::UUID`
			}
			if _, err := b.Pool.Exec(ctx, `UPDATE points_lots SET `+undo+` WHERE id = $1`, lot); err != nil {
				t.Fatal(err)
			}
			b.verify(t)
		})
	}
}

// Lots written before record hashes existed are hashed by the use case's
// migration, once; until then verify names them.
func TestMigrateHashesOldLots(t *testing.T) {
	b := setup(t)
	lot := claimedLot(t, b)
	if _, err := b.Pool.Exec(ctx, `UPDATE points_lots SET record_hash = NULL`); err != nil {
		t.Fatal(err)
	}
	wantRecordHashProblem(t, b, lot)
	for range 2 {
		if err := ledger.MigrateAll(ctx, b.l, []ledger.UseCase{points.UseCase}); err != nil {
			t.Fatal(err)
		}
	}
	b.verify(t)
	// A hash the migration did not write is not rewritten by it.
	if _, err := b.Pool.Exec(ctx, `UPDATE points_lots SET points = points + 1 WHERE id = $1`, lot); err != nil {
		t.Fatal(err)
	}
	if err := points.UseCase.Migrate(ctx, b.l); err != nil {
		t.Fatal(err)
	}
	wantRecordHashProblem(t, b, lot)
}

// The use case registers the expiry job api ran, under the same name.
func TestUseCaseRegistersTheExpiryJob(t *testing.T) {
	b := setup(t)
	b.one(t, "metro-jinan", rec("C1", "bus", "5", "km", day1.Add(-time.Hour)))
	b.clock.Advance(7*24*time.Hour + time.Minute)
	if len(points.UseCase.Jobs) != 1 || points.UseCase.Jobs[0].Name != "expire-points" || points.UseCase.Jobs[0].Every != time.Minute {
		t.Fatalf("jobs: %+v", points.UseCase.Jobs)
	}
	n, err := points.UseCase.Jobs[0].Run(ctx, b.l)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "expired items", n, 1)
	eq(t, "pending C1", b.pending(t, "C1"), int64(0))
	b.verify(t)
}

// The pending stream skips the claims (listed from the available
// account), so a page of it may need several reads of the account's
// history: with one line a page, every line still comes once, in order.
func TestActivityPagesPastClaims(t *testing.T) {
	b := setup(t)
	var want []string
	for i := range 3 {
		for j := range 2 {
			b.clock.Advance(time.Minute)
			b.one(t, "metro-jinan", rec("C1", "bus", "5", "km", day1.Add(-time.Duration(1+24*(2*i+j))*time.Hour)))
		}
		b.clock.Advance(time.Minute)
		b.claim(t, "C1")
		want = append([]string{points.ActivityClaimed, points.ActivityEarned, points.ActivityEarned}, want...)
	}
	var got []string
	cursor := ""
	for range 10 {
		page, err := points.ListActivity(ctx, b.l, citizen("C1"), "C1", 1, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			got = append(got, it.Type)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	eq(t, "activity", fmt.Sprint(got), fmt.Sprint(want))
}

// remaining is not hashed (it changes with every spend): the balances
// check holds it to the journal, so an edit of it is reported too.
func TestLotRemainingIsHeldToTheJournal(t *testing.T) {
	b := setup(t)
	lot := claimedLot(t, b)
	if _, err := b.Pool.Exec(ctx, `UPDATE points_lots SET remaining = remaining - 1 WHERE id = $1`, lot); err != nil {
		t.Fatal(err)
	}
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{points.UseCase})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range rep.Problems {
		if p.UseCase == "points" && p.Table == "points_lots" && (p.Row == "C1" || p.Row == lot) {
			kinds = append(kinds, p.Kind)
		}
	}
	eq(t, "problems on the lot", fmt.Sprint(kinds), "[balances lot_moves]")
}
