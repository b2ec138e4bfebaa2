package registry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

var ctx = context.Background()

var province = ledger.Actor{Sub: "p1", Role: ledger.RoleProvince}

// bundle is one test's world: ledgertest's (a ledger on a database of its
// own, its clock, verification of the engine and the registry's checks)
// and a verifier accredited by the province.
type bundle struct {
	*ledgertest.Bundle
	t        *testing.T
	l        *ledger.Ledger
	clk      *ledgertest.Clock
	verifier ledger.Actor
}

// setup registers the registry without its seed: each test builds its
// own holdings (TestSeed runs the seed itself).
func setup(t *testing.T) *bundle {
	t.Helper()
	uc := registry.UseCase
	uc.Seed = nil
	tb := ledgertest.Setup(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), uc)
	b := &bundle{Bundle: tb, t: t, l: tb.L, clk: tb.Clock, verifier: ledger.Actor{Sub: "v1", Role: ledger.RoleVerifier, Org: "verifier-x"}}
	if _, _, err := registry.AccreditVerifier(ctx, b.l, province, key(), registry.VerifierInput{Org: b.verifier.Org, Name: "Verifier X"}); err != nil {
		t.Fatal(err)
	}
	return b
}

func key() string { return uuid.NewString() }

func operator(org string) ledger.Actor {
	return ledger.Actor{Sub: "ops-" + org, Role: ledger.RoleOperator, Org: org}
}

func enterprise(org string) ledger.Actor {
	return ledger.Actor{Sub: "user-" + org, Role: ledger.RoleEnterprise, Org: org}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// fundPool fills an operator's pool directly from the methodology issuer,
// as the points package does when citizens entrust reductions.
func (b *bundle) fundPool(op, methodology, period, grams string) string {
	b.t.Helper()
	pool := registry.PoolAccount(op, methodology, period)
	issuer := "methodology:" + methodology + ":CO2E:issuance"
	err := b.l.Update(ctx, func(w *ledger.Writer) error {
		if err := w.OpenAccounts(issuer, pool); err != nil {
			return err
		}
		tx, err := w.Build(ledger.SystemActor, ledger.TxInput{Kind: "test.fund_pool",
			Postings: []ledger.PostingInput{{Account: issuer, Amount: dec(grams).Neg()}, {Account: pool, Amount: dec(grams)}}})
		if err != nil {
			return err
		}
		return w.Apply(tx)
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return pool
}

// certify runs a pool through request, notice, submission, assignment and
// verification, ready for issuance.
func (b *bundle) certify(op, methodology, period, grams, rejected, project string) registry.Batch {
	b.t.Helper()
	b.fundPool(op, methodology, period, grams)
	oa := operator(op)
	batch, _, err := registry.RequestCertification(ctx, b.l, oa, key(), registry.CertificationRequest{Methodology: methodology, Period: period, Sector: "07", Project: project})
	must(b.t, err)
	_, _, err = registry.PublishNotice(ctx, b.l, oa, key(), batch.ID)
	must(b.t, err)
	b.clk.Advance(7*24*time.Hour + time.Second)
	_, _, err = registry.SubmitCertification(ctx, b.l, oa, key(), batch.ID)
	must(b.t, err)
	_, _, err = registry.AssignVerifier(ctx, b.l, province, key(), batch.ID, registry.AssignInput{Verifier: b.verifier.Org})
	must(b.t, err)
	approved := dec(grams).Sub(dec(rejected)).String()
	batch, _, err = registry.VerifyCertification(ctx, b.l, b.verifier, key(), batch.ID,
		registry.VerificationInput{ApprovedGrams: approved, RejectedGrams: rejected, ReportRef: "VR-" + project})
	must(b.t, err)
	return batch
}

// issue certifies and issues a pool; the units land in the operator's holding.
func (b *bundle) issue(op, methodology, period, grams, rejected, project string) registry.Batch {
	b.t.Helper()
	batch := b.certify(op, methodology, period, grams, rejected, project)
	batch, _, err := registry.IssueCertification(ctx, b.l, province, key(), batch.ID)
	must(b.t, err)
	return batch
}

// holder opens a holding for an enterprise and deposits money into it.
func (b *bundle) holder(org, cny string) ledger.Actor {
	b.t.Helper()
	a := enterprise(org)
	_, _, err := registry.OpenHolder(ctx, b.l, a, key(), registry.HolderInput{Holder: org})
	must(b.t, err)
	if cny != "" {
		_, _, err = registry.RecordDeposit(ctx, b.l, province, key(), registry.DepositInput{Org: org, Amount: cny, Reference: "bank-" + org})
		must(b.t, err)
	}
	return a
}

// obligation records, as the province, an enterprise's obligation for a
// compliance year (verified emissions: the obligation too, in these tests).
func (b *bundle) obligation(enterprise string, year int, tonnes string) registry.Obligation {
	b.t.Helper()
	o, _, err := registry.RecordObligation(ctx, b.l, province, key(), registry.ObligationInput{Enterprise: enterprise, ComplianceYear: year,
		VerifiedEmissionsTonnes: tonnes, ObligationTonnes: tonnes, DocumentRef: fmt.Sprintf("SDEE-ETS-%d-%s", year, enterprise)})
	must(b.t, err)
	return o
}

func (b *bundle) give(from ledger.Actor, to string, units string, vintage int) {
	b.t.Helper()
	_, _, err := registry.TransferUnits(ctx, b.l, from, key(), registry.TransferInput{To: to, Selection: registry.Selection{Units: units, Vintage: vintage}})
	must(b.t, err)
}

// balance returns an account's balance and available amount as fixed-scale strings.
func (b *bundle) balance(id string) (string, string) {
	b.t.Helper()
	a, err := b.l.GetAccount(ctx, id)
	if err != nil {
		b.t.Fatalf("account %s: %v", id, err)
	}
	return ledger.FormatAmount(a.Asset, a.Balance), ledger.FormatAmount(a.Asset, a.Available)
}

func (b *bundle) wantBalance(id, bal, avail string) {
	b.t.Helper()
	gb, ga := b.balance(id)
	if gb != bal || ga != avail {
		b.t.Fatalf("%s: balance %s available %s, want %s / %s", id, gb, ga, bal, avail)
	}
}

// invariants: the engine's (balances, chains, per-asset zero sums, the
// trail) and the registry's checks (no overlap, full coverage, blocks =
// balances, record hashes), as VerifyAll runs them.
func (b *bundle) invariants() {
	b.t.Helper()
	b.Verify(b.t)
}

// holdingSum is the units of all of a holder's blocks, paging through.
func (b *bundle) holdingSum(a ledger.Actor, holder string) (int64, registry.Holdings) {
	b.t.Helper()
	var sum int64
	var first registry.Holdings
	cursor := ""
	for page := 0; ; page++ {
		h, err := registry.GetHoldings(ctx, b.l, a, holder, 2, cursor)
		must(b.t, err)
		if page == 0 {
			first = h
		}
		for _, bl := range h.Blocks {
			sum += dec(bl.Units).IntPart()
		}
		if h.NextCursor == "" {
			return sum, first
		}
		cursor = h.NextCursor
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code ledger.Code) {
	t.Helper()
	if got := ledger.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %s, want %s", err, got, code)
	}
}
