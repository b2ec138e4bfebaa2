package registry_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// DOMAIN.md §7 Issuance: a pool of 6,330,000,000 g; the verifier rejects
// 126,600,000 g; 6,203 units are issued; 400,000 g stay in the pool;
// issuing the same batch again fails.
func TestScenarioIssuance(t *testing.T) {
	b := setup(t)
	op := operator("metro-jn")
	pool := b.fundPool("metro-jn", "metro-v1", "2025", "6330000000")

	batch, _, err := registry.RequestCertification(ctx, b.l, op, key(), registry.CertificationRequest{Methodology: "metro-v1", Period: "2025", Sector: "07", Project: "0001"})
	must(t, err)
	if batch.State != registry.StateDraft || batch.CapturedGrams != "6330000000" || batch.Vintage != 2025 {
		t.Fatalf("draft %+v", batch)
	}
	// The captured grams are held: nothing else can spend or capture them.
	b.wantBalance(pool, "6330000000", "0")
	_, _, err = registry.RequestCertification(ctx, b.l, op, key(), registry.CertificationRequest{Methodology: "metro-v1", Period: "2025", Sector: "07", Project: "0001"})
	wantCode(t, err, registry.CodeCertificationOpen)

	// Notice, then submission only after the notice period.
	_, _, err = registry.SubmitCertification(ctx, b.l, op, key(), batch.ID)
	wantCode(t, err, registry.CodeInvalidState)
	batch, _, err = registry.PublishNotice(ctx, b.l, op, key(), batch.ID)
	must(t, err)
	if batch.State != registry.StateNotice || *batch.NoticeDays != 7 || !batch.NoticeEndsAt.Equal(b.clk.Now().Add(7*24*time.Hour)) {
		t.Fatalf("notice %+v", batch)
	}
	_, _, err = registry.SubmitCertification(ctx, b.l, op, key(), batch.ID)
	wantCode(t, err, registry.CodeNoticeRunning)
	b.clk.Advance(7 * 24 * time.Hour)
	batch, _, err = registry.SubmitCertification(ctx, b.l, op, key(), batch.ID)
	must(t, err)
	if batch.State != registry.StateSubmitted {
		t.Fatalf("state %s", batch.State)
	}

	// Assignment: province only, never the requesting organisation, only accredited bodies.
	_, _, err = registry.AssignVerifier(ctx, b.l, op, key(), batch.ID, registry.AssignInput{Verifier: b.verifier.Org})
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = registry.AssignVerifier(ctx, b.l, province, key(), batch.ID, registry.AssignInput{Verifier: "metro-jn"})
	wantCode(t, err, registry.CodeVerifierConflict)
	_, _, err = registry.AssignVerifier(ctx, b.l, province, key(), batch.ID, registry.AssignInput{Verifier: "nobody-accredited"})
	wantCode(t, err, registry.CodeVerifierUnknown)
	// A verifier not assigned sees no such batch.
	other := ledger.Actor{Sub: "v9", Role: ledger.RoleVerifier, Org: "verifier-other"}
	split := registry.VerificationInput{ApprovedGrams: "6203400000", RejectedGrams: "126600000", ReportRef: "VR-2025-001"}
	_, _, err = registry.VerifyCertification(ctx, b.l, other, key(), batch.ID, split)
	wantCode(t, err, ledger.CodeNotFound)
	_, _, err = registry.AssignVerifier(ctx, b.l, province, key(), batch.ID, registry.AssignInput{Verifier: b.verifier.Org})
	must(t, err)
	_, _, err = registry.VerifyCertification(ctx, b.l, other, key(), batch.ID, split)
	wantCode(t, err, ledger.CodeNotFound)
	_, err = registry.GetCertification(ctx, b.l, other, batch.ID)
	wantCode(t, err, ledger.CodeNotFound)

	// The split must add up to what was captured.
	_, _, err = registry.VerifyCertification(ctx, b.l, b.verifier, key(), batch.ID,
		registry.VerificationInput{ApprovedGrams: "6203400000", RejectedGrams: "126599999", ReportRef: "VR-2025-001"})
	wantCode(t, err, registry.CodeSplitMismatch)
	batch, _, err = registry.VerifyCertification(ctx, b.l, b.verifier, key(), batch.ID, split)
	must(t, err)
	if batch.State != registry.StateVerified || batch.ApprovedGrams != "6203400000" || batch.RejectedGrams != "126600000" {
		t.Fatalf("verified %+v", batch)
	}
	b.wantBalance("operator:metro-jn:CO2E:rejected", "126600000", "126600000")
	b.wantBalance(pool, "6203400000", "0")

	// Issuance: province only.
	_, _, err = registry.IssueCertification(ctx, b.l, b.verifier, key(), batch.ID)
	wantCode(t, err, ledger.CodeForbidden)
	issueKey := key()
	batch, replayed, err := registry.IssueCertification(ctx, b.l, province, issueKey, batch.ID)
	must(t, err)
	if replayed || batch.State != registry.StateIssued || batch.IssuedUnits != "6203" || batch.RemainderGrams != "400000" ||
		batch.Serial != "CN37-SDCER-07-0001-1-6203-2025" {
		t.Fatalf("issued %+v", batch)
	}
	b.wantBalance(ledger.HolderAccount("metro-jn"), "6203", "6203")
	b.wantBalance("operator:metro-jn:CO2E:certified", "6203000000", "6203000000")
	b.wantBalance(pool, "400000", "400000") // the remainder stays, free again
	issued, err := b.l.GetAccount(ctx, "registry:SDCER:issuance")
	must(t, err)
	if !issued.Balance.Equal(dec("-6203")) {
		t.Fatalf("issuer %s", issued.Balance)
	}
	tx, err := b.l.GetTransaction(ctx, *batch.IssueTx)
	must(t, err)
	if len(tx.Postings) != 4 {
		t.Fatalf("grams and units must move in one transaction: %+v", tx.Postings)
	}

	// Issuing twice fails: a replay returns the first result, a new request is refused.
	again, replayed, err := registry.IssueCertification(ctx, b.l, province, issueKey, batch.ID)
	must(t, err)
	if !replayed || again.Serial != batch.Serial {
		t.Fatalf("replay %+v %v", again, replayed)
	}
	_, _, err = registry.IssueCertification(ctx, b.l, province, key(), batch.ID)
	wantCode(t, err, registry.CodeAlreadyIssued)
	// Behind the state check, the database refuses a second issuance row.
	_, err = b.l.Pool().Exec(ctx, `INSERT INTO registry_issuances (batch_id, programme, vintage, first_unit, last_unit, serial_number, tx_id, issued_by, issued_at)
		SELECT batch_id, programme, vintage, 7000, 7001, 'x', tx_id, issued_by, issued_at FROM registry_issuances WHERE batch_id = $1`, batch.ID)
	if err == nil {
		t.Fatal("a second issuance row of the same batch was accepted")
	}

	h, err := registry.GetHoldings(ctx, b.l, op, "", 0, "")
	must(t, err)
	if h.Balance != "6203" || len(h.Blocks) != 1 || h.Blocks[0].Serial != "CN37-SDCER-07-0001-1-6203-2025" ||
		len(h.Summary) != 1 || h.Summary[0].Methodology != "metro-v1" || h.Summary[0].Units != "6203" {
		t.Fatalf("holdings %+v", h)
	}

	// A second batch of the same vintage continues the numbering.
	b2 := b.issue("bus-qd", "bus-v1", "2025-Q3", "2500000", "0", "0002")
	if b2.Serial != "CN37-SDCER-07-0002-6204-6205-2025" || b2.RemainderGrams != "500000" {
		t.Fatalf("second serial %+v", b2)
	}
	stats, err := registry.GetStats(ctx, b.l)
	must(t, err)
	if stats.Totals.Issued != "6205" || stats.Totals.Held != "6205" || len(stats.Rows) != 2 {
		t.Fatalf("stats %+v", stats)
	}
	b.invariants()
}

func TestCertificationRejectAndWithdraw(t *testing.T) {
	b := setup(t)
	// A verifier that approves nothing rejects the batch: all grams to the rejected sink.
	batch := b.certify("bike-1", "cycling-v1", "2025", "3000000", "3000000", "0003")
	if batch.State != registry.StateRejected {
		t.Fatalf("state %s", batch.State)
	}
	b.wantBalance("operator:bike-1:CO2E:rejected", "3000000", "3000000")
	_, _, err := registry.IssueCertification(ctx, b.l, province, key(), batch.ID)
	wantCode(t, err, registry.CodeInvalidState)

	// Approved grams under one tonne: nothing to issue; withdrawal releases them.
	small := b.certify("bike-2", "cycling-v1", "2025", "1500000", "600000", "0004")
	_, _, err = registry.IssueCertification(ctx, b.l, province, key(), small.ID)
	wantCode(t, err, registry.CodeNothingToIssue)
	pool := registry.PoolAccount("bike-2", "cycling-v1", "2025")
	b.wantBalance(pool, "900000", "0")
	_, _, err = registry.WithdrawCertification(ctx, b.l, operator("bike-3"), key(), small.ID, registry.WithdrawInput{Reason: "x"})
	wantCode(t, err, ledger.CodeNotFound) // not its batch
	w, _, err := registry.WithdrawCertification(ctx, b.l, operator("bike-2"), key(), small.ID, registry.WithdrawInput{Reason: "too small"})
	must(t, err)
	if w.State != registry.StateWithdrawn {
		t.Fatalf("state %s", w.State)
	}
	b.wantBalance(pool, "900000", "900000")
	// A pool under one tonne cannot be requested.
	_, _, err = registry.RequestCertification(ctx, b.l, operator("bike-2"), key(), registry.CertificationRequest{Methodology: "cycling-v1", Period: "2025", Sector: "07", Project: "0004"})
	wantCode(t, err, registry.CodePoolBelowOneTonne)
	b.invariants()
}

// DOMAIN.md §7 Sale: E1 buys 500 units at 36 yuan/t → 18,000 yuan; units
// and money settle together; with too little money nothing moves; an
// unaccepted sale times out and both legs are released.
func TestScenarioSale(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "6330000000", "126600000", "0001")
	seller := operator("metro-jn")
	e1 := b.holder("E1", "10000.00")
	b.holder("E2", "")

	offer := registry.OfferInput{Buyer: "E1", Selection: registry.Selection{Units: "500"}, PricePerUnit: "36.00", TimeoutSeconds: 3600}
	tr, _, err := registry.OfferTrade(ctx, b.l, seller, key(), offer)
	must(t, err)
	if tr.Status != registry.TradeOffered || tr.Amount != "18000.00" || tr.Units != "500" || len(tr.Blocks) != 1 ||
		tr.Blocks[0].Serial != "CN37-SDCER-07-0001-5704-6203-2025" || !tr.Blocks[0].Reserved {
		t.Fatalf("offer %+v", tr)
	}
	b.wantBalance(ledger.HolderAccount("metro-jn"), "6203", "5703")
	b.invariants()

	// Only the buyer accepts; another enterprise does not even see the trade.
	_, _, err = registry.AcceptTrade(ctx, b.l, enterprise("E2"), key(), tr.ID)
	wantCode(t, err, ledger.CodeNotFound)
	_, _, err = registry.AcceptTrade(ctx, b.l, seller, key(), tr.ID)
	wantCode(t, err, ledger.CodeForbidden)

	// Too little money: a clear error and nothing moves.
	_, _, err = registry.AcceptTrade(ctx, b.l, e1, key(), tr.ID)
	wantCode(t, err, ledger.CodeInsufficientBalance)
	if e, _ := ledger.AsError(err); e.Detail["available"] != "10000.00" || e.Detail["required"] != "18000.00" {
		t.Fatalf("detail %+v", e.Detail)
	}
	b.wantBalance(ledger.HolderAccount("E1"), "0", "0")
	b.wantBalance(ledger.OrgMoneyAccount("E1"), "10000.00", "10000.00")
	b.wantBalance(ledger.HolderAccount("metro-jn"), "6203", "5703")
	if got, _ := registry.GetTrade(ctx, b.l, e1, tr.ID); got.Status != registry.TradeOffered {
		t.Fatalf("status %s", got.Status)
	}
	b.invariants()

	// With the money: units and money settle together.
	_, _, err = registry.RecordDeposit(ctx, b.l, province, key(), registry.DepositInput{Org: "E1", Amount: "8000.00", Reference: "bank-2"})
	must(t, err)
	acceptKey := key()
	done, _, err := registry.AcceptTrade(ctx, b.l, e1, acceptKey, tr.ID)
	must(t, err)
	if done.Status != registry.TradeSettled || done.PaymentTx == nil || len(done.Blocks) != 1 || done.Blocks[0].Holder != "E1" {
		t.Fatalf("settled %+v", done)
	}
	b.wantBalance(ledger.HolderAccount("E1"), "500", "500")
	b.wantBalance(ledger.OrgMoneyAccount("E1"), "0.00", "0.00")
	b.wantBalance(ledger.OrgMoneyAccount("metro-jn"), "18000.00", "18000.00")
	b.wantBalance(ledger.HolderAccount("metro-jn"), "5703", "5703")
	sum, h := b.holdingSum(e1, "E1")
	if sum != 500 || h.Blocks[0].Serial != "CN37-SDCER-07-0001-5704-6203-2025" {
		t.Fatalf("E1 blocks %d %+v", sum, h)
	}
	// Replay returns the first result; a new acceptance is refused.
	again, replayed, err := registry.AcceptTrade(ctx, b.l, e1, acceptKey, tr.ID)
	must(t, err)
	if !replayed || again.Status != registry.TradeSettled {
		t.Fatalf("replay %+v", again)
	}
	_, _, err = registry.AcceptTrade(ctx, b.l, e1, key(), tr.ID)
	wantCode(t, err, registry.CodeTradeNotOpen)
	_, _, err = registry.CancelTrade(ctx, b.l, seller, key(), tr.ID)
	wantCode(t, err, registry.CodeTradeNotOpen)
	b.invariants()

	// An unaccepted sale times out; the sweeper voids it; both legs are released.
	_, _, err = registry.RecordDeposit(ctx, b.l, province, key(), registry.DepositInput{Org: "E2", Amount: "5000.00", Reference: "bank-3"})
	must(t, err)
	late, _, err := registry.OfferTrade(ctx, b.l, seller, key(), registry.OfferInput{Buyer: "E2", Selection: registry.Selection{Units: "100"}, PricePerUnit: "36.00", TimeoutSeconds: 3600})
	must(t, err)
	b.wantBalance(ledger.HolderAccount("metro-jn"), "5703", "5603")
	b.clk.Advance(time.Hour)
	// At its timeout, before the sweep: the hold still reserves the units,
	// and the trade says so (it read "expired" here before issue 10).
	atExpiry, err := registry.GetTrade(ctx, b.l, province, late.ID)
	must(t, err)
	if atExpiry.Status != registry.TradeOffered || len(atExpiry.Blocks) != 1 || !atExpiry.Blocks[0].Reserved || atExpiry.ResolutionTx != nil {
		t.Fatalf("at expiry %+v", atExpiry)
	}
	b.wantBalance(ledger.HolderAccount("metro-jn"), "5703", "5603")
	_, _, err = registry.AcceptTrade(ctx, b.l, enterprise("E2"), key(), late.ID)
	wantCode(t, err, registry.CodeTradeNotOpen)
	b.invariants()
	n, err := b.l.VoidExpired(ctx, 100)
	must(t, err)
	if n != 1 {
		t.Fatalf("voided %d", n)
	}
	got, err := registry.GetTrade(ctx, b.l, seller, late.ID)
	must(t, err)
	if got.Status != registry.TradeExpired || got.ResolutionTx == nil {
		t.Fatalf("expired %+v", got)
	}
	// The expired trade still says which serials it offered.
	if len(got.Blocks) != 0 || len(got.OfferedSerials) != 1 || got.OfferedSerials[0] != atExpiry.Blocks[0].Serial {
		t.Fatalf("expired trade's serials %+v", got)
	}
	b.wantBalance(ledger.HolderAccount("metro-jn"), "5703", "5703")
	b.wantBalance(ledger.HolderAccount("E2"), "0", "0")
	b.wantBalance(ledger.OrgMoneyAccount("E2"), "5000.00", "5000.00")
	b.invariants()
	// The released units can be sold again.
	again2, _, err := registry.OfferTrade(ctx, b.l, seller, key(), registry.OfferInput{Buyer: "E2", Selection: registry.Selection{Units: "5703"}, PricePerUnit: "0.01"})
	must(t, err)
	if again2.Units != "5703" {
		t.Fatalf("re-offer %+v", again2)
	}
	// Cancellation by the buyer (declining) releases at once.
	c, _, err := registry.CancelTrade(ctx, b.l, enterprise("E2"), key(), again2.ID)
	must(t, err)
	if c.Status != registry.TradeCancelled {
		t.Fatalf("cancelled %+v", c)
	}
	b.wantBalance(ledger.HolderAccount("metro-jn"), "5703", "5703")
	b.invariants()
}

// DOMAIN.md §7 Retirement: E1 retires 300 units for a marathon's
// neutrality → certificate; retiring them again or moving them fails; a
// retirement across two vintages fails.
func TestScenarioRetirement(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "6330000000", "126600000", "0001")
	e1 := b.holder("E1", "")
	b.holder("E2", "")
	b.give(operator("metro-jn"), "E1", "500", 0) // 5704–6203

	in := registry.RetireInput{Selection: registry.Selection{Units: "300", Vintage: 2025}, Purpose: registry.PurposeEventNeutrality,
		Beneficiary: "2025 Jinan Marathon", Note: "carbon neutrality of the race"}
	_, _, err := registry.Retire(ctx, b.l, province, key(), in)
	wantCode(t, err, ledger.CodeForbidden)
	cert, _, err := registry.Retire(ctx, b.l, e1, key(), in)
	must(t, err)
	if cert.Tonnes != "300" || cert.Vintage != 2025 || cert.Beneficiary != "2025 Jinan Marathon" || cert.Purpose != "event_neutrality" ||
		len(cert.Serials) != 1 || cert.Serials[0] != "CN37-SDCER-07-0001-5904-6203-2025" {
		t.Fatalf("certificate %+v", cert)
	}
	b.wantBalance(ledger.HolderAccount("E1"), "200", "200")
	b.wantBalance(registry.RetiredAccount, "300", "300")
	// Anyone can verify it.
	pub, err := registry.GetCertificate(ctx, b.l, cert.ID)
	must(t, err)
	if pub.Tonnes != "300" || pub.Serials[0] != cert.Serials[0] || !pub.RetiredAt.Equal(cert.RetiredAt) || pub.TransactionID != cert.TransactionID {
		t.Fatalf("public certificate %+v", pub)
	}
	b.invariants()

	// Retiring them again fails, by range and by amount; so does moving them.
	again := in
	again.FirstUnit = 5904
	_, _, err = registry.Retire(ctx, b.l, e1, key(), again)
	wantCode(t, err, registry.CodeUnitsUnavailable)
	_, _, err = registry.Retire(ctx, b.l, e1, key(), in)
	wantCode(t, err, ledger.CodeInsufficientBalance)
	_, _, err = registry.TransferUnits(ctx, b.l, e1, key(), registry.TransferInput{To: "E2", Selection: registry.Selection{Units: "300", Vintage: 2025, FirstUnit: 5904}})
	wantCode(t, err, registry.CodeUnitsUnavailable)
	_, _, err = registry.TransferUnits(ctx, b.l, e1, key(), registry.TransferInput{To: "E2", Selection: registry.Selection{Units: "500"}})
	wantCode(t, err, ledger.CodeInsufficientBalance)
	_, _, err = registry.CancelUnits(ctx, b.l, province, key(), registry.CancelInput{Holder: "E1", Selection: registry.Selection{Units: "1", Vintage: 2025, FirstUnit: 6000},
		DecisionRef: "D-1", Reason: "x"})
	wantCode(t, err, registry.CodeUnitsUnavailable)

	// A retirement across two vintages fails: E1 holds 200 of 2025 and 200 of 2024.
	b.issue("metro-jn", "metro-v1", "2024", "1000000000", "0", "0001")
	b.give(operator("metro-jn"), "E1", "200", 2024)
	_, _, err = registry.Retire(ctx, b.l, e1, key(), in) // 300 of 2025
	wantCode(t, err, ledger.CodeInsufficientBalance)
	noVintage := in
	noVintage.Vintage = 0
	_, _, err = registry.Retire(ctx, b.l, e1, key(), noVintage)
	wantCode(t, err, ledger.CodeInvalidRequest)
	b.wantBalance(ledger.HolderAccount("E1"), "400", "400")
	b.wantBalance(registry.RetiredAccount, "300", "300")

	// A named range inside a block splits it in three.
	mid, _, err := registry.Retire(ctx, b.l, e1, key(), registry.RetireInput{Selection: registry.Selection{Units: "10", Vintage: 2025, FirstUnit: 5800},
		Purpose: registry.PurposeVoluntaryNeutrality, Beneficiary: "Jinan Metro Co."})
	must(t, err)
	if mid.Serials[0] != "CN37-SDCER-07-0001-5800-5809-2025" {
		t.Fatalf("range retirement %+v", mid)
	}
	sum, _ := b.holdingSum(e1, "E1")
	if sum != 390 {
		t.Fatalf("E1 blocks %d", sum)
	}
	stats, err := registry.GetStats(ctx, b.l)
	must(t, err)
	if stats.Totals.Retired != "310" || stats.Totals.Issued != "7203" {
		t.Fatalf("stats %+v", stats.Totals)
	}
	b.invariants()
}

func TestOffsetCap(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	e1 := b.holder("E1", "")
	b.give(operator("metro-jn"), "E1", "1000", 0)
	b.obligation("E1", 2025, "10000") // the province records it; the cap is 5 % of it

	in := registry.OffsetInput{Selection: registry.Selection{Units: "300"}, ComplianceYear: 2025, ObligationTonnes: "10000", EtsReference: "ETS-SD-2025-E1"}
	_, _, err := registry.Surrender(ctx, b.l, operator("metro-jn"), key(), in)
	wantCode(t, err, ledger.CodeForbidden)
	off, _, err := registry.Surrender(ctx, b.l, e1, key(), in)
	must(t, err)
	if off.CapUnits != "500" || off.CapShare != "0.0500" || off.SurrenderedUnits != "300" {
		t.Fatalf("offset %+v", off)
	}
	// Over the cap: 300 + 201 > 5 % of 10,000 t.
	in.Units = "201"
	_, _, err = registry.Surrender(ctx, b.l, e1, key(), in)
	wantCode(t, err, registry.CodeOffsetCapExceeded)
	// The obligation is declared once per year.
	bad := in
	bad.Units, bad.ObligationTonnes = "1", "20000"
	_, _, err = registry.Surrender(ctx, b.l, e1, key(), bad)
	wantCode(t, err, registry.CodeObligationMismatch)
	in.Units = "200"
	off, _, err = registry.Surrender(ctx, b.l, e1, key(), in)
	must(t, err)
	if off.SurrenderedUnits != "500" {
		t.Fatalf("offset %+v", off)
	}
	b.wantBalance(registry.SurrenderedAccount, "500", "500")
	b.wantBalance(ledger.HolderAccount("E1"), "500", "500")
	b.invariants()
}

func TestFrozenHolder(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	e1 := b.holder("E1", "1000.00")
	e2 := b.holder("E2", "1000.00")
	b.give(operator("metro-jn"), "E1", "100", 0)
	b.give(operator("metro-jn"), "E2", "100", 0)
	tr, _, err := registry.OfferTrade(ctx, b.l, e2, key(), registry.OfferInput{Buyer: "E1", Selection: registry.Selection{Units: "10"}, PricePerUnit: "1.00"})
	must(t, err)

	decision := registry.FreezeInput{Holder: "E1", DecisionRef: "SDEE-2026-17", Reason: "suspected double counting"}
	_, _, err = registry.Freeze(ctx, b.l, e2, key(), decision)
	wantCode(t, err, ledger.CodeForbidden)
	h, _, err := registry.Freeze(ctx, b.l, province, key(), decision)
	must(t, err)
	if h.Status != "frozen" {
		t.Fatalf("holder %+v", h)
	}
	_, _, err = registry.Freeze(ctx, b.l, province, key(), decision)
	wantCode(t, err, registry.CodeHolderAlreadyInState)
	if acct, _ := b.l.GetAccount(ctx, ledger.HolderAccount("E1")); acct.Status != "frozen" {
		t.Fatalf("engine status %s", acct.Status)
	}
	// Nothing leaves or enters, no trade settles, nothing retires.
	_, _, err = registry.TransferUnits(ctx, b.l, e1, key(), registry.TransferInput{To: "E2", Selection: registry.Selection{Units: "1"}})
	wantCode(t, err, ledger.CodeAccountFrozen)
	_, _, err = registry.TransferUnits(ctx, b.l, e2, key(), registry.TransferInput{To: "E1", Selection: registry.Selection{Units: "1"}})
	wantCode(t, err, ledger.CodeAccountFrozen)
	_, _, err = registry.AcceptTrade(ctx, b.l, e1, key(), tr.ID)
	wantCode(t, err, ledger.CodeAccountFrozen)
	_, _, err = registry.Retire(ctx, b.l, e1, key(), registry.RetireInput{Selection: registry.Selection{Units: "1", Vintage: 2025}, Purpose: registry.PurposeOther, Beneficiary: "x"})
	wantCode(t, err, ledger.CodeAccountFrozen)
	// A generic transaction cannot move units at all: only the registry does.
	_, _, err = b.l.Post(ctx, province, key(), ledger.TxInput{Kind: "test.direct", Postings: []ledger.PostingInput{
		{Account: ledger.HolderAccount("E1"), Amount: dec("-1")}, {Account: ledger.HolderAccount("E2"), Amount: dec("1")}}})
	wantCode(t, err, ledger.CodeManagedAsset)
	b.invariants()

	_, _, err = registry.Unfreeze(ctx, b.l, province, key(), decision)
	must(t, err)
	_, _, err = registry.AcceptTrade(ctx, b.l, e1, key(), tr.ID)
	must(t, err)
	b.wantBalance(ledger.HolderAccount("E1"), "110", "110")

	// Administrative cancellation with a decision reference.
	_, _, err = registry.CancelUnits(ctx, b.l, e2, key(), registry.CancelInput{Holder: "E1", Selection: registry.Selection{Units: "10"}, DecisionRef: "D", Reason: "r"})
	wantCode(t, err, ledger.CodeForbidden)
	c, _, err := registry.CancelUnits(ctx, b.l, province, key(), registry.CancelInput{Holder: "E1", Selection: registry.Selection{Units: "10"},
		DecisionRef: "SDEE-2026-18", Reason: "double counting confirmed"})
	must(t, err)
	if c.Units != "10" || len(c.Serials) == 0 {
		t.Fatalf("cancellation %+v", c)
	}
	b.wantBalance(registry.CancelledAccount, "10", "10")
	b.wantBalance(ledger.HolderAccount("E1"), "100", "100")
	b.invariants()
}

func TestAuthorization(t *testing.T) {
	b := setup(t)
	batch := b.certify("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	e1 := b.holder("E1", "100.00")
	citizen := ledger.Actor{Sub: "c1", Role: "citizen"}
	// Operators request and own batches; others cannot act on them.
	_, _, err := registry.RequestCertification(ctx, b.l, e1, key(), registry.CertificationRequest{Methodology: "metro-v1", Period: "2025", Sector: "07", Project: "0001"})
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = registry.WithdrawCertification(ctx, b.l, operator("bus-qd"), key(), batch.ID, registry.WithdrawInput{Reason: "x"})
	wantCode(t, err, ledger.CodeNotFound)
	// A verifier from the requesting organisation could never be assigned;
	// and a verifier verifies only while the batch is assigned to it.
	_, _, err = registry.VerifyCertification(ctx, b.l, ledger.Actor{Sub: "x", Role: ledger.RoleVerifier, Org: "metro-jn"}, key(), batch.ID,
		registry.VerificationInput{ApprovedGrams: "1", RejectedGrams: "1", ReportRef: "r"})
	wantCode(t, err, ledger.CodeNotFound)
	// Province-only actions.
	for name, f := range map[string]func(a ledger.Actor) error{
		"issue": func(a ledger.Actor) error {
			_, _, err := registry.IssueCertification(ctx, b.l, a, key(), batch.ID)
			return err
		},
		"deposit": func(a ledger.Actor) error {
			_, _, err := registry.RecordDeposit(ctx, b.l, a, key(), registry.DepositInput{Org: "E1", Amount: "1.00", Reference: "r"})
			return err
		},
		"freeze": func(a ledger.Actor) error {
			_, _, err := registry.Freeze(ctx, b.l, a, key(), registry.FreezeInput{Holder: "E1", DecisionRef: "d", Reason: "r"})
			return err
		},
		"accredit": func(a ledger.Actor) error {
			_, _, err := registry.AccreditVerifier(ctx, b.l, a, key(), registry.VerifierInput{Org: "v", Name: "n"})
			return err
		},
	} {
		for _, a := range []ledger.Actor{e1, operator("metro-jn"), b.verifier, citizen, {Sub: "a", Role: ledger.RoleAuditor}} {
			if code := ledger.ErrorCode(f(a)); code != ledger.CodeForbidden {
				t.Errorf("%s by %s: %s", name, a.Role, code)
			}
		}
	}
	// A holder reads and moves only its own units.
	_, err = registry.GetHoldings(ctx, b.l, e1, "metro-jn", 0, "")
	wantCode(t, err, ledger.CodeNotFound)
	_, err = registry.GetHoldings(ctx, b.l, citizen, "E1", 0, "")
	wantCode(t, err, ledger.CodeForbidden)
	if _, err := registry.GetHoldings(ctx, b.l, ledger.Actor{Sub: "a", Role: ledger.RoleAuditor}, "E1", 0, ""); err != nil {
		t.Fatal(err)
	}
	_, _, err = registry.OpenHolder(ctx, b.l, e1, key(), registry.HolderInput{Holder: "E2"})
	wantCode(t, err, ledger.CodeForbidden)
	_, _, err = registry.TransferUnits(ctx, b.l, citizen, key(), registry.TransferInput{To: "E1", Selection: registry.Selection{Units: "1"}})
	wantCode(t, err, ledger.CodeForbidden)
	// Drafts are private; from the notice on a batch is public information.
	_, err = registry.GetCertification(ctx, b.l, e1, batch.ID)
	must(t, err)
	b.invariants()
}

func TestIdempotentReplayAndConflict(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
	b.holder("E1", "")
	k := key()
	in := registry.TransferInput{To: "E1", Selection: registry.Selection{Units: "7"}}
	first, _, err := registry.TransferUnits(ctx, b.l, operator("metro-jn"), k, in)
	must(t, err)
	again, replayed, err := registry.TransferUnits(ctx, b.l, operator("metro-jn"), k, in)
	must(t, err)
	if !replayed || again.TransactionID != first.TransactionID {
		t.Fatalf("replay %+v", again)
	}
	in.Units = "8"
	_, _, err = registry.TransferUnits(ctx, b.l, operator("metro-jn"), k, in)
	wantCode(t, err, ledger.CodeIdempotencyConflict)
	b.wantBalance(ledger.HolderAccount("E1"), "7", "7")
	b.invariants()
}

func TestSeedIsIdempotent(t *testing.T) {
	b := setup(t)
	must(t, registry.Seed(ctx, b.l))
	must(t, registry.Seed(ctx, b.l))
	b.wantBalance(ledger.OrgMoneyAccount(registry.SeedEnterprise1), "100000.00", "100000.00")
	if _, err := registry.GetHoldings(ctx, b.l, province, registry.SeedEnterprise2, 0, ""); err != nil {
		t.Fatal(err)
	}
	// The seeded verifier is accredited: it can verify a batch.
	b.verifier = ledger.Actor{Sub: "v-seed", Role: ledger.RoleVerifier, Org: registry.SeedVerifier}
	if got := b.issue("metro-jn", "metro-v1", "2025", "1000000", "0", "0001"); got.IssuedUnits != "1" {
		t.Fatalf("issued %+v", got)
	}
	b.invariants()
}

// The registry's invariant check must catch what it claims to: tamper
// with blocks behind the package's back and expect problems.
func TestVerifyDetectsTampering(t *testing.T) {
	for name, sql := range map[string]string{
		"overlap":        `UPDATE registry_blocks SET first_unit = first_unit - 5 WHERE holder = 'E1' AND status = 'held'`,
		"gap":            `UPDATE registry_blocks SET last_unit = last_unit - 1 WHERE holder = 'E1'`,
		"wrong holder":   `UPDATE registry_blocks SET holder = 'E2' WHERE holder = 'E1'`,
		"unretired":      `UPDATE registry_blocks SET status = 'held', consumed_ref = NULL WHERE status = 'retired'`,
		"lost reserve":   `UPDATE registry_blocks SET reserved_tx = NULL WHERE reserved_tx IS NOT NULL`,
		"obligation sum": `UPDATE registry_obligations SET surrendered_units = surrendered_units - 1`,
	} {
		t.Run(name, func(t *testing.T) {
			b := setup(t)
			b.issue("metro-jn", "metro-v1", "2025", "2000000000", "0", "0001")
			e1 := b.holder("E1", "")
			b.holder("E2", "")
			b.give(operator("metro-jn"), "E1", "100", 0)
			_, _, err := registry.Retire(ctx, b.l, e1, key(), registry.RetireInput{Selection: registry.Selection{Units: "10", Vintage: 2025},
				Purpose: registry.PurposeOther, Beneficiary: "b"})
			must(t, err)
			b.obligation("E1", 2025, "1000")
			_, _, err = registry.Surrender(ctx, b.l, e1, key(), registry.OffsetInput{Selection: registry.Selection{Units: "5"}, ComplianceYear: 2025,
				ObligationTonnes: "1000", EtsReference: "e"})
			must(t, err)
			_, _, err = registry.OfferTrade(ctx, b.l, operator("metro-jn"), key(), registry.OfferInput{Buyer: "E2", Selection: registry.Selection{Units: "3"}, PricePerUnit: "1.00"})
			must(t, err)
			b.invariants()
			if _, err := b.l.Pool().Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
			rep, err := registry.Verify(ctx, b.l)
			must(t, err)
			if rep.OK || len(rep.Problems) == 0 {
				t.Fatalf("tampering (%s) not detected", name)
			}
			t.Logf("detected: %v", rep.Problems)
			// The same checks, run by the engine, name the table at fault.
			all, err := b.l.VerifyAll(ctx, []ledger.UseCase{registry.UseCase})
			must(t, err)
			if all.OK || all.Problems[0].UseCase != "registry" || !strings.HasPrefix(all.Problems[0].Table, "registry_") {
				t.Fatalf("VerifyAll on tampering (%s): %+v", name, all.Problems)
			}
		})
	}
}

// Notice days and the offset share are versioned configuration: a new
// version applies from its valid_from on, and each decision records it.
func TestPolicyVersions(t *testing.T) {
	b := setup(t)
	cur, err := registry.CurrentPolicy(ctx, b.l)
	must(t, err)
	if cur.NoticeDays != 7 || cur.OffsetCapShare != "0.0500" {
		t.Fatalf("default policy %+v", cur)
	}
	in := registry.PolicyInput{ID: "sd-2026-b", ValidFrom: b.clk.Now().Add(-time.Hour), NoticeDays: 3, OffsetCapShare: "0.10",
		TradeTimeoutDefaultSeconds: 600, Source: "test decision"}
	_, _, err = registry.PublishPolicy(ctx, b.l, province, key(), in)
	wantCode(t, err, registry.CodePolicyInPast)
	_, _, err = registry.PublishPolicy(ctx, b.l, enterprise("E1"), key(), in)
	wantCode(t, err, ledger.CodeForbidden)
	in.ValidFrom = b.clk.Now().Add(24 * time.Hour)
	_, _, err = registry.PublishPolicy(ctx, b.l, province, key(), in)
	must(t, err)
	b.clk.Advance(25 * time.Hour)

	b.fundPool("metro-jn", "metro-v1", "2025", "2000000000")
	batch, _, err := registry.RequestCertification(ctx, b.l, operator("metro-jn"), key(), registry.CertificationRequest{Methodology: "metro-v1", Period: "2025", Sector: "07", Project: "0001"})
	must(t, err)
	batch, _, err = registry.PublishNotice(ctx, b.l, operator("metro-jn"), key(), batch.ID)
	must(t, err)
	if *batch.NoticeDays != 3 || batch.PolicyID != "sd-2026-b" {
		t.Fatalf("notice under the new policy %+v", batch)
	}
	b.holder("E1", "")
	off := registry.OffsetInput{Selection: registry.Selection{Units: "1"}, ComplianceYear: 2026, ObligationTonnes: "1000", EtsReference: "e"}
	_, _, err = registry.Surrender(ctx, b.l, enterprise("E1"), key(), off)
	wantCode(t, err, ledger.CodeInsufficientBalance) // no units: and the obligation is not declared either
	var n int
	must(t, b.l.Pool().QueryRow(ctx, `SELECT count(*) FROM registry_obligations`).Scan(&n))
	if n != 0 {
		t.Fatalf("a failed offset left %d obligation rows", n)
	}
	// Under the new share, 10 % of 1,000 t may be offset: the share of the
	// policy in force when the province records the obligation.
	b.obligation("E1", 2026, "1000")
	b.issue("bus-qd", "bus-v1", "2025", "200000000", "0", "0002")
	b.give(operator("bus-qd"), "E1", "150", 0)
	off.Units = "100"
	res, _, err := registry.Surrender(ctx, b.l, enterprise("E1"), key(), off)
	must(t, err)
	if res.CapUnits != "100" || res.PolicyID != "sd-2026-b" {
		t.Fatalf("offset %+v", res)
	}
	off.Units = "1"
	_, _, err = registry.Surrender(ctx, b.l, enterprise("E1"), key(), off)
	wantCode(t, err, registry.CodeOffsetCapExceeded)
	b.invariants()
}
