package quota_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// TestSourceRefusals: reductions formed before 2021-01-01 or outside
// Shandong, a city proposing for another city, duplicate evidence.
func TestSourceRefusals(t *testing.T) {
	b := setup(t)
	in := quota.ProposeSourceInput{City: "3704", Enterprise: "zz-steel", Route: "backward_elimination", Tonnes: "250000", FormedOn: "2020-12-31", EvidenceRef: "ZZ-2020-9"}
	_, _, err := quota.ProposeSource(ctx, b.l, city3704, key(), in)
	wantCode(t, err, quota.CodeFormedTooEarly)

	// Nanjing (3201) is not in Shandong: its own bureau cannot propose there.
	nanjing := ledger.Actor{Sub: "nj-1", Role: ledger.RoleCity, City: "3201"}
	in.FormedOn, in.City = "2023-05-01", "3201"
	_, _, err = quota.ProposeSource(ctx, b.l, nanjing, key(), in)
	wantCode(t, err, quota.CodeOutsideShandong)
	// 3712 (Laiwu) was merged into Jinan and is no longer a city.
	laiwu := ledger.Actor{Sub: "lw-1", Role: ledger.RoleCity, City: "3712"}
	in.City = "3712"
	_, _, err = quota.ProposeSource(ctx, b.l, laiwu, key(), in)
	wantCode(t, err, quota.CodeOutsideShandong)

	// A city proposes for its own city only.
	in.City = "3704"
	_, _, err = quota.ProposeSource(ctx, b.l, city3701, key(), in)
	wantCode(t, err, ledger.CodeForbidden)
	for _, bad := range []func(*quota.ProposeSourceInput){
		func(p *quota.ProposeSourceInput) { p.Route = "magic" },
		func(p *quota.ProposeSourceInput) { p.Tonnes = "0" },
		func(p *quota.ProposeSourceInput) { p.Tonnes = "1.5" },
		func(p *quota.ProposeSourceInput) { p.Tonnes = "-5" },
		func(p *quota.ProposeSourceInput) { p.FormedOn = "2023/05/01" },
		func(p *quota.ProposeSourceInput) { p.FormedOn = "2099-01-01" },
		func(p *quota.ProposeSourceInput) { p.EvidenceRef = "" },
		func(p *quota.ProposeSourceInput) { p.Enterprise = "has space" },
	} {
		x := in
		bad(&x)
		if _, _, err := quota.ProposeSource(ctx, b.l, city3704, key(), x); ledger.ErrorCode(err) != ledger.CodeInvalidRequest && ledger.ErrorCode(err) != ledger.CodeInvalidAmount {
			t.Errorf("%+v: got %v, want a 400 code", x, err)
		}
	}

	s := must[quota.Source](t)(quota.ProposeSource(ctx, b.l, city3704, key(), in))
	_, _, err = quota.ProposeSource(ctx, b.l, city3704, key(), in)
	wantCode(t, err, quota.CodeDuplicateSource)

	// Only the province decides; a rejected source moves nothing and frees its evidence.
	_, _, err = quota.DecideSource(ctx, b.l, city3704, key(), s.ID, quota.DecisionInput{Approve: true, Reason: "mine"})
	wantCode(t, err, ledger.CodeForbidden)
	must[quota.Source](t)(quota.DecideSource(ctx, b.l, provAlice, key(), s.ID, quota.DecisionInput{Approve: false, Reason: "capacity was idle before 2021"}))
	_, _, err = quota.DecideSource(ctx, b.l, provAlice, key(), s.ID, quota.DecisionInput{Approve: true, Reason: "changed my mind"})
	wantCode(t, err, quota.CodeInvalidState)
	_, _, err = quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: s.ID, Reason: "x"})
	wantCode(t, err, quota.CodeInvalidState)
	b.wantBalance(t, quota.SourceAccount("zz-steel"), "0")
	must[quota.Source](t)(quota.ProposeSource(ctx, b.l, city3704, key(), in))

	detail, err := quota.GetSource(ctx, b.l, city3704, s.ID)
	if err != nil || len(detail.Trail) != 2 || detail.Trail[1].Action != "source.rejected" || detail.Trail[1].Actor != "province:p-alice" {
		t.Fatalf("source trail %+v %v", detail.Trail, err)
	}
	_, err = quota.GetSource(ctx, b.l, city3709, s.ID)
	wantCode(t, err, ledger.CodeNotFound)
	b.invariants(t)
}

// TestRoleChecks: what each role may and may not do.
func TestRoleChecks(t *testing.T) {
	b := setup(t)
	src := b.recognisedSource(t, city3704, "zz-coking", "closure", "400000", "2023-01-15", "ZZ-1")
	for _, who := range []ledger.Actor{city3704, enterprise("zz-coking"), auditor} {
		_, _, err := quota.Stockpile(ctx, b.l, who, key(), quota.StockpileInput{SourceID: src.ID, Reason: "x"})
		wantCode(t, err, ledger.CodeForbidden)
		_, _, err = quota.TransferReserves(ctx, b.l, who, key(), quota.TransferInput{From: "3704", To: "3701", Tonnes: "1", Reason: "x"})
		wantCode(t, err, ledger.CodeForbidden)
		_, _, err = quota.ProposeCorrection(ctx, b.l, who, key(), quota.ProposeCorrectionInput{SourceID: src.ID, Holder: "source", Delta: "-1", Reason: "x"})
		wantCode(t, err, ledger.CodeForbidden)
	}
	must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Reason: "batch"}))

	alpha, beta := enterprise("alpha"), enterprise("beta")
	a := must[quota.ApplicationDetail](t)(quota.Apply(ctx, b.l, alpha, key(), quota.ApplyInput{Project: "A1", City: "3709", Sector: "steel", Emissions: "100000", OwnSources: "0", Requested: "150000"}))
	// Only enterprises apply, and the project is theirs.
	_, _, err := quota.Apply(ctx, b.l, city3709, key(), quota.ApplyInput{Project: "A9", City: "3709", Sector: "steel", Emissions: "1", OwnSources: "0", Requested: "1"})
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = quota.Apply(ctx, b.l, beta, key(), quota.ApplyInput{Project: "A1", City: "3709", Sector: "steel", Emissions: "100000", OwnSources: "0", Requested: "1"})
	wantCode(t, err, quota.CodeProjectConflict)
	// One application in progress per project.
	_, _, err = quota.Apply(ctx, b.l, alpha, key(), quota.ApplyInput{Project: "A1", City: "3709", Sector: "steel", Emissions: "100000", OwnSources: "0", Requested: "1"})
	wantCode(t, err, quota.CodeInvalidState)
	// The requested gap is checked against the formula.
	_, _, err = quota.Apply(ctx, b.l, alpha, key(), quota.ApplyInput{Project: "A2", City: "3709", Sector: "steel", Emissions: "100000", OwnSources: "50000", OwnSourcesRef: "r", Requested: "100001"})
	wantCode(t, err, quota.CodeGapExceeded)
	_, _, err = quota.Apply(ctx, b.l, alpha, key(), quota.ApplyInput{Project: "A2", City: "3709", Sector: "steel", Emissions: "100000", OwnSources: "150000", OwnSourcesRef: "r", Requested: "1"})
	wantCode(t, err, quota.CodeGapExceeded)
	_, _, err = quota.Apply(ctx, b.l, alpha, key(), quota.ApplyInput{Project: "A2", City: "3709", Sector: "unknown_sector", Emissions: "100000", OwnSources: "0", Requested: "1"})
	wantCode(t, err, quota.CodeConfigMissing)
	_, _, err = quota.Apply(ctx, b.l, alpha, key(), quota.ApplyInput{Project: "A2", City: "3201", Sector: "steel", Emissions: "100000", OwnSources: "0", Requested: "1"})
	wantCode(t, err, quota.CodeOutsideShandong)
	_, _, err = quota.Apply(ctx, b.l, alpha, key(), quota.ApplyInput{Project: "A2", City: "3709", Sector: "steel", Emissions: "100000",
		EmissionsBreakdown: &quota.EmissionsBreakdown{FuelCombustion: "90000"}, OwnSources: "0", Requested: "1"})
	wantCode(t, err, ledger.CodeInvalidRequest)

	// An enterprise sees only its own applications.
	_, err = quota.GetApplication(ctx, b.l, beta, a.ID)
	wantCode(t, err, ledger.CodeNotFound)
	page, err := quota.ListApplications(ctx, b.l, beta, quota.ApplicationFilter{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("beta sees %d applications (%v)", len(page.Items), err)
	}
	page, _ = quota.ListApplications(ctx, b.l, beta, quota.ApplicationFilter{Enterprise: "alpha"})
	if len(page.Items) != 0 {
		t.Fatal("beta lists alpha's applications by filter")
	}
	page, _ = quota.ListApplications(ctx, b.l, alpha, quota.ApplicationFilter{})
	if len(page.Items) != 1 || page.Items[0].ID != a.ID {
		t.Fatalf("alpha's list %+v", page.Items)
	}
	if _, err := quota.GetApplication(ctx, b.l, alpha, a.ID); err != nil {
		t.Fatal(err)
	}
	// A city sees and reviews its own city's applications only.
	_, err = quota.GetApplication(ctx, b.l, city3704, a.ID)
	wantCode(t, err, ledger.CodeNotFound)
	_, _, err = quota.ReviewApplication(ctx, b.l, city3704, key(), a.ID, quota.DecisionInput{Approve: true, Reason: "x"})
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = quota.ReviewApplication(ctx, b.l, provAlice, key(), a.ID, quota.DecisionInput{Approve: true, Reason: "x"})
	wantCode(t, err, ledger.CodeForbidden)
	// The province decides after the city only; cities, enterprises and auditors never decide.
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), a.ID, quota.DecideInput{Approve: true, Reason: "early", Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "150000"}}})
	wantCode(t, err, quota.CodeInvalidState)
	must[quota.ApplicationDetail](t)(quota.ReviewApplication(ctx, b.l, city3709, key(), a.ID, quota.DecisionInput{Approve: true, Reason: "ok"}))
	for _, who := range []ledger.Actor{city3709, city3704, alpha, auditor} {
		_, _, err = quota.DecideApplication(ctx, b.l, who, key(), a.ID, quota.DecideInput{Approve: true, Reason: "x", Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "150000"}}})
		wantCode(t, err, ledger.CodeForbidden)
		_, _, err = quota.RecordGovernmentApproval(ctx, b.l, who, key(), a.ID, quota.GovernmentInput{Approve: true, DocumentRef: "d", Reason: "x"})
		wantCode(t, err, ledger.CodeForbidden)
	}
	// Draws must add up to the request and name real reserves.
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), a.ID, quota.DecideInput{Approve: true, Reason: "x", Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "100000"}}})
	wantCode(t, err, ledger.CodeInvalidRequest)
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), a.ID, quota.DecideInput{Approve: true, Reason: "x", Draws: []quota.DrawInput{{Reserve: "3712", Tonnes: "150000"}}})
	wantCode(t, err, ledger.CodeInvalidRequest)
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), a.ID, quota.DecideInput{Approve: true, Reason: "x"})
	wantCode(t, err, ledger.CodeInvalidRequest)
	// Paid without money: nothing moves.
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), a.ID, quota.DecideInput{Approve: true, Paid: true, Reason: "x",
		Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "100000"}, {Reserve: "province", Tonnes: "50000"}}})
	wantCode(t, err, ledger.CodeInsufficientBalance)
	b.wantBalance(t, "city:3704:CEI:reserve", "200000")
	b.wantBalance(t, quota.ProjectAccount("A1"), "0")
	// Reports are for the province, cities and auditors.
	_, err = quota.Reserves(ctx, b.l, alpha)
	wantCode(t, err, ledger.CodeForbidden)
	_, err = quota.Report(ctx, b.l, alpha, quota.ReportQuery{})
	wantCode(t, err, ledger.CodeForbidden)
	// An auditor reads everything and changes nothing.
	if _, err := quota.GetApplication(ctx, b.l, auditor, a.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = quota.ReviewApplication(ctx, b.l, auditor, key(), a.ID, quota.DecisionInput{Approve: true, Reason: "x"})
	wantCode(t, err, ledger.CodeForbidden)
	b.invariants(t)
}

// TestConcurrentApprovalsRaceForLastTonnes: two province users approve two
// applications at once, each needing the last 200,000 t of reserve 3704.
// Exactly one wins; the loser moves nothing and stays city_approved.
func TestConcurrentApprovalsRaceForLastTonnes(t *testing.T) {
	b := setup(t)
	const rounds = 4
	for round := range rounds {
		src := b.recognisedSource(t, city3704, "zz-"+uuid.NewString()[:8], "excess_capacity_cut", "400000", "2024-02-01", "EV-"+uuid.NewString())
		must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Reason: "batch"}))
		b.wantBalance(t, "city:3704:CEI:reserve", "200000")
		var apps [2]quota.ApplicationDetail
		for i := range apps {
			ent := enterprise("racer-" + uuid.NewString()[:8])
			apps[i] = b.cityApproved(t, ent, city3709, quota.ApplyInput{Project: "R-" + uuid.NewString()[:8], Sector: "steel", Emissions: "200000",
				OwnSources: "100000", OwnSourcesRef: "own", Requested: "200000"})
		}
		deciders := [2]ledger.Actor{provAlice, provBob}
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range apps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[i] = quota.DecideApplication(ctx, b.l, deciders[i], key(), apps[i].ID, quota.DecideInput{Approve: true, Reason: "race",
					Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "200000"}}})
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			got, gerr := quota.GetApplication(ctx, b.l, provAlice, apps[i].ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			switch {
			case err == nil:
				won++
				if got.Status != quota.StatusApproved || got.Allocation == nil || got.Allocation.Tonnes != "200000" {
					t.Fatalf("round %d: winner %+v", round, got.Application)
				}
			case ledger.ErrorCode(err) == quota.CodeInsufficientReserve:
				if got.Status != quota.StatusCityApproved || got.Allocation != nil {
					t.Fatalf("round %d: loser changed: %+v", round, got.Application)
				}
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d winners, want exactly 1 (%v)", round, won, errs)
		}
		b.wantBalance(t, "city:3704:CEI:reserve", "0")
		b.invariants(t)
	}
}

// TestMakerChecker: corrections need two different province users.
func TestMakerChecker(t *testing.T) {
	b := setup(t)
	src := b.recognisedSource(t, city3704, "zz-glass", "production_switch", "300000", "2022-09-01", "ZZ-G-1")
	must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Tonnes: "200000", Reason: "part"}))
	b.wantBalance(t, quota.SourceAccount("zz-glass"), "100000")

	// The evidence overstated the cut by 120,000 t: write 100,000 down from
	// the city reserve and 20,000 from what is not stockpiled yet.
	c1 := must[quota.Correction](t)(quota.ProposeCorrection(ctx, b.l, provAlice, key(), quota.ProposeCorrectionInput{SourceID: src.ID, Holder: "3704", Delta: "-100000", Reason: "re-measured capacity"}))
	c2 := must[quota.Correction](t)(quota.ProposeCorrection(ctx, b.l, provAlice, key(), quota.ProposeCorrectionInput{SourceID: src.ID, Holder: "source", Delta: "-20000", Reason: "re-measured capacity"}))
	_, _, err := quota.DecideCorrection(ctx, b.l, provAlice, key(), c1.ID, quota.DecisionInput{Approve: true, Reason: "self-approve"})
	wantCode(t, err, quota.CodeMakerChecker)
	_, _, err = quota.DecideCorrection(ctx, b.l, city3704, key(), c1.ID, quota.DecisionInput{Approve: true, Reason: "x"})
	wantCode(t, err, ledger.CodeForbidden)
	b.wantBalance(t, "city:3704:CEI:reserve", "100000")

	c1 = must[quota.Correction](t)(quota.DecideCorrection(ctx, b.l, provBob, key(), c1.ID, quota.DecisionInput{Approve: true, Reason: "checked the survey"}))
	if c1.Status != quota.CorrectionApplied || c1.DecidedBy != "province:p-bob" || c1.ProposedBy != "province:p-alice" || c1.TxID == nil {
		t.Fatalf("correction %+v", c1)
	}
	// The city reserve held only 100,000 of this source: it is now empty.
	b.wantBalance(t, "city:3704:CEI:reserve", "0")
	tx, err := b.l.GetTransaction(ctx, *c1.TxID)
	if err != nil || tx.Corrects == nil || *tx.Corrects != *src.RecognitionTx {
		t.Fatalf("correction must reference the recognition: %+v %v", tx, err)
	}
	must[quota.Correction](t)(quota.DecideCorrection(ctx, b.l, provBob, key(), c2.ID, quota.DecisionInput{Approve: true, Reason: "checked"}))
	b.wantBalance(t, quota.SourceAccount("zz-glass"), "80000")
	b.wantBalance(t, quota.AccountRecognition, "-180000")
	_, _, err = quota.DecideCorrection(ctx, b.l, provBob, key(), c2.ID, quota.DecisionInput{Approve: true, Reason: "again"})
	wantCode(t, err, quota.CodeInvalidState)

	// A write-down larger than what the source still holds there fails cleanly.
	c3 := must[quota.Correction](t)(quota.ProposeCorrection(ctx, b.l, provBob, key(), quota.ProposeCorrectionInput{SourceID: src.ID, Holder: "province", Delta: "-100001", Reason: "x"}))
	_, _, err = quota.DecideCorrection(ctx, b.l, provAlice, key(), c3.ID, quota.DecisionInput{Approve: true, Reason: "x"})
	wantCode(t, err, quota.CodeInsufficientReserve)
	// A write-up creates a new tranche of the source, and a rejection moves nothing.
	c4 := must[quota.Correction](t)(quota.ProposeCorrection(ctx, b.l, provBob, key(), quota.ProposeCorrectionInput{SourceID: src.ID, Holder: "province", Delta: "5000", Reason: "late evidence"}))
	must[quota.Correction](t)(quota.DecideCorrection(ctx, b.l, provAlice, key(), c4.ID, quota.DecisionInput{Approve: true, Reason: "ok"}))
	b.wantBalance(t, "province:CEI:reserve", "105000")
	c5 := must[quota.Correction](t)(quota.ProposeCorrection(ctx, b.l, provBob, key(), quota.ProposeCorrectionInput{SourceID: src.ID, Holder: "province", Delta: "5000", Reason: "dup"}))
	c5 = must[quota.Correction](t)(quota.DecideCorrection(ctx, b.l, provAlice, key(), c5.ID, quota.DecisionInput{Approve: false, Reason: "duplicate of c4"}))
	if c5.Status != quota.CorrectionRejected {
		t.Fatalf("c5 %+v", c5)
	}
	b.wantBalance(t, "province:CEI:reserve", "105000")
	cd, err := quota.GetCorrection(ctx, b.l, auditor, c1.ID)
	if err != nil || len(cd.Trail) != 2 || cd.Trail[0].Actor != "province:p-alice" || cd.Trail[1].Actor != "province:p-bob" {
		t.Fatalf("correction trail %+v %v", cd.Trail, err)
	}
	b.invariants(t)
}

// TestTransferRecoveryLineage: indices move between city reserves, an
// allocation drawn from the receiving city is recovered to it, and a later
// allocation still traces back to the closure through both hops.
func TestTransferRecoveryLineage(t *testing.T) {
	b := setup(t)
	s1 := b.recognisedSource(t, city3704, "zz-a", "closure", "100000", "2022-01-10", "A-1")
	s2 := b.recognisedSource(t, city3704, "zz-b", "relocation", "60000", "2022-01-11", "B-1")
	sp1 := must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: s1.ID, Reason: "1"}))
	must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: s2.ID, Reason: "2"}))
	// 3704 holds 50,000 of s1 then 30,000 of s2. Move 70,000 to Jinan: FIFO
	// takes all of s1's tranche and 20,000 of s2's.
	tr := must[quota.Transfer](t)(quota.TransferReserves(ctx, b.l, provAlice, key(), quota.TransferInput{From: "3704", To: "3701", Tonnes: "70000", Reason: "Jinan's projects"}))
	if len(tr.Sources) != 2 {
		t.Fatalf("transfer sources %v", tr.Sources)
	}
	b.wantBalance(t, "city:3704:CEI:reserve", "10000")
	b.wantBalance(t, "city:3701:CEI:reserve", "70000")
	_, _, err := quota.TransferReserves(ctx, b.l, provAlice, key(), quota.TransferInput{From: "3704", To: "3701", Tonnes: "10001", Reason: "x"})
	wantCode(t, err, quota.CodeInsufficientReserve)
	b.invariants(t)

	ent := enterprise("jn-chem")
	b.fund(t, "jn-chem", "10000000.00")
	app := b.cityApproved(t, ent, city3701, quota.ApplyInput{Project: "J1", Sector: "refining", Emissions: "50000", OwnSources: "0", Requested: "60000"})
	app = must[quota.ApplicationDetail](t)(quota.DecideApplication(ctx, b.l, provAlice, key(), app.ID, quota.DecideInput{Approve: true, Paid: true, Reason: "ok",
		Draws: []quota.DrawInput{{Reserve: "3701", Tonnes: "60000"}}}))
	lin := app.Allocation.Lineage
	if len(lin) != 2 || lin[0].SourceID != s1.ID || lin[0].Tonnes != "50000" || lin[1].SourceID != s2.ID || lin[1].Tonnes != "10000" {
		t.Fatalf("lineage %+v", lin)
	}
	b.wantBalance(t, ledger.OrgMoneyAccount("jn-chem"), "7000000.00")

	// The project is cancelled: the tonnes go back to Jinan's reserve and the payment is refunded.
	b.clock.advance(time.Hour)
	rec := must[quota.ApplicationDetail](t)(quota.Recover(ctx, b.l, provBob, key(), app.Allocation.ID, quota.RecoverInput{Cause: "cancelled", Refund: true, Reason: "project cancelled"}))
	if rec.Allocation.Status != quota.AllocationRecovered || rec.Allocation.RefundedCNY != "3000000.00" {
		t.Fatalf("recovered %+v", rec.Allocation)
	}
	b.wantBalance(t, "city:3701:CEI:reserve", "70000")
	b.wantBalance(t, quota.ProjectAccount("J1"), "0")
	b.wantBalance(t, ledger.OrgMoneyAccount("jn-chem"), "10000000.00")
	_, _, err = quota.Consume(ctx, b.l, provBob, key(), app.Allocation.ID, quota.ConsumeInput{CommissionedOn: "2025-03-10", Reason: "x"})
	wantCode(t, err, quota.CodeInvalidState)
	b.invariants(t)

	// A new project draws Jinan's reserve: FIFO takes what is left of s2's
	// transfer tranche (10,000), then s1's recovered tranche (50,000).
	app2 := b.cityApproved(t, ent, city3701, quota.ApplyInput{Project: "J2", Sector: "refining", Emissions: "50000", OwnSources: "0", Requested: "60000"})
	app2 = must[quota.ApplicationDetail](t)(quota.DecideApplication(ctx, b.l, provAlice, key(), app2.ID, quota.DecideInput{Approve: true, Reason: "ok",
		Draws: []quota.DrawInput{{Reserve: "3701", Tonnes: "60000"}}}))
	rows, err := quota.Lineage(ctx, b.l, provAlice, quota.LineageQuery{AllocationID: &app2.Allocation.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("lineage %+v", rows)
	}
	if rows[0].SourceID != s2.ID || rows[0].Tonnes != "10000" || rows[0].Path != "stockpiling:"+spOf(t, b, s2.ID)+" > transfer:"+tr.ID.String() {
		t.Fatalf("row 0 %+v", rows[0])
	}
	want1 := "stockpiling:" + sp1.ID.String() + " > transfer:" + tr.ID.String() + " > recovery:" + app.Allocation.ID.String()
	if rows[1].SourceID != s1.ID || rows[1].Tonnes != "50000" || rows[1].Path != want1 || rows[1].Route != "closure" {
		t.Fatalf("row 1 %+v, want path %s", rows[1], want1)
	}
	res, err := quota.Reserves(ctx, b.l, auditor)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if r.Reserve == "3701" && (r.InReserve != "10000" || r.TransferredIn != "70000" || r.Recovered != "60000" || r.Allocated != "60000") {
			t.Fatalf("3701 %+v", r)
		}
	}
	b.invariants(t)
}

func spOf(t *testing.T, b *bundle, source uuid.UUID) string {
	t.Helper()
	var id uuid.UUID
	if err := b.l.Pool().QueryRow(ctx, `SELECT id FROM quota_stockpilings WHERE source_id = $1`, source).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// TestConfigVersions: a new split version applies from its start, the
// decision records it, and versions cannot start in the past.
func TestConfigVersions(t *testing.T) {
	b := setup(t)
	src := b.recognisedSource(t, city3704, "zz-c", "nuclear_replacement", "1000", "2024-01-01", "N-1")
	from := b.clock.now().Add(time.Hour).Format(time.RFC3339)
	_, _, err := quota.PublishConfig(ctx, b.l, city3704, key(), quota.PublishConfigInput{Kind: "split", Value: "60", ValidFrom: from, SourceDoc: "doc", Reason: "x"})
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = quota.PublishConfig(ctx, b.l, provAlice, key(), quota.PublishConfigInput{Kind: "split", Value: "60", ValidFrom: "2024-01-01T00:00:00Z", SourceDoc: "doc", Reason: "x"})
	wantCode(t, err, ledger.CodeInvalidRequest)
	v := must[quota.ConfigVersion](t)(quota.PublishConfig(ctx, b.l, provAlice, key(), quota.PublishConfigInput{Kind: "split", Value: "60", ValidFrom: from,
		SourceDoc: "鲁环发〔2025〕1号", Reason: "official split published"}))
	// Before its start the old version applies.
	sp := must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Tonnes: "100", Reason: "before"}))
	if sp.ProvinceTonnes != "50" || sp.SplitVersion == v.ID {
		t.Fatalf("before the new version: %+v", sp)
	}
	b.clock.advance(2 * time.Hour)
	sp = must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Tonnes: "100", Reason: "after"}))
	if sp.ProvinceTonnes != "60" || sp.CityTonnes != "40" || sp.SplitVersion != v.ID {
		t.Fatalf("after the new version: %+v", sp)
	}
	all, err := quota.ListConfig(ctx, b.l, true)
	if err != nil {
		t.Fatal(err)
	}
	var splits []quota.ConfigVersion
	for _, c := range all {
		if c.Kind == "split" {
			splits = append(splits, c)
		}
	}
	if len(splits) != 2 || splits[0].ValidTo == nil || !splits[0].ValidTo.Equal(v.ValidFrom) || splits[1].ValidTo != nil {
		t.Fatalf("split versions %+v", splits)
	}
	// Seeding again does not override the published version.
	if err := quota.Seed(ctx, b.l); err != nil {
		t.Fatal(err)
	}
	inForce, _ := quota.ListConfig(ctx, b.l, false)
	for _, c := range inForce {
		if c.Kind == "split" && c.ID != v.ID {
			t.Fatalf("in force %+v", c)
		}
	}
	b.invariants(t)
}

// TestTrailIsTamperEvident: changing a stored event, and removing one,
// are each found by the one verification (the engine's trail_events;
// migration 0005 moved quota's trail there as subject "source:<id>").
func TestTrailIsTamperEvident(t *testing.T) {
	b := setup(t)
	src := b.recognisedSource(t, city3704, "zz-t", "other", "10", "2024-01-01", "T-1")
	b.invariants(t)
	subject := "source:" + src.ID.String()
	if _, err := b.l.Pool().Exec(ctx, `UPDATE trail_events SET reason = 'nothing to see' WHERE use_case = 'quota' AND subject = $1 AND seq = 1`, subject); err != nil {
		t.Fatal(err)
	}
	tp, err := trailProblems(b)
	if err != nil || len(tp) != 1 || tp[0].Row != subject+"#1" || !strings.Contains(tp[0].Detail, "changed") {
		t.Fatalf("tampering not detected: %+v %v", tp, err)
	}
	if _, err := b.l.Pool().Exec(ctx, `DELETE FROM trail_events WHERE use_case = 'quota' AND subject = $1 AND seq = 2`, subject); err != nil {
		t.Fatal(err)
	}
	tp, _ = trailProblems(b)
	removed := slices.ContainsFunc(tp, func(p ledger.Problem) bool { return strings.Contains(p.Detail, "removed") })
	if len(tp) < 2 || !removed {
		t.Fatalf("removal not detected: %+v", tp)
	}
}

// trailProblems runs VerifyAll and returns the trail problems it found in
// quota's trail (the report must also say not ok).
func trailProblems(b *bundle) ([]ledger.Problem, error) {
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{quota.UseCase})
	if err != nil {
		return nil, err
	}
	var out []ledger.Problem
	for _, p := range rep.Problems {
		if p.Kind == "trail_chain" && p.UseCase == "quota" && p.Table == "trail_events" {
			out = append(out, p)
		}
	}
	if len(out) > 0 && rep.OK {
		return nil, fmt.Errorf("report says ok with %d trail problems", len(out))
	}
	return out, nil
}
