package quota_test

import (
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// problemsOf runs VerifyAll with quota's checks and returns the problems
// of one kind.
func (b *bundle) problemsOf(t *testing.T, kind string) []ledger.Problem {
	t.Helper()
	rep, err := b.l.VerifyAll(ctx, []ledger.UseCase{quota.UseCase})
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Problem
	for _, p := range rep.Problems {
		if p.Kind == kind && p.UseCase == "quota" {
			out = append(out, p)
		}
	}
	if len(out) > 0 && rep.OK {
		t.Fatalf("report ok with %s problems: %+v", kind, out)
	}
	return out
}

// TestChecksCompareWorkflowWithJournal: a tranche edited in SQL, and
// tonnes in a source account no source row explains, are each reported by
// quota's balance check, naming table and row.
func TestChecksCompareWorkflowWithJournal(t *testing.T) {
	b := setup(t)
	src := b.recognisedSource(t, city3704, "zz-k", "closure", "100", "2024-01-01", "K-1")
	must[quota.Stockpiling](t)(quota.Stockpile(ctx, b.l, provAlice, key(), quota.StockpileInput{SourceID: src.ID, Reason: "stockpile"}))
	b.invariants(t)

	if _, err := b.l.Pool().Exec(ctx, `UPDATE quota_tranches SET remaining = remaining - 1 WHERE reserve = '3704'`); err != nil {
		t.Fatal(err)
	}
	ps := b.problemsOf(t, "balance")
	if len(ps) != 1 || ps[0].Table != "quota_tranches" || ps[0].Row != "3704" || ps[0].Account != quota.ReserveAccount("3704") {
		t.Fatalf("tranche edit: %+v", ps)
	}
	if _, err := b.l.Pool().Exec(ctx, `UPDATE quota_tranches SET remaining = remaining + 1 WHERE reserve = '3704'`); err != nil {
		t.Fatal(err)
	}
	b.invariants(t)

	// Recognition posted outside the workflow, to an enterprise with no source.
	ghost := quota.SourceAccount("ghost")
	if err := b.l.Update(ctx, func(w *ledger.Writer) error {
		if err := w.OpenAccounts(ghost); err != nil {
			return err
		}
		tx, err := w.Build(provAlice, ledger.TxInput{Kind: "quota.recognition",
			Postings: []ledger.PostingInput{{Account: quota.AccountRecognition, Amount: dec("-5")}, {Account: ghost, Amount: dec("5")}}})
		if err != nil {
			return err
		}
		return w.Apply(tx)
	}); err != nil {
		t.Fatal(err)
	}
	ps = b.problemsOf(t, "balance")
	if len(ps) != 2 {
		t.Fatalf("posting outside the workflow: %+v", ps)
	}
	for _, p := range ps {
		if p.Table != "quota_sources" || (p.Row != "*" && p.Row != "recognised") {
			t.Fatalf("posting outside the workflow: %+v", ps)
		}
	}
}
