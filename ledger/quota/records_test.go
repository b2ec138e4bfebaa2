package quota_test

import (
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// allocated makes a paid allocation of 300 t (200 t from the province,
// 100 t from 3704) for project P-hash, and a second project P-other.
func (b *bundle) allocated(t *testing.T) *quota.Allocation {
	t.Helper()
	ent := enterprise("hashcorp")
	b.fund(t, "hashcorp", "100000.00")
	src := b.recognisedSource(t, city3704, "zz-h", "closure", "1000", "2024-01-01", "H-1")
	must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Reason: "stockpile"}))
	b.cityApproved(t, ent, city3709, quota.ApplyInput{Project: "P-other", Sector: "refining", Emissions: "10", Requested: "12"})
	app := b.cityApproved(t, ent, city3709, quota.ApplyInput{Project: "P-hash", Sector: "refining", Emissions: "250", Requested: "300"})
	app = must[quota.ApplicationDetail](t)(quota.DecideApplication(ctx, b.l, provAlice, key(), app.ID, quota.DecideInput{Approve: true, Reason: "allocate", Paid: true,
		Draws: []quota.DrawInput{{Reserve: "province", Tonnes: "200"}, {Reserve: "3704", Tonnes: "100"}}}))
	b.invariants(t)
	return app.Allocation
}

// wantRecordHashProblem asserts that VerifyAll reports the allocation's
// record hash, naming table and row, and that the report is not ok.
func (b *bundle) wantRecordHashProblem(t *testing.T, id string) {
	t.Helper()
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{quota.UseCase})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		if p.Kind == "record_hash" && p.UseCase == "quota" && p.Table == "quota_allocations" && p.Row == id && strings.Contains(p.Detail, "changed") {
			if rep.OK {
				t.Fatalf("report ok with a record_hash problem: %+v", rep)
			}
			return
		}
	}
	t.Fatalf("no record_hash problem for allocation %s: %+v", id, rep.Problems)
}

// TestAllocationRecordHash: editing in SQL any field of an allocation the
// public relies on — its tonnes, amount paid, price, project, application,
// or a draw's reserve or tonnes — is found and named by the verification;
// its legitimate state changes (consumption, recovery) are not problems.
func TestAllocationRecordHash(t *testing.T) {
	b := setup(t)
	al := b.allocated(t)
	id := al.ID.String()
	var otherApp string
	if err := b.l.Pool().QueryRow(ctx, `SELECT id::TEXT FROM quota_applications WHERE project = 'P-other'`).Scan(&otherApp); err != nil {
		t.Fatal(err)
	}
	edits := []struct{ name, edit, undo string }{
		{"tonnes", `UPDATE quota_allocations SET tonnes = 301 WHERE id = $1`, `UPDATE quota_allocations SET tonnes = 300 WHERE id = $1`},
		{"amount", `UPDATE quota_allocations SET amount_cny = 1.00 WHERE id = $1`, `UPDATE quota_allocations SET amount_cny = 15000.00 WHERE id = $1`},
		{"price", `UPDATE quota_allocations SET price = 1.00 WHERE id = $1`, `UPDATE quota_allocations SET price = 50.00 WHERE id = $1`},
		{"project", `UPDATE quota_allocations SET project = 'P-other' WHERE id = $1`, `UPDATE quota_allocations SET project = 'P-hash' WHERE id = $1`},
		{"paid", `UPDATE quota_allocations SET paid = false WHERE id = $1`, `UPDATE quota_allocations SET paid = true WHERE id = $1`},
		{"draw reserve", `UPDATE quota_draws SET reserve = '3709' WHERE allocation_id = $1 AND idx = 0`, `UPDATE quota_draws SET reserve = 'province' WHERE allocation_id = $1 AND idx = 0`},
		{"draw tonnes", `UPDATE quota_draws SET tonnes = tonnes + 1 WHERE allocation_id = $1 AND idx = 1`, `UPDATE quota_draws SET tonnes = tonnes - 1 WHERE allocation_id = $1 AND idx = 1`},
	}
	for _, e := range edits {
		if _, err := b.l.Pool().Exec(ctx, e.edit, al.ID); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		b.wantRecordHashProblem(t, id)
		if _, err := b.l.Pool().Exec(ctx, e.undo, al.ID); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		b.invariants(t)
	}
	// The application: pointed at P-other's, which has no allocation (an
	// application has at most one).
	if _, err := b.l.Pool().Exec(ctx, `UPDATE quota_allocations SET application_id = $2 WHERE id = $1`, al.ID, otherApp); err != nil {
		t.Fatal(err)
	}
	b.wantRecordHashProblem(t, id)
	if _, err := b.l.Pool().Exec(ctx, `UPDATE quota_allocations SET application_id = $2 WHERE id = $1`, al.ID, al.ApplicationID); err != nil {
		t.Fatal(err)
	}
	// Consumption changes status, closed_tx and closed_at: still verifies.
	must[quota.ApplicationDetail](t)(quota.Consume(ctx, b.l, provAlice, key(), al.ID, quota.ConsumeInput{CommissionedOn: "2025-03-01", Reason: "commissioned"}))
	b.invariants(t)
}

// TestAllocationRecordHashMigration: allocations written before record
// hashes are reported until UseCase.Migrate hashes them; migrating again
// changes nothing.
func TestAllocationRecordHashMigration(t *testing.T) {
	b := setup(t)
	al := b.allocated(t)
	if _, err := b.l.Pool().Exec(ctx, `UPDATE quota_allocations SET record_hash = NULL`); err != nil {
		t.Fatal(err)
	}
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{quota.UseCase})
	if err != nil || rep.OK || rep.Problems[0].Row != al.ID.String() || !strings.Contains(rep.Problems[0].Detail, "no record hash") {
		t.Fatalf("unhashed allocation not reported: %+v %v", rep, err)
	}
	for range 2 {
		if err := ledger.MigrateAll(ctx, b.l, []ledger.UseCase{quota.UseCase}); err != nil {
			t.Fatal(err)
		}
		b.invariants(t)
	}
}
