package quota_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// allocatedBundle applies for, reviews and decides a bundle of project in
// 3703 with the draws given per kind.
func allocatedBundle(t *testing.T, b *bundle, project string, lines []quota.BundleLine, draws map[string][]quota.DrawInput) quota.Bundle {
	t.Helper()
	bd := must[quota.Bundle](t)(quota.ApplyBundle(ctx, b.l, enterprise("qilu-chem"), key(), quota.ApplyBundleInput{Project: project, City: "3703", Sector: "basic_chemicals", Lines: lines}))
	must[quota.Bundle](t)(quota.ReviewBundle(ctx, b.l, city3703, key(), bd.ID, quota.DecisionInput{Approve: true, Reason: "ok"}))
	return must[quota.Bundle](t)(quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "r", Draws: draws}))
}

// publishMoveSettles publishes move_settles_reserve = value for a kind and
// lets the clock reach it.
func publishMoveSettles(t *testing.T, b *bundle, kind, value string) quota.ConfigVersion {
	t.Helper()
	v := must[quota.ConfigVersion](t)(quota.PublishConfig(ctx, b.l, provAlice, key(), quota.PublishConfigInput{Kind: quota.ConfigMoveSettles, Value: value,
		ValidFrom: b.clock.now().Add(time.Hour).Format(time.RFC3339), SourceDoc: "test rule", Reason: "settle moves", IndexKind: kind}))
	b.clock.advance(2 * time.Hour)
	return v
}

// TestMoveSettlesReserve: where move_settles_reserve is 1 the city a
// project moves to repays the reserve of the city it left; where it is 0
// (the [ill] default, CEI here) nothing is repaid. A short reserve fails
// the move whole. Moving back repays the other way, and the allocation's
// lineage is untouched throughout.
func TestMoveSettlesReserve(t *testing.T) {
	b := setup(t)
	nox := kindSourceOf(t, b.l, city3703, "NOX", "zibo-glass", "400", "scr-2024") // 200 province, 200 3703
	kindSourceOf(t, b.l, city3703, "CEI", "zibo-coke", "100000", "close-2024")    // 50,000 / 50,000
	bd := allocatedBundle(t, b, "P-MOVE", []quota.BundleLine{{IndexKind: "NOX", Emissions: "150", Requested: "300"}, {IndexKind: "CEI", Emissions: "50000", Requested: "60000"}},
		map[string][]quota.DrawInput{"NOX": {{Reserve: "province", Tonnes: "200"}, {Reserve: "3703", Tonnes: "100"}},
			"CEI": {{Reserve: "province", Tonnes: "50000"}, {Reserve: "3703", Tonnes: "10000"}}})
	rule := publishMoveSettles(t, b, "NOX", "1")

	// Tai'an (3709) has no NOX: the settlement cannot be paid and nothing moves.
	_, _, err := quota.MoveProject(ctx, b.l, provAlice, key(), "P-MOVE", quota.MoveProjectInput{ToCity: "3709", Reason: "site moved"})
	wantCode(t, err, quota.CodeInsufficientReserve)
	if got, err := quota.GetBundle(ctx, b.l, auditor, bd.ID); err != nil || got.Applications[0].City != "3703" {
		t.Fatalf("after a failed move: %+v %v", got, err)
	}

	taian := kindSourceOf(t, b.l, city3709, "NOX", "taian-power", "300", "fgd-2024") // 150 province, 150 3709
	mv := must[quota.ProjectMove](t)(quota.MoveProject(ctx, b.l, provAlice, key(), "P-MOVE", quota.MoveProjectInput{ToCity: "3709", Reason: "site moved"}))
	if len(mv.Settlements) != 1 || mv.Settlements[0] != (quota.MoveSettlement{IndexKind: "NOX", Payer: "3709", Payee: "3703", Tonnes: "100",
		TransferID: mv.Settlements[0].TransferID, RuleVersion: rule.ID}) {
		t.Fatalf("settlements %+v", mv.Settlements)
	}
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3709"), "50")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3703"), "200")
	b.wantBalance(t, quota.KindReserveAccount("CEI", "3703"), "40000") // CEI's rule is 0: not repaid
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-MOVE"), "300")
	b.invariants(t)

	// The repaid tonnes are 3709's source's, passed by the transfer.
	rows, err := quota.Lineage(ctx, b.l, auditor, quota.LineageQuery{IndexKind: "NOX"})
	if err != nil {
		t.Fatal(err)
	}
	sum := dec("0")
	for _, r := range rows {
		if r.SourceID != nox.ID || r.ProjectCity != "3709" || (r.Reserve != "province" && r.Reserve != "3703") {
			t.Fatalf("NOX lineage after the move: %+v", r)
		}
		sum = sum.Add(dec(r.Tonnes))
	}
	if sum.String() != "300" {
		t.Fatalf("NOX lineage traces %s t", sum)
	}
	res, err := quota.ReservesOf(ctx, b.l, auditor, "NOX")
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Rows[3]; r.Reserve != "3703" || r.Account != "city:3703:NOX:reserve" || r.InReserve != "200" || r.TransferredIn != "100" || r.Allocated != "100" {
		t.Fatalf("NOX 3703 reserve row %+v", r)
	}
	if r := res.Rows[9]; r.Reserve != "3709" || r.InReserve != "50" || r.TransferredOut != "100" || r.Stockpiled != "150" {
		t.Fatalf("NOX 3709 reserve row %+v", r)
	}

	// Moving back: 3709 has paid 100 for it, so 3703 repays 3709.
	back := must[quota.ProjectMove](t)(quota.MoveProject(ctx, b.l, provAlice, key(), "P-MOVE", quota.MoveProjectInput{ToCity: "3703", Reason: "back"}))
	if len(back.Settlements) != 1 || back.Settlements[0].Payer != "3703" || back.Settlements[0].Tonnes != "100" {
		t.Fatalf("settlements back %+v", back.Settlements)
	}
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3709"), "150")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3703"), "100")
	// 3703 received tranches of 3709's source and, oldest first, gave back
	// tranches of its own; the NOX report shows both, the CEI report has
	// no NOX in it.
	flows := map[string]string{}
	rep, err := quota.Report(ctx, b.l, auditor, quota.ReportQuery{Period: "year", IndexKind: "NOX"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		flows[r.Flow+"/"+r.Reserve+"/"+r.SourceCity] = r.Tonnes
	}
	for k, want := range map[string]string{"transferred_in/3703/3709": "100", "transferred_out/3709/3709": "100", "transferred_out/3703/3703": "100",
		"transferred_in/3709/3703": "100", "allocated/3703/3703": "100", "stockpiled/province/3709": "150"} {
		if flows[k] != want {
			t.Errorf("NOX flow %s = %q, want %s (%v)", k, flows[k], want, flows)
		}
	}
	cei, err := quota.Report(ctx, b.l, auditor, quota.ReportQuery{Period: "year"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cei.Rows {
		if r.Flow == "transferred_in" || r.Tonnes == "300" || r.Tonnes == "400" {
			t.Fatalf("CEI report has a NOX row: %+v", r)
		}
	}
	if _, err := quota.GetSource(ctx, b.l, auditor, taian.ID); err != nil {
		t.Fatal(err)
	}
	b.invariants(t)

	// The check ties each settlement transfer to what it settled.
	if _, err := b.Pool.Exec(ctx, `UPDATE quota_move_settlements SET tonnes = tonnes + 1 WHERE move_id = $1`, back.ID); err != nil {
		t.Fatal(err)
	}
	rep2, err := b.l.VerifyAll(ctx, []ledger.UseCase{quota.UseCase})
	if err != nil || rep2.OK || len(rep2.Problems) != 1 || rep2.Problems[0].Kind != "move_settlement" || rep2.Problems[0].Row != back.Settlements[0].TransferID.String() {
		t.Fatalf("tampered settlement: %+v %v", rep2, err)
	}
}

// TestMoveSettlesReserveRule: the rule is 0 or 1, of the kind it names.
func TestMoveSettlesReserveRule(t *testing.T) {
	b := setup(t)
	in := quota.PublishConfigInput{Kind: quota.ConfigMoveSettles, Value: "2", ValidFrom: b.clock.now().Add(time.Hour).Format(time.RFC3339),
		SourceDoc: "d", Reason: "r", IndexKind: "VOCS"}
	_, _, err := quota.PublishConfig(ctx, b.l, provAlice, key(), in)
	wantCode(t, err, ledger.CodeInvalidRequest)
	in.Value, in.Subject = "1", "3703"
	_, _, err = quota.PublishConfig(ctx, b.l, provAlice, key(), in)
	wantCode(t, err, ledger.CodeInvalidRequest)
	in.Subject = ""
	must[quota.ConfigVersion](t)(quota.PublishConfig(ctx, b.l, provAlice, key(), in))
	cfg, err := quota.ListKindConfig(ctx, b.l, "VOCS", true)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, c := range cfg {
		if c.Kind == quota.ConfigMoveSettles {
			values = append(values, c.Value+" "+strings.SplitN(c.SourceDoc, " ", 2)[0])
		}
	}
	if len(values) != 2 || values[0] != "0 [ill]" || values[1] != "1 d" {
		t.Fatalf("VOCS move_settles_reserve versions %v", values)
	}
}

// TestRecoveryAfterSettledMove: once a move's settlement repaid the old
// city, recovering the allocation returns those tonnes to the city that
// repaid them, not again to the old city, so each reserve ends where it
// was before the project.
func TestRecoveryAfterSettledMove(t *testing.T) {
	b := setup(t)
	kindSourceOf(t, b.l, city3703, "NOX", "zibo-glass", "400", "scr-2024")  // 200 province, 200 3703
	kindSourceOf(t, b.l, city3709, "NOX", "taian-power", "300", "fgd-2024") // 150 province, 150 3709
	bd := allocatedBundle(t, b, "P-BACK", []quota.BundleLine{{IndexKind: "NOX", Emissions: "150", Requested: "300"}},
		map[string][]quota.DrawInput{"NOX": {{Reserve: "province", Tonnes: "200"}, {Reserve: "3703", Tonnes: "100"}}})
	publishMoveSettles(t, b, "NOX", "1")
	must[quota.ProjectMove](t)(quota.MoveProject(ctx, b.l, provAlice, key(), "P-BACK", quota.MoveProjectInput{ToCity: "3709", Reason: "site moved"}))
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3709"), "50")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3703"), "200")

	al := bd.Applications[0].Allocation
	d := must[quota.ApplicationDetail](t)(quota.Recover(ctx, b.l, provAlice, key(), al.ID, quota.RecoverInput{Cause: "cancelled", Reason: "project cancelled"}))
	if d.Allocation.Status != quota.AllocationRecovered {
		t.Fatalf("recovered %+v", d.Allocation)
	}
	b.wantBalance(t, quota.KindReserveAccount("NOX", "province"), "350")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3703"), "200")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3709"), "150")
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-BACK"), "0")
	rep, err := quota.Report(ctx, b.l, auditor, quota.ReportQuery{Period: "year", IndexKind: "NOX", Flow: "recovered"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rep.Rows {
		got[r.Reserve+"/"+r.SourceCity] = r.Tonnes
	}
	// 3709 gets back the 3703 source's tonnes it paid for (lineage kept).
	if len(got) != 2 || got["province/3703"] != "200" || got["3709/3703"] != "100" {
		t.Fatalf("recovered flows %v", got)
	}
	b.invariants(t)
}

// TestProjectSitedAcrossTwoCities: a move of part of a project leaves it
// sited across two cities. The city that takes the share repays that part
// of what the city it left contributed (NOX settles here); the flow report
// records the moved part under the new city; lineage read for the new
// city finds the project; moving the rest completes the move and ends
// where a whole move would have.
func TestProjectSitedAcrossTwoCities(t *testing.T) {
	b := setup(t)
	nox := kindSourceOf(t, b.l, city3703, "NOX", "zibo-glass", "400", "scr-2024") // 200 province, 200 3703
	kindSourceOf(t, b.l, city3709, "NOX", "taian-power", "300", "fgd-2024")       // 150 province, 150 3709
	allocatedBundle(t, b, "P-TWO", []quota.BundleLine{{IndexKind: "NOX", Emissions: "150", Requested: "300"}},
		map[string][]quota.DrawInput{"NOX": {{Reserve: "province", Tonnes: "200"}, {Reserve: "3703", Tonnes: "100"}}})
	publishMoveSettles(t, b, "NOX", "1")

	for _, bad := range []string{"0", "0.0", "1.5", "1.00001", "0.00001", "1e-1", "+0.5", "-0.5", ".5", "0,5"} {
		_, _, err := quota.MoveProject(ctx, b.l, provAlice, key(), "P-TWO", quota.MoveProjectInput{ToCity: "3709", Share: bad, Reason: "part"})
		wantCode(t, err, ledger.CodeInvalidRequest)
	}

	// 40 % of the plant is sited in Tai'an: 3709 repays 40 of 3703's 100.
	mv := must[quota.ProjectMove](t)(quota.MoveProject(ctx, b.l, provAlice, key(), "P-TWO", quota.MoveProjectInput{ToCity: "3709", Share: "0.4", Reason: "second site"}))
	if mv.FromCity != "3703" || mv.Share != "0.4000" || len(mv.Sites) != 2 || mv.Sites[0] != (quota.ProjectSite{City: "3703", Share: "0.6000"}) ||
		mv.Sites[1] != (quota.ProjectSite{City: "3709", Share: "0.4000"}) || len(mv.Settlements) != 1 || mv.Settlements[0].Tonnes != "40" {
		t.Fatalf("partial move %+v", mv)
	}
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3709"), "110")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3703"), "140")
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-TWO"), "300")
	b.invariants(t)
	rep, err := quota.Report(ctx, b.l, auditor, quota.ReportQuery{Period: "year", IndexKind: "NOX", Flow: "project_moved"})
	if err != nil {
		t.Fatal(err)
	}
	moved := map[string]string{}
	for _, r := range rep.Rows {
		moved[r.Reserve+"/"+r.ProjectCity] = r.Tonnes
	}
	if len(moved) != 2 || moved["province/3709"] != "80" || moved["3703/3709"] != "40" {
		t.Fatalf("project_moved flows %v", moved)
	}
	rows, err := quota.Lineage(ctx, b.l, auditor, quota.LineageQuery{IndexKind: "NOX", City: "3709"})
	if err != nil || len(rows) != 2 || rows[0].Project != "P-TWO" || rows[0].ProjectCity != "3703" {
		t.Fatalf("lineage for the second site: %+v %v", rows, err)
	}

	// Sited in two cities, a move names the site that moves, and moves at
	// most its share.
	_, _, err = quota.MoveProject(ctx, b.l, provAlice, key(), "P-TWO", quota.MoveProjectInput{ToCity: "3701", Reason: "which?"})
	wantCode(t, err, ledger.CodeInvalidRequest)
	_, _, err = quota.MoveProject(ctx, b.l, provAlice, key(), "P-TWO", quota.MoveProjectInput{FromCity: "3703", ToCity: "3709", Share: "0.7", Reason: "too much"})
	wantCode(t, err, quota.CodeInvalidState)
	_, _, err = quota.MoveProject(ctx, b.l, provAlice, key(), "P-TWO", quota.MoveProjectInput{FromCity: "3701", ToCity: "3709", Reason: "no site"})
	wantCode(t, err, quota.CodeInvalidState)

	// The rest follows: 3709 repays the 60 3703 still has in it, and the
	// reserves end as after one whole move (TestMoveSettlesReserve).
	rest := must[quota.ProjectMove](t)(quota.MoveProject(ctx, b.l, provAlice, key(), "P-TWO", quota.MoveProjectInput{FromCity: "3703", ToCity: "3709", Reason: "all of it"}))
	if rest.Share != "0.6000" || len(rest.Sites) != 1 || rest.Sites[0] != (quota.ProjectSite{City: "3709", Share: "1.0000"}) || rest.Settlements[0].Tonnes != "60" {
		t.Fatalf("rest of the move %+v", rest)
	}
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3709"), "50")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3703"), "200")
	rows, err = quota.Lineage(ctx, b.l, auditor, quota.LineageQuery{IndexKind: "NOX"})
	if err != nil {
		t.Fatal(err)
	}
	sum := dec("0")
	for _, r := range rows {
		if r.SourceID != nox.ID || r.ProjectCity != "3709" {
			t.Fatalf("NOX lineage after both moves: %+v", r)
		}
		sum = sum.Add(dec(r.Tonnes))
	}
	if sum.String() != "300" {
		t.Fatalf("NOX lineage traces %s t", sum)
	}
	b.invariants(t)
}
