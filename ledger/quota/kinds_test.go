package quota_test

import (
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

var city3703 = ledger.Actor{Sub: "zibo-1", Role: ledger.RoleCity, City: "3703"}

// kindSource proposes, recognises and stockpiles a source of one kind.
func kindSource(t *testing.T, l *ledger.Ledger, kind, ent, route, tonnes, evidence string) quota.Source {
	t.Helper()
	s, _, err := quota.ProposeSource(ctx, l, city3703, key(), quota.ProposeSourceInput{City: "3703", Enterprise: ent, Route: route,
		Tonnes: tonnes, FormedOn: "2024-06-30", EvidenceRef: evidence, IndexKind: kind, Work: "work-" + evidence, VerificationRef: "ver-" + evidence})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := quota.DecideSource(ctx, l, provAlice, key(), s.ID, quota.DecisionInput{Approve: true, Reason: "verified"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := quota.Stockpile(ctx, l, provAlice, key(), quota.StockpileInput{SourceID: s.ID, Reason: "stockpile"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPollutantBundleScenario is DOMAIN.md §7 "Pollutant totals".
func TestPollutantBundleScenario(t *testing.T) {
	b := setup(t)
	nox := kindSource(t, b.l, "NOX", "zibo-glass", "key_reduction_work", "400", "scr-2024")
	vocs := kindSource(t, b.l, "VOCS", "zibo-paint", "key_reduction_work", "300", "voc-2024")
	cei := kindSource(t, b.l, "CEI", "zibo-coke", "closure", "100000", "close-2024")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "province"), "200")
	b.wantBalance(t, quota.KindReserveAccount("NOX", "3703"), "200")
	b.wantBalance(t, quota.KindReserveAccount("VOCS", "3703"), "150")

	ent := enterprise("qilu-chem")
	bd, _, err := quota.ApplyBundle(ctx, b.l, ent, key(), quota.ApplyBundleInput{Project: "P-CHEM", City: "3703", Sector: "basic_chemicals",
		Lines: []quota.BundleLine{{IndexKind: "NOX", Emissions: "150", Requested: "300"}, {IndexKind: "VOCS", Emissions: "120", Requested: "240"},
			{IndexKind: "CEI", Emissions: "50000", Requested: "60000"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range bd.Applications {
		want := map[string]string{"CEI": "60000", "NOX": "300", "VOCS": "240"}[a.IndexKind]
		if a.Required != want {
			t.Fatalf("%s required %s, want %s", a.IndexKind, a.Required, want)
		}
	}
	if _, _, err := quota.ReviewBundle(ctx, b.l, city3703, key(), bd.ID, quota.DecisionInput{Approve: true, Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	draws := func(vocsProv, vocsCity string) map[string][]quota.DrawInput {
		return map[string][]quota.DrawInput{
			"NOX":  {{Reserve: "province", Tonnes: "200"}, {Reserve: "3703", Tonnes: "100"}},
			"VOCS": {{Reserve: "province", Tonnes: vocsProv}, {Reserve: "3703", Tonnes: vocsCity}},
			"CEI":  {{Reserve: "province", Tonnes: "50000"}, {Reserve: "3703", Tonnes: "10000"}},
		}
	}
	// VOCS short in the province (150 t): nothing of any kind moves.
	_, _, err = quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "r",
		Draws: map[string][]quota.DrawInput{"NOX": draws("", "")["NOX"], "CEI": draws("", "")["CEI"], "VOCS": {{Reserve: "province", Tonnes: "240"}}}})
	if ledger.ErrorCode(err) != quota.CodeInsufficientReserve {
		t.Fatalf("short decision: %v", err)
	}
	for _, k := range []string{"NOX", "VOCS", "CEI"} {
		b.wantBalance(t, quota.KindProjectAccount(k, "P-CHEM"), "0")
	}
	b.wantBalance(t, quota.KindReserveAccount("NOX", "province"), "200")
	b.invariants(t)

	bd, _, err = quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "r", Draws: draws("150", "90")})
	if err != nil {
		t.Fatal(err)
	}
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-CHEM"), "300")
	b.wantBalance(t, quota.KindProjectAccount("VOCS", "P-CHEM"), "240")
	b.wantBalance(t, quota.KindProjectAccount("CEI", "P-CHEM"), "60000")
	b.wantBalance(t, quota.KindReserveAccount("VOCS", "3703"), "60")
	b.invariants(t)

	// The project moves to Tai'an (3709); its quota follows it.
	if _, _, err := quota.MoveProject(ctx, b.l, provAlice, key(), "P-CHEM", quota.MoveProjectInput{ToCity: "3709", Reason: "site moved"}); err != nil {
		t.Fatal(err)
	}
	after, err := quota.GetBundle(ctx, b.l, auditor, bd.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSrc := map[string]string{"NOX": nox.ID.String(), "VOCS": vocs.ID.String(), "CEI": cei.ID.String()}
	for _, a := range after.Applications {
		if a.City != "3709" || a.Allocation == nil || a.Allocation.IndexKind != a.IndexKind {
			t.Fatalf("after the move: %+v", a.Application)
		}
		sum := dec("0")
		for _, p := range a.Allocation.Lineage {
			if p.SourceID.String() != wantSrc[a.IndexKind] || p.SourceCity != "3703" {
				t.Fatalf("%s lineage: %+v", a.IndexKind, p)
			}
			sum = sum.Add(dec(p.Tonnes))
		}
		if sum.String() != a.Requested {
			t.Fatalf("%s lineage traces %s of %s t", a.IndexKind, sum, a.Requested)
		}
	}
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-CHEM"), "300")
	b.invariants(t)
}

// TestNewKindIsConfiguration adds SO2 the way a migration would (an asset
// of family index and a kinds row), restarts the ledger, publishes its
// configuration and runs source → stockpile → application → allocation.
func TestNewKindIsConfiguration(t *testing.T) {
	b := setup(t)
	for _, q := range []string{
		`INSERT INTO assets (code, scale, name, family) VALUES ('SO2', 0, 'sulphur dioxide total, t/yr', 'index') ON CONFLICT (code) DO NOTHING`,
		`INSERT INTO quota_index_kinds (code, name, unit, formula, measure, source_doc, valid_from) VALUES ('SO2', 'sulphur dioxide', 't/yr', 'ratio', '9', 'test', now()) ON CONFLICT (code) DO NOTHING`,
	} {
		if _, err := b.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	l := ledgertest.Ledger(t, b.Pool, ledger.Options{Now: b.Clock.Now})
	if err := ledger.SeedAll(ctx, l, []ledger.UseCase{quota.UseCase}); err != nil {
		t.Fatal(err)
	}
	src := kindSource(t, l, "SO2", "zibo-power", "key_reduction_work", "80", "fgd-2024")
	ent := enterprise("so2-plant")
	bd, _, err := quota.ApplyBundle(ctx, l, ent, key(), quota.ApplyBundleInput{Project: "P-SO2", City: "3703", Sector: "coal_power",
		Lines: []quota.BundleLine{{IndexKind: "SO2", Emissions: "30", Requested: "30"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := quota.ReviewBundle(ctx, l, city3703, key(), bd.ID, quota.DecisionInput{Approve: true, Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	bd, _, err = quota.DecideBundle(ctx, l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "r",
		Draws: map[string][]quota.DrawInput{"SO2": {{Reserve: "province", Tonnes: "30"}}}})
	if err != nil {
		t.Fatal(err)
	}
	al := bd.Applications[0].Allocation
	if al == nil || al.Tonnes != "30" || al.Lineage[0].SourceID != src.ID {
		t.Fatalf("SO2 allocation: %+v", al)
	}
	rep, err := l.VerifyAll(ctx, []ledger.UseCase{quota.UseCase})
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
