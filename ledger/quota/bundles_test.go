package quota_test

import (
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// kindSourceOf proposes (by city), recognises and stockpiles a source of
// one kind.
func kindSourceOf(t *testing.T, l *ledger.Ledger, city ledger.Actor, kind, ent, tonnes, evidence string) quota.Source {
	t.Helper()
	s := must[quota.Source](t)(quota.ProposeSource(ctx, l, city, key(), quota.ProposeSourceInput{City: city.City, Enterprise: ent, Route: "key_reduction_work",
		Tonnes: tonnes, FormedOn: "2024-06-30", EvidenceRef: evidence, IndexKind: kind, Work: "work-" + evidence, VerificationRef: "ver-" + evidence}))
	must[quota.Source](t)(quota.DecideSource(ctx, l, provAlice, key(), s.ID, quota.DecisionInput{Approve: true, Reason: "verified"}))
	must[quota.Stockpiling](t)(quota.Stockpile(ctx, l, provAlice, key(), quota.StockpileInput{SourceID: s.ID, Reason: "stockpile", IndexKind: kind}))
	return s
}

// TestBundleGovernmentApproval: a bundle with one kind above its threshold
// (NOX 20,000 t/yr > 10,000 [ill]) goes to the provincial government as a
// whole; the government's approval is one step for every kind, and only
// then does the province's decision allocate, all kinds together. The
// single-application steps refuse a bundle's kinds, which are never
// decided one at a time.
func TestBundleGovernmentApproval(t *testing.T) {
	b := setup(t)
	kindSourceOf(t, b.l, city3703, "NOX", "zibo-glass", "24000", "scr-2024") // 12,000 / 12,000
	kindSourceOf(t, b.l, city3703, "VOCS", "zibo-paint", "300", "voc-2024")  // 150 / 150
	ent := enterprise("qilu-chem")
	bd := must[quota.Bundle](t)(quota.ApplyBundle(ctx, b.l, ent, key(), quota.ApplyBundleInput{Project: "P-BIG", City: "3703", Sector: "basic_chemicals",
		Lines: []quota.BundleLine{{IndexKind: "NOX", Emissions: "10000", Requested: "20000"}, {IndexKind: "VOCS", Emissions: "100", Requested: "200"}}}))
	nox := bd.Applications[0]
	if nox.IndexKind != "NOX" {
		t.Fatalf("bundle order %+v", bd.Applications)
	}
	_, _, err := quota.ReviewApplication(ctx, b.l, city3703, key(), nox.ID, quota.DecisionInput{Approve: true, Reason: "one kind"})
	wantCode(t, err, quota.CodeInvalidState)
	must[quota.Bundle](t)(quota.ReviewBundle(ctx, b.l, city3703, key(), bd.ID, quota.DecisionInput{Approve: true, Reason: "ok"}))
	_, _, err = quota.DecideApplication(ctx, b.l, provAlice, key(), nox.ID, quota.DecideInput{Approve: true, Reason: "one kind",
		Draws: []quota.DrawInput{{Reserve: "province", Tonnes: "12000"}, {Reserve: "3703", Tonnes: "8000"}}})
	wantCode(t, err, quota.CodeInvalidState)
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-BIG"), "0")

	draws := map[string][]quota.DrawInput{"NOX": {{Reserve: "province", Tonnes: "12000"}, {Reserve: "3703", Tonnes: "8000"}},
		"VOCS": {{Reserve: "province", Tonnes: "150"}, {Reserve: "3703", Tonnes: "50"}}}
	esc := must[quota.Bundle](t)(quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "to the government", Draws: draws}))
	for _, a := range esc.Applications {
		if a.Status != quota.StatusAwaitingGovernment || !a.Escalated || a.Allocation != nil {
			t.Fatalf("escalated bundle: %+v", a)
		}
	}
	if esc.Applications[0].Threshold != "10000" {
		t.Fatalf("NOX threshold %q", esc.Applications[0].Threshold)
	}
	// Deciding again before the government is refused; so is the
	// single-application government step on one kind.
	_, _, err = quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "again", Draws: draws})
	wantCode(t, err, quota.CodeInvalidState)
	gov := quota.GovernmentInput{Approve: true, DocumentRef: "鲁政字〔2025〕90号", Reason: "approved"}
	_, _, err = quota.RecordGovernmentApproval(ctx, b.l, provAlice, key(), nox.ID, gov)
	wantCode(t, err, quota.CodeInvalidState)
	_, _, err = quota.RecordBundleGovernmentApproval(ctx, b.l, city3703, key(), bd.ID, gov)
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = quota.RecordBundleGovernmentApproval(ctx, b.l, provAlice, key(), bd.ID, quota.GovernmentInput{Approve: true, Reason: "no document"})
	wantCode(t, err, ledger.CodeInvalidRequest)

	approved := must[quota.Bundle](t)(quota.RecordBundleGovernmentApproval(ctx, b.l, provAlice, key(), bd.ID, gov))
	for _, a := range approved.Applications {
		if a.Status != quota.StatusGovernmentApproved {
			t.Fatalf("after the government: %+v", a)
		}
	}
	_, _, err = quota.RecordBundleGovernmentApproval(ctx, b.l, provAlice, key(), bd.ID, gov)
	wantCode(t, err, quota.CodeInvalidState)
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-BIG"), "0")

	done := must[quota.Bundle](t)(quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "allocate", Draws: draws}))
	for _, a := range done.Applications {
		if a.Status != quota.StatusApproved || a.Allocation == nil || a.Allocation.Tonnes != a.Requested {
			t.Fatalf("after the decision: %+v", a)
		}
	}
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-BIG"), "20000")
	b.wantBalance(t, quota.KindProjectAccount("VOCS", "P-BIG"), "200")
	full, err := quota.GetBundle(ctx, b.l, auditor, bd.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range full.Applications[0].Trail {
		actions = append(actions, e.Action)
	}
	want := []string{"application.submitted", "application.city_approved", "application.escalated", "application.government_approved", "application.approved"}
	if len(actions) != len(want) {
		t.Fatalf("NOX trail %v", actions)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("NOX trail %v", actions)
		}
	}
	b.invariants(t)
}

// TestBundleGovernmentRefusal: the government's refusal rejects every
// kind, and nothing is allocated.
func TestBundleGovernmentRefusal(t *testing.T) {
	b := setup(t)
	kindSourceOf(t, b.l, city3703, "NOX", "zibo-glass", "24000", "scr-2024")
	bd := must[quota.Bundle](t)(quota.ApplyBundle(ctx, b.l, enterprise("qilu-chem"), key(), quota.ApplyBundleInput{Project: "P-NO", City: "3703", Sector: "basic_chemicals",
		Lines: []quota.BundleLine{{IndexKind: "NOX", Emissions: "10000", Requested: "20000"}}}))
	must[quota.Bundle](t)(quota.ReviewBundle(ctx, b.l, city3703, key(), bd.ID, quota.DecisionInput{Approve: true, Reason: "ok"}))
	must[quota.Bundle](t)(quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "to the government"}))
	no := must[quota.Bundle](t)(quota.RecordBundleGovernmentApproval(ctx, b.l, provAlice, key(), bd.ID, quota.GovernmentInput{Approve: false, DocumentRef: "鲁政字〔2025〕91号", Reason: "refused"}))
	if no.Applications[0].Status != quota.StatusRejected {
		t.Fatalf("refused bundle %+v", no.Applications[0])
	}
	_, _, err := quota.DecideBundle(ctx, b.l, provAlice, key(), bd.ID, quota.DecideBundleInput{Approve: true, Reason: "anyway",
		Draws: map[string][]quota.DrawInput{"NOX": {{Reserve: "province", Tonnes: "12000"}, {Reserve: "3703", Tonnes: "8000"}}}})
	wantCode(t, err, quota.CodeInvalidState)
	b.wantBalance(t, quota.KindProjectAccount("NOX", "P-NO"), "0")
	b.invariants(t)
}
