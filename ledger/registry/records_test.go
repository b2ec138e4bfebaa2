package registry_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// recordWorld issues a batch and retires part of it: one issuance and one
// certificate for the record checks to cover.
func recordWorld(t *testing.T) (*bundle, registry.Batch, registry.Certificate) {
	b := setup(t)
	batch := b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	e1 := b.holder("E1", "")
	b.give(operator("metro-jn"), "E1", "100", 0)
	c, _, err := registry.Retire(ctx, b.l, e1, key(), registry.RetireInput{Selection: registry.Selection{Units: "10", Vintage: 2025},
		Purpose: registry.PurposeEventNeutrality, Beneficiary: "Jinan marathon 2026", Note: "n"})
	must(t, err)
	b.invariants()
	return b, batch, c
}

// wantRecordProblem asserts that the registry's checks, run through the
// engine, report a record_hash problem naming table and row.
func wantRecordProblem(t *testing.T, b *bundle, table string, row uuid.UUID) {
	t.Helper()
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{registry.UseCase})
	must(t, err)
	if rep.OK {
		t.Fatalf("the edit of %s %s was not detected", table, row)
	}
	for _, p := range rep.Problems {
		if p.Kind == "record_hash" && p.UseCase == "registry" && p.Table == table && p.Row == row.String() {
			return
		}
	}
	t.Fatalf("no record_hash problem names %s %s: %+v", table, row, rep.Problems)
}

// Editing in SQL any field the public relies on — what a certificate
// shows, an issuance's serial and units — is found and named.
func TestRecordHashDetectsEdits(t *testing.T) {
	b, batch, cert := recordWorld(t)
	for _, c := range []struct {
		name, table, edit, undo string
		row                     uuid.UUID
	}{
		{"beneficiary", "registry_retirements", `UPDATE registry_retirements SET beneficiary = 'someone else' WHERE id = $1`,
			`UPDATE registry_retirements SET beneficiary = 'Jinan marathon 2026' WHERE id = $1`, cert.ID},
		{"purpose", "registry_retirements", `UPDATE registry_retirements SET purpose = 'other' WHERE id = $1`,
			`UPDATE registry_retirements SET purpose = 'event_neutrality' WHERE id = $1`, cert.ID},
		{"retired_at", "registry_retirements", `UPDATE registry_retirements SET retired_at = retired_at - INTERVAL '1 day' WHERE id = $1`,
			`UPDATE registry_retirements SET retired_at = retired_at + INTERVAL '1 day' WHERE id = $1`, cert.ID},
		{"issuance units", "registry_issuances", `UPDATE registry_issuances SET last_unit = last_unit - 1 WHERE batch_id = $1`,
			`UPDATE registry_issuances SET last_unit = last_unit + 1 WHERE batch_id = $1`, batch.ID},
		{"issuance serial", "registry_issuances", `UPDATE registry_issuances SET serial_number = 'CN37-SDCER-07-0009-1-2000-2025' WHERE batch_id = $1`,
			`UPDATE registry_issuances SET serial_number = '` + batch.Serial + `' WHERE batch_id = $1`, batch.ID},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := b.l.Pool().Exec(ctx, c.edit, c.row); err != nil {
				t.Fatal(err)
			}
			wantRecordProblem(t, b, c.table, c.row)
			if _, err := b.l.Pool().Exec(ctx, c.undo, c.row); err != nil {
				t.Fatal(err)
			}
			b.invariants() // undone: the hash matches again
		})
	}
}

// Rows written before record hashes existed are hashed by the use case's
// migration; until then the check names them, and a second run changes
// nothing.
func TestMigrateHashesOlderRecords(t *testing.T) {
	b, batch, cert := recordWorld(t)
	for _, sql := range []string{`UPDATE registry_retirements SET record_hash = NULL`, `UPDATE registry_issuances SET record_hash = NULL`} {
		if _, err := b.l.Pool().Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	wantRecordProblem(t, b, "registry_retirements", cert.ID)
	wantRecordProblem(t, b, "registry_issuances", batch.ID)
	for range 2 {
		must(t, ledger.MigrateAll(ctx, b.l, []ledger.UseCase{registry.UseCase}))
		b.invariants()
	}
	got, err := registry.GetCertificate(ctx, b.l, cert.ID)
	must(t, err)
	if got.Beneficiary != cert.Beneficiary || len(got.Serials) != 1 || got.Serials[0] != cert.Serials[0] {
		t.Fatalf("certificate %+v, retired as %+v", got, cert)
	}
}

// The registry's decisions are in the engine's one trail, under the
// subjects migration 0005 moved the old rows to; the old table is gone.
func TestDecisionsInEngineTrail(t *testing.T) {
	b := setup(t)
	b.holder("E1", "")
	_, _, err := registry.Freeze(ctx, b.l, province, key(), registry.FreezeInput{Holder: "E1", DecisionRef: "D-1", Reason: "audit"})
	must(t, err)
	events, err := ledger.ReadValue(ctx, b.l, func(r *ledger.Reader) ([]ledger.TrailEvent, error) { return r.Trail("registry", "holder:E1") })
	must(t, err)
	if len(events) != 1 || events[0].Event != "holder.freeze" || events[0].Reason != "audit" || events[0].Actor != province.ID() {
		t.Fatalf("trail %+v", events)
	}
	var old *string
	must(t, b.l.Pool().QueryRow(ctx, `SELECT to_regclass('registry_events')::TEXT`).Scan(&old))
	if old != nil {
		t.Fatal("registry_events still exists")
	}
	b.invariants()
}
