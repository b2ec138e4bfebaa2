package quota_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// TestTwoHighScenario is DOMAIN.md §7 "Two-high" with its exact numbers.
func TestTwoHighScenario(t *testing.T) {
	b := setup(t)
	n1corp := enterprise("n1corp")
	b.fund(t, "n1corp", "100000000.00")

	// A coking plant in 3704 closes: 1,000,000 t recognised.
	src := must[quota.Source](t)(quota.ProposeSource(ctx, b.l, city3704, key(), quota.ProposeSourceInput{
		City: "3704", Enterprise: "zz-coking", Route: "closure", Tonnes: "1000000", FormedOn: "2022-06-30",
		EvidenceRef: "ZZ-EEB-2022-017", Reason: "coke ovens 3 and 4 demolished"}))
	if src.Status != quota.SourceProposed {
		t.Fatalf("status %s", src.Status)
	}
	b.wantBalance(t, quota.SourceAccount("zz-coking"), "0")
	src = must[quota.Source](t)(quota.DecideSource(ctx, b.l, provAlice, key(), src.ID, quota.DecisionInput{Approve: true, Reason: "evidence checked"}))
	if src.Status != quota.SourceRecognised || src.RecognitionTx == nil {
		t.Fatalf("not recognised: %+v", src)
	}
	b.wantBalance(t, quota.SourceAccount("zz-coking"), "1000000")
	b.wantBalance(t, quota.AccountRecognition, "-1000000")
	b.invariants(t)

	// Stockpiled 500,000 province / 500,000 city.
	b.clock.advance(24 * 3600e9)
	sp := must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Reason: "收储 2025 batch 1"}))
	if sp.Tonnes != "1000000" || sp.ProvinceTonnes != "500000" || sp.CityTonnes != "500000" || sp.City != "3704" || sp.SplitPercent != "50" {
		t.Fatalf("stockpiling %+v", sp)
	}
	b.wantBalance(t, quota.SourceAccount("zz-coking"), "0")
	b.wantBalance(t, "province:CEI:reserve", "500000")
	b.wantBalance(t, "city:3704:CEI:reserve", "500000")
	b.invariants(t)

	// Project N1 in 3709: 800,000 × 1.5 = 1,200,000 required, 400,000 own → gap 800,000.
	b.clock.advance(24 * 3600e9)
	app := must[quota.ApplicationDetail](t)(quota.Apply(ctx, b.l, n1corp, key(), quota.ApplyInput{
		Project: "N1", City: "3709", Sector: "steel", Emissions: "800000",
		EmissionsBreakdown: &quota.EmissionsBreakdown{FuelCombustion: "620000", IndustrialProcess: "150000", NetPurchasedPower: "60000", CO2Recovered: "30000"},
		OwnSources:         "400000", OwnSourcesRef: "N1-own-replacement-2024", Requested: "800000", Reason: "new blast furnace line"}))
	if app.Coefficient != "1.5" || app.Required != "1200000" || app.Gap != "800000" || app.Requested != "800000" || app.Status != quota.StatusSubmitted {
		t.Fatalf("application %+v", app.Application)
	}
	// The city of the project reviews; the city losing the capacity cannot.
	_, _, err := quota.ReviewApplication(ctx, b.l, city3704, key(), app.ID, quota.DecisionInput{Approve: true, Reason: "x"})
	wantCode(t, err, ledger.CodeForbidden)
	app = must[quota.ApplicationDetail](t)(quota.ReviewApplication(ctx, b.l, city3709, key(), app.ID, quota.DecisionInput{Approve: true, Reason: "project filed with 泰安"}))
	if app.Status != quota.StatusCityApproved {
		t.Fatalf("status %s", app.Status)
	}
	// A city cannot decide.
	_, _, err = quota.DecideApplication(ctx, b.l, city3709, key(), app.ID, quota.DecideInput{Approve: true, Reason: "x",
		Draws: []quota.DrawInput{{Reserve: "province", Tonnes: "500000"}, {Reserve: "3704", Tonnes: "300000"}}})
	wantCode(t, err, ledger.CodeForbidden)

	// Approved and allocated from 500,000 province + 300,000 city 3704, paid.
	decideKey := key()
	decision := quota.DecideInput{Approve: true, Reason: "major project; reallocation approved", Paid: true,
		Draws: []quota.DrawInput{{Reserve: "province", Tonnes: "500000"}, {Reserve: "3704", Tonnes: "300000"}}}
	app = must[quota.ApplicationDetail](t)(quota.DecideApplication(ctx, b.l, provAlice, decideKey, app.ID, decision))
	if app.Status != quota.StatusApproved || app.Escalated || app.Allocation == nil {
		t.Fatalf("decision %+v", app)
	}
	al := app.Allocation
	if al.Tonnes != "800000" || !al.Paid || al.PriceYuanPerTonne != "50.00" || al.AmountCNY != "40000000.00" || al.PriceVersion == nil || al.Status != quota.AllocationAllocated {
		t.Fatalf("allocation %+v", al)
	}
	if len(al.Reserves) != 2 || al.Reserves[0] != (quota.ReserveDraw{Reserve: "province", Tonnes: "500000"}) || al.Reserves[1] != (quota.ReserveDraw{Reserve: "3704", Tonnes: "300000"}) {
		t.Fatalf("reserves %+v", al.Reserves)
	}
	for _, p := range al.Lineage {
		if p.SourceID != src.ID || p.Route != "closure" || p.SourceCity != "3704" || p.SourceEnterprise != "zz-coking" || p.EvidenceRef != "ZZ-EEB-2022-017" {
			t.Fatalf("lineage %+v", p)
		}
	}
	b.wantBalance(t, "province:CEI:reserve", "0")
	b.wantBalance(t, "city:3704:CEI:reserve", "200000")
	b.wantBalance(t, quota.ProjectAccount("N1"), "800000")
	b.wantBalance(t, ledger.OrgMoneyAccount("n1corp"), "60000000.00")
	b.wantBalance(t, quota.AccountRevenue, "40000000.00")
	tx, err := b.l.GetTransaction(ctx, al.TxID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.Postings) != 5 { // two reserves, the project, and the CNY leg, atomically
		t.Fatalf("allocation transaction has %d postings", len(tx.Postings))
	}
	b.invariants(t)

	// Replaying the decision returns the first result; a different body under the same key is refused.
	again, replayed, err := quota.DecideApplication(ctx, b.l, provAlice, decideKey, app.ID, decision)
	if err != nil || !replayed || again.Allocation == nil || again.Allocation.ID != al.ID {
		t.Fatalf("replay: %v %v", replayed, err)
	}
	decision.Paid = false
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, decideKey, app.ID, decision)
	wantCode(t, err, ledger.CodeIdempotencyConflict)
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), app.ID, decision)
	wantCode(t, err, quota.CodeInvalidState)

	// A further 300,000 request fails (200,000 left); nothing moves.
	n2 := b.cityApproved(t, n1corp, city3709, quota.ApplyInput{Project: "N2", Sector: "cement", Emissions: "200000", OwnSources: "0", Requested: "300000"})
	_, _, err = quota.DecideApplication(ctx, b.l, provBob, key(), n2.ID, quota.DecideInput{Approve: true, Reason: "try city reserve", Paid: true,
		Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "300000"}}})
	wantCode(t, err, quota.CodeInsufficientReserve)
	if e, _ := ledger.AsError(err); e.Detail["available"] != "200000" {
		t.Fatalf("detail %+v", e.Detail)
	}
	_, _, err = quota.DecideApplication(ctx, b.l, provBob, key(), n2.ID, quota.DecideInput{Approve: true, Reason: "split it",
		Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "200000"}, {Reserve: "province", Tonnes: "100000"}}})
	wantCode(t, err, quota.CodeInsufficientReserve)
	b.wantBalance(t, "city:3704:CEI:reserve", "200000")
	b.wantBalance(t, ledger.OrgMoneyAccount("n1corp"), "60000000.00")
	n2, err = quota.GetApplication(ctx, b.l, provBob, n2.ID)
	if err != nil || n2.Status != quota.StatusCityApproved || n2.Allocation != nil {
		t.Fatalf("after a failed decision: %+v %v", n2.Application, err)
	}
	b.invariants(t)

	// A 1,200,000 request goes to the provincial government.
	n3 := b.cityApproved(t, n1corp, city3709, quota.ApplyInput{Project: "N3", Sector: "coking", Emissions: "800000", OwnSources: "0", Requested: "1200000"})
	n3 = must[quota.ApplicationDetail](t)(quota.DecideApplication(ctx, b.l, provAlice, key(), n3.ID, quota.DecideInput{Approve: true, Reason: "forward to 省政府",
		Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "1200000"}}}))
	if n3.Status != quota.StatusAwaitingGovernment || !n3.Escalated || n3.Threshold != "1000000" || n3.ThresholdVersion == nil || n3.Allocation != nil {
		t.Fatalf("escalation %+v", n3.Application)
	}
	b.wantBalance(t, "city:3704:CEI:reserve", "200000")
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), n3.ID, quota.DecideInput{Approve: true, Reason: "again", Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "1200000"}}})
	wantCode(t, err, quota.CodeInvalidState)
	n3 = must[quota.ApplicationDetail](t)(quota.RecordGovernmentApproval(ctx, b.l, provAlice, key(), n3.ID, quota.GovernmentInput{Approve: true, DocumentRef: "鲁政字〔2025〕88号", Reason: "government approved"}))
	if n3.Status != quota.StatusGovernmentApproved {
		t.Fatalf("status %s", n3.Status)
	}
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), n3.ID, quota.DecideInput{Approve: true, Reason: "allocate", Draws: []quota.DrawInput{{Reserve: "3704", Tonnes: "1200000"}}})
	wantCode(t, err, quota.CodeInsufficientReserve)
	b.invariants(t)

	// The full trail of N1 says who, when and why.
	detail, err := quota.GetApplication(ctx, b.l, n1corp, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range detail.Trail {
		actions = append(actions, e.Action+"/"+e.Actor)
		if e.Reason == "" || e.At.IsZero() {
			t.Fatalf("event without why or when: %+v", e)
		}
	}
	// The actor is the whole principal: an enterprise's user with its
	// organisation, a city's user with its city.
	want := "application.submitted/enterprise:n1corp-user@org:n1corp application.city_approved/city:taian-1@city:3709 application.approved/province:p-alice"
	if strings.Join(actions, " ") != want {
		t.Fatalf("trail %v, want %s", actions, want)
	}
	if last := detail.Trail[2]; last.Detail["draw_province"] != "500000" || last.Detail["draw_3704"] != "300000" || last.Detail["amount_cny"] != "40000000.00" || last.TxID == nil {
		t.Fatalf("approval event %+v", last)
	}

	// Reports: reserves, flows, lineage; JSON rows and CSV.
	res, err := quota.Reserves(ctx, b.l, auditor)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]quota.ReserveRow{}
	for _, r := range res.Rows {
		rows[r.Reserve] = r
	}
	if len(res.Rows) != 17 {
		t.Fatalf("%d reserve rows", len(res.Rows))
	}
	if r := rows["province"]; r.InReserve != "0" || r.Allocated != "500000" || r.Stockpiled != "500000" || r.Consumed != "0" {
		t.Fatalf("province %+v", r)
	}
	if r := rows["3704"]; r.InReserve != "200000" || r.Allocated != "300000" || r.Stockpiled != "500000" {
		t.Fatalf("3704 %+v", r)
	}
	if res.Total.InReserve != "200000" || res.Total.Allocated != "800000" {
		t.Fatalf("total %+v", res.Total)
	}

	// Commissioning consumes N1's allocation.
	consumed := must[quota.ApplicationDetail](t)(quota.Consume(ctx, b.l, provBob, key(), al.ID, quota.ConsumeInput{CommissionedOn: "2025-03-12", Reason: "project commissioned"}))
	if consumed.Allocation.Status != quota.AllocationConsumed {
		t.Fatalf("allocation %+v", consumed.Allocation)
	}
	_, _, err = quota.Recover(ctx, b.l, provBob, key(), al.ID, quota.RecoverInput{Cause: "cancelled", Reason: "too late"})
	wantCode(t, err, quota.CodeInvalidState)
	b.wantBalance(t, quota.ProjectAccount("N1"), "0")
	b.wantBalance(t, quota.AccountConsumed, "800000")
	res, _ = quota.Reserves(ctx, b.l, provAlice)
	if res.Total.Allocated != "0" || res.Total.Consumed != "800000" || res.Rows[0].Consumed != "500000" {
		t.Fatalf("after consumption %+v / %+v", res.Total, res.Rows[0])
	}
	b.invariants(t)

	rep, err := quota.Report(ctx, b.l, city3704, quota.ReportQuery{Period: "month", From: "2025-01-01", To: "2025-12-31"})
	if err != nil {
		t.Fatal(err)
	}
	sum := map[string]string{}
	for _, r := range rep.Rows {
		if r.Period != "2025-03" {
			t.Fatalf("period %s", r.Period)
		}
		k := r.Flow + "/" + r.Reserve + "/" + r.Sector
		if _, dup := sum[k]; dup {
			t.Fatalf("duplicate row %s", k)
		}
		sum[k] = r.Tonnes + "/" + r.AmountCNY
		if r.Route != "closure" || r.SourceCity != "3704" {
			t.Fatalf("row %+v", r)
		}
	}
	for k, v := range map[string]string{
		"recognised//":             "1000000/0.00",
		"stockpiled/province/":     "500000/0.00",
		"stockpiled/3704/":         "500000/0.00",
		"allocated/province/steel": "500000/25000000.00",
		"allocated/3704/steel":     "300000/15000000.00",
		"consumed/province/steel":  "500000/0.00",
		"consumed/3704/steel":      "300000/0.00",
	} {
		if sum[k] != v {
			t.Errorf("flow %s = %q, want %q (all: %v)", k, sum[k], v, sum)
		}
	}
	var buf bytes.Buffer
	if err := quota.WriteFlowsCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != len(rep.Rows)+1 || recs[0][0] != "period" {
		t.Fatalf("csv %v %v", recs, err)
	}
	lin, err := quota.Lineage(ctx, b.l, auditor, quota.LineageQuery{AllocationID: &al.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(lin) != 2 || lin[0].Reserve != "province" || lin[0].Tonnes != "500000" || lin[1].Reserve != "3704" || lin[1].Tonnes != "300000" {
		t.Fatalf("lineage %+v", lin)
	}
	for _, x := range lin {
		if x.SourceID != src.ID || x.Path != "stockpiling:"+sp.ID.String() || x.Project != "N1" || x.AllocationStatus != "consumed" {
			t.Fatalf("lineage row %+v", x)
		}
	}
	buf.Reset()
	if err := quota.WriteLineageCSV(&buf, lin); err != nil || !strings.Contains(buf.String(), "ZZ-EEB-2022-017") {
		t.Fatalf("lineage csv %v: %s", err, buf.String())
	}
	b.invariants(t)
}
