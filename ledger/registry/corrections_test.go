package registry_test

import (
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
	"github.com/shandong-carbon/carbonledger/migrations"
)

// wantProblem asserts that VerifyAll reports a problem of kind on table
// whose row contains row.
func wantProblem(t *testing.T, b *bundle, kind, table, row string) {
	t.Helper()
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{registry.UseCase})
	must(t, err)
	for _, p := range rep.Problems {
		if p.Kind == kind && p.Table == table && strings.Contains(p.Row, row) && !rep.OK {
			t.Logf("%s: %s", kind, p.Detail)
			return
		}
	}
	t.Fatalf("no %s problem on %s %s: %+v", kind, table, row, rep.Problems)
}

func (b *bundle) exec(sql string, args ...any) {
	b.t.Helper()
	if _, err := b.l.Pool().Exec(ctx, sql, args...); err != nil {
		b.t.Fatal(err)
	}
}

// The cap comes from the obligation the province records: without one an
// offset is refused; only the province records and revises it, append-
// only, never below what was surrendered; the cap applies to the record
// in force.
func TestRecordedObligation(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	e1 := b.holder("E1", "")
	b.holder("E2", "")
	b.give(operator("metro-jn"), "E1", "1000", 0)
	offset := registry.OffsetInput{Selection: registry.Selection{Units: "300"}, ComplianceYear: 2025, EtsReference: "ETS-SD-2025-E1"}

	// No obligation recorded: refused, nothing moves, and nothing is
	// declared by the attempt.
	_, _, err := registry.Surrender(ctx, b.l, e1, key(), offset)
	wantCode(t, err, registry.CodeObligationNotRecorded)
	b.wantBalance(ledger.HolderAccount("E1"), "1000", "1000")
	_, err = registry.GetObligation(ctx, b.l, province, registry.ObligationKey{Enterprise: "E1", ComplianceYear: 2025})
	wantCode(t, err, ledger.CodeNotFound)

	// Province only.
	rec := registry.ObligationInput{Enterprise: "E1", ComplianceYear: 2025, VerifiedEmissionsTonnes: "10200", ObligationTonnes: "10000",
		DocumentRef: "SDEE-ETS-2025-017"}
	for _, a := range []ledger.Actor{e1, operator("metro-jn"), b.verifier, {Sub: "a", Role: ledger.RoleAuditor}, {Sub: "c", Role: ledger.RoleCity, City: "3701"}} {
		_, _, err := registry.RecordObligation(ctx, b.l, a, key(), rec)
		wantCode(t, err, ledger.CodeForbidden)
	}
	bad := rec
	bad.DocumentRef = ""
	_, _, err = registry.RecordObligation(ctx, b.l, province, key(), bad)
	wantCode(t, err, ledger.CodeInvalidRequest)
	o, _, err := registry.RecordObligation(ctx, b.l, province, key(), rec)
	must(t, err)
	if o.Revision != 1 || !o.Recorded || o.CapUnits != "500" || o.CapShare != "0.0500" || o.VerifiedEmissionsTonnes != "10200" ||
		o.DocumentRef != "SDEE-ETS-2025-017" || o.RemainingUnits != "500" || o.PolicyID != "default-2021" {
		t.Fatalf("recorded %+v", o)
	}

	// The cap applies to the recorded figure; an offset that states
	// another figure is refused.
	off, _, err := registry.Surrender(ctx, b.l, e1, key(), offset)
	must(t, err)
	if off.CapUnits != "500" || off.ObligationTonnes != "10000" || off.ObligationRevision != 1 || off.SurrenderedUnits != "300" {
		t.Fatalf("offset %+v", off)
	}
	stated := offset
	stated.Units, stated.ObligationTonnes = "1", "20000"
	_, _, err = registry.Surrender(ctx, b.l, e1, key(), stated)
	wantCode(t, err, registry.CodeObligationMismatch)

	// Revisions: naming the revision they replace, with a reason, never
	// below what was surrendered.
	rev := rec
	rev.ObligationTonnes, rev.Reason = "8000", "verification corrected"
	_, _, err = registry.RecordObligation(ctx, b.l, province, key(), rev) // revises 0: stale
	wantCode(t, err, ledger.CodeConflict)
	rev.Revises, rev.Reason = 1, ""
	_, _, err = registry.RecordObligation(ctx, b.l, province, key(), rev)
	wantCode(t, err, ledger.CodeInvalidRequest)
	rev.Reason, rev.ObligationTonnes = "verification corrected", "4000" // cap 200 < 300 surrendered
	_, _, err = registry.RecordObligation(ctx, b.l, province, key(), rev)
	wantCode(t, err, registry.CodeObligationBelowSurrendered)
	rev.ObligationTonnes = "8000"
	o, _, err = registry.RecordObligation(ctx, b.l, province, key(), rev)
	must(t, err)
	if o.Revision != 2 || o.CapUnits != "400" || o.SurrenderedUnits != "300" || o.RemainingUnits != "100" {
		t.Fatalf("revised %+v", o)
	}
	offset.Units = "101"
	_, _, err = registry.Surrender(ctx, b.l, e1, key(), offset)
	wantCode(t, err, registry.CodeOffsetCapExceeded)
	offset.Units = "100"
	off, _, err = registry.Surrender(ctx, b.l, e1, key(), offset)
	must(t, err)
	if off.SurrenderedUnits != "400" || off.ObligationRevision != 2 {
		t.Fatalf("offset %+v", off)
	}

	// The history keeps every revision; the enterprise reads its own,
	// another enterprise none.
	got, err := registry.GetObligation(ctx, b.l, e1, registry.ObligationKey{Enterprise: "E1", ComplianceYear: 2025})
	must(t, err)
	if got.Revision != 2 || len(got.History) != 2 || got.History[0].ObligationTonnes != "10000" || got.History[1].Reason != "verification corrected" ||
		got.RemainingUnits != "0" {
		t.Fatalf("obligation %+v", got)
	}
	_, err = registry.GetObligation(ctx, b.l, enterprise("E2"), registry.ObligationKey{Enterprise: "E1", ComplianceYear: 2025})
	wantCode(t, err, ledger.CodeNotFound)
	events, err := ledger.ReadValue(ctx, b.l, func(r *ledger.Reader) ([]ledger.TrailEvent, error) { return r.Trail("registry", "obligation:E1/2025") })
	must(t, err)
	if len(events) != 2 || events[0].Event != "obligation.recorded" || events[1].Event != "obligation.revised" || events[1].Reason != "verification corrected" {
		t.Fatalf("trail %+v", events)
	}
	b.wantBalance(registry.SurrenderedAccount, "400", "400")
	b.invariants()

	// An edit behind the registry's back is found: the figures in force,
	// a record, a removed revision.
	b.exec(`UPDATE registry_obligations SET cap_units = 450 WHERE enterprise = 'E1'`)
	wantProblem(t, b, "obligation_record", "registry_obligations", "E1/2025")
	b.exec(`UPDATE registry_obligations SET cap_units = 400 WHERE enterprise = 'E1'`)
	b.exec(`UPDATE registry_obligation_records SET obligation_tonnes = 9000 WHERE enterprise = 'E1' AND revision = 1`)
	wantProblem(t, b, "record_hash", "registry_obligation_records", "E1/2025#1")
	b.exec(`DELETE FROM registry_obligation_records WHERE enterprise = 'E1' AND revision = 1`)
	wantProblem(t, b, "obligation_record", "registry_obligation_records", "E1/2025")
}

// An obligation an enterprise declared before the province recorded
// obligations (migration 0012 keeps it as revision 0) is history: no
// offset may use it until the province records revision 1 over it.
func TestDeclaredObligationIsHistoryOnly(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	e1 := b.holder("E1", "")
	b.give(operator("metro-jn"), "E1", "100", 0)
	// The row the old declare-on-first-use flow wrote, then migration
	// 0012's statement that keeps it as revision 0, then the Go-side
	// migration that hashes it.
	b.exec(`INSERT INTO registry_obligations (enterprise, compliance_year, obligation_tonnes, cap_share, cap_units, policy_id, declared_by, declared_at)
		VALUES ('E1', 2025, 100000, 0.05, 5000, 'default-2021', 'enterprise:user-E1', now())`)
	migs, err := migrations.Load(false)
	must(t, err)
	ran := 0
	for _, m := range migs {
		for _, st := range m.Statements {
			if m.Version == "0012_registry_obligations" && strings.HasPrefix(strings.TrimSpace(st), "INSERT INTO registry_obligation_records") {
				b.exec(st)
				ran++
			}
		}
	}
	if ran != 1 {
		t.Fatalf("ran %d statements of migration 0012", ran)
	}
	must(t, registry.UseCase.Migrate(ctx, b.l))
	b.invariants()

	got, err := registry.GetObligation(ctx, b.l, province, registry.ObligationKey{Enterprise: "E1", ComplianceYear: 2025})
	must(t, err)
	if got.Revision != 0 || got.Recorded || got.ObligationTonnes != "100000" || len(got.History) != 1 || got.RecordedBy != "enterprise:user-E1" {
		t.Fatalf("declared %+v", got)
	}
	_, _, err = registry.Surrender(ctx, b.l, e1, key(), registry.OffsetInput{Selection: registry.Selection{Units: "5"}, ComplianceYear: 2025, EtsReference: "e"})
	wantCode(t, err, registry.CodeObligationNotRecorded)
	if e, _ := ledger.AsError(err); !strings.Contains(e.Msg, "only declared by the enterprise") {
		t.Fatalf("message %q", e.Msg)
	}
	o, _, err := registry.RecordObligation(ctx, b.l, province, key(), registry.ObligationInput{Enterprise: "E1", ComplianceYear: 2025,
		VerifiedEmissionsTonnes: "1000", ObligationTonnes: "1000", DocumentRef: "SDEE-ETS-2025-E1"})
	must(t, err)
	if o.Revision != 1 || o.CapUnits != "50" || len(o.History) != 0 {
		t.Fatalf("recorded over the declaration %+v", o)
	}
	off, _, err := registry.Surrender(ctx, b.l, e1, key(), registry.OffsetInput{Selection: registry.Selection{Units: "50"}, ComplianceYear: 2025, EtsReference: "e"})
	must(t, err)
	if off.CapUnits != "50" || off.ObligationRevision != 1 {
		t.Fatalf("offset %+v", off)
	}
	b.invariants()
}

// The province cancels units of a frozen holding without lifting the
// freeze: the units go to cancelled, the holding stays frozen throughout
// (registry and engine), and everything verifies.
func TestCancelFrozenHolding(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	e1 := b.holder("E1", "")
	b.holder("E2", "")
	b.give(operator("metro-jn"), "E1", "100", 0)
	_, _, err := registry.Freeze(ctx, b.l, province, key(), registry.FreezeInput{Holder: "E1", DecisionRef: "SDEE-2026-17", Reason: "suspected double counting"})
	must(t, err)

	_, _, err = registry.CancelUnits(ctx, b.l, e1, key(), registry.CancelInput{Holder: "E1", Selection: registry.Selection{Units: "10"}, DecisionRef: "D", Reason: "r"})
	wantCode(t, err, ledger.CodeForbidden)
	c, _, err := registry.CancelUnits(ctx, b.l, province, key(), registry.CancelInput{Holder: "E1", Selection: registry.Selection{Units: "10"},
		DecisionRef: "SDEE-2026-18", Reason: "double counting confirmed"})
	must(t, err)
	if !c.HolderFrozen || c.Units != "10" || len(c.Serials) != 1 {
		t.Fatalf("cancellation %+v", c)
	}
	b.wantBalance(registry.CancelledAccount, "10", "10")
	b.wantBalance(ledger.HolderAccount("E1"), "90", "90")
	h, err := registry.GetHoldings(ctx, b.l, province, "E1", 0, "")
	must(t, err)
	if h.Status != "frozen" {
		t.Fatalf("holding %+v", h)
	}
	if acct, _ := b.l.GetAccount(ctx, ledger.HolderAccount("E1")); acct.Status != "frozen" {
		t.Fatalf("engine status %s", acct.Status)
	}
	tx, err := b.l.GetTransaction(ctx, c.TransactionID)
	must(t, err)
	if tx.Metadata["holder_frozen"] != "true" || tx.Metadata["decision_ref"] != "SDEE-2026-18" {
		t.Fatalf("journal %+v", tx.Metadata)
	}
	// The freeze still holds for everything else.
	_, _, err = registry.TransferUnits(ctx, b.l, e1, key(), registry.TransferInput{To: "E2", Selection: registry.Selection{Units: "1"}})
	wantCode(t, err, ledger.CodeAccountFrozen)
	_, _, err = registry.TransferUnits(ctx, b.l, operator("metro-jn"), key(), registry.TransferInput{To: "E1", Selection: registry.Selection{Units: "1"}})
	wantCode(t, err, ledger.CodeAccountFrozen)
	_, _, err = registry.Retire(ctx, b.l, e1, key(), registry.RetireInput{Selection: registry.Selection{Units: "1", Vintage: 2025}, Purpose: registry.PurposeOther, Beneficiary: "x"})
	wantCode(t, err, ledger.CodeAccountFrozen)
	b.invariants()
}

// A trade keeps the serials it offered: expired, cancelled or settled.
// Trades offered before they were recorded get them back from the blocks
// where these still tell (the Go-side migration); a removed range is
// found.
func TestTradesKeepTheirSerials(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	seller := operator("metro-jn")
	b.holder("E1", "1000.00")
	offer := func(units string) registry.Trade {
		tr, _, err := registry.OfferTrade(ctx, b.l, seller, key(), registry.OfferInput{Buyer: "E1", Selection: registry.Selection{Units: units},
			PricePerUnit: "1.00", TimeoutSeconds: 60})
		must(t, err)
		if len(tr.OfferedSerials) != 1 || tr.OfferedSerials[0] != tr.Blocks[0].Serial {
			t.Fatalf("offer %+v", tr)
		}
		return tr
	}
	cancelled := offer("10")
	c, _, err := registry.CancelTrade(ctx, b.l, seller, key(), cancelled.ID)
	must(t, err)
	if c.Status != registry.TradeCancelled || len(c.Blocks) != 0 || len(c.OfferedSerials) != 1 || c.OfferedSerials[0] != cancelled.OfferedSerials[0] {
		t.Fatalf("cancelled %+v", c)
	}
	open := offer("20")
	settled := offer("30")
	_, _, err = registry.AcceptTrade(ctx, b.l, enterprise("E1"), key(), settled.ID)
	must(t, err)
	b.invariants()

	// As before migration 0012: no ranges recorded.
	b.exec(`DELETE FROM registry_trade_ranges`)
	b.exec(`UPDATE registry_trades SET ranges_recorded = false`)
	must(t, registry.UseCase.Migrate(ctx, b.l))
	for _, tr := range []registry.Trade{open, settled} {
		got, err := registry.GetTrade(ctx, b.l, province, tr.ID)
		must(t, err)
		if len(got.OfferedSerials) != 1 || got.OfferedSerials[0] != tr.OfferedSerials[0] {
			t.Fatalf("back-filled %s: %+v", tr.ID, got)
		}
	}
	// The cancelled one was released and tidied: nothing tells any more.
	if got, _ := registry.GetTrade(ctx, b.l, province, cancelled.ID); len(got.OfferedSerials) != 0 {
		t.Fatalf("cancelled legacy trade %+v", got)
	}
	b.invariants()
	b.exec(`DELETE FROM registry_trade_ranges WHERE trade_id = $1`, open.ID)
	wantProblem(t, b, "trade_ranges", "registry_trades", open.ID.String())
}
