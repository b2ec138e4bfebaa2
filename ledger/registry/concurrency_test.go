package registry_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

const racers = 8

// race runs f(i) for i in [0, n) in goroutines released together, and
// returns their errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}(i)
	}
	close(start)
	wg.Wait()
	return errs
}

func count(t *testing.T, errs []error, allowed ...ledger.Code) int {
	t.Helper()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		good := false
		for _, c := range allowed {
			if ledger.ErrorCode(err) == c {
				good = true
			}
		}
		if !good {
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok
}

// Several buyers race for the same 500 units: the seller's offers to each
// of them run concurrently; exactly one reserves the units, nothing is
// lost or reserved twice.
func TestConcurrentOffersForTheSameUnits(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "500000000", "0", "0001")
	seller := operator("metro-jn")
	for i := 0; i < racers; i++ {
		b.holder(fmt.Sprintf("B%d", i), "20000.00")
	}
	trades := make([]registry.Trade, racers)
	errs := race(racers, func(i int) error {
		var err error
		trades[i], _, err = registry.OfferTrade(ctx, b.l, seller, key(), registry.OfferInput{Buyer: fmt.Sprintf("B%d", i),
			Selection: registry.Selection{Units: "500"}, PricePerUnit: "36.00"})
		return err
	})
	if n := count(t, errs, ledger.CodeInsufficientBalance); n != 1 {
		t.Fatalf("%d offers reserved the same units", n)
	}
	b.wantBalance(ledger.HolderAccount("metro-jn"), "500", "0")
	b.invariants()
	// The winner's buyer settles; the others have nothing to accept.
	for i, err := range errs {
		if err == nil {
			_, _, err := registry.AcceptTrade(ctx, b.l, enterprise(fmt.Sprintf("B%d", i)), key(), trades[i].ID)
			must(t, err)
			b.wantBalance(ledger.HolderAccount(fmt.Sprintf("B%d", i)), "500", "500")
			b.wantBalance(ledger.OrgMoneyAccount(fmt.Sprintf("B%d", i)), "2000.00", "2000.00")
		}
	}
	b.wantBalance(ledger.OrgMoneyAccount("metro-jn"), "18000.00", "18000.00")
	b.invariants()
}

// Acceptances (by the buyer, under different keys) race cancellations (by
// the seller) of one offer: exactly one resolution wins, and the money
// moves at most once.
func TestConcurrentAcceptAndCancel(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "500000000", "0", "0001")
	seller := operator("metro-jn")
	e1 := b.holder("E1", "100000.00")
	tr, _, err := registry.OfferTrade(ctx, b.l, seller, key(), registry.OfferInput{Buyer: "E1", Selection: registry.Selection{Units: "500"}, PricePerUnit: "36.00"})
	must(t, err)
	errs := race(racers, func(i int) error {
		if i%2 == 0 {
			_, _, err := registry.AcceptTrade(ctx, b.l, e1, key(), tr.ID)
			return err
		}
		_, _, err := registry.CancelTrade(ctx, b.l, seller, key(), tr.ID)
		return err
	})
	if n := count(t, errs, registry.CodeTradeNotOpen, ledger.CodePendingResolved); n != 1 {
		t.Fatalf("%d resolutions of one trade", n)
	}
	got, err := registry.GetTrade(ctx, b.l, e1, tr.ID)
	must(t, err)
	switch got.Status {
	case registry.TradeSettled:
		b.wantBalance(ledger.HolderAccount("E1"), "500", "500")
		b.wantBalance(ledger.OrgMoneyAccount("E1"), "82000.00", "82000.00")
	case registry.TradeCancelled:
		b.wantBalance(ledger.HolderAccount("metro-jn"), "500", "500")
		b.wantBalance(ledger.OrgMoneyAccount("E1"), "100000.00", "100000.00")
	default:
		t.Fatalf("status %s", got.Status)
	}
	b.invariants()
}

// Many buyers settle their own offers from one seller at once: every sale
// settles (no deadlock between the shared seller and distinct buyers) and
// every unit and fen is accounted for.
func TestConcurrentBuyersSettle(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "1000000000", "0", "0001")
	seller := operator("metro-jn")
	trades := make([]registry.Trade, racers)
	for i := 0; i < racers; i++ {
		b.holder(fmt.Sprintf("B%d", i), "3600.00")
		var err error
		trades[i], _, err = registry.OfferTrade(ctx, b.l, seller, key(), registry.OfferInput{Buyer: fmt.Sprintf("B%d", i),
			Selection: registry.Selection{Units: "100"}, PricePerUnit: "36.00"})
		must(t, err)
	}
	errs := race(racers, func(i int) error {
		_, _, err := registry.AcceptTrade(ctx, b.l, enterprise(fmt.Sprintf("B%d", i)), key(), trades[i].ID)
		return err
	})
	if n := count(t, errs); n != racers {
		t.Fatalf("%d of %d settled", n, racers)
	}
	b.wantBalance(ledger.HolderAccount("metro-jn"), "200", "200")
	b.wantBalance(ledger.OrgMoneyAccount("metro-jn"), "28800.00", "28800.00")
	for i := 0; i < racers; i++ {
		b.wantBalance(ledger.HolderAccount(fmt.Sprintf("B%d", i)), "100", "100")
	}
	b.invariants()
}

// Transfers in both directions between two holders at once: the holder
// locks are taken in id order, so they never deadlock for good, and the
// blocks stay equal to the balances.
func TestConcurrentCrossTransfers(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "1000000000", "0", "0001")
	e1, e2 := b.holder("E1", ""), b.holder("E2", "")
	b.give(operator("metro-jn"), "E1", "500", 0)
	b.give(operator("metro-jn"), "E2", "500", 0)
	errs := race(2*racers, func(i int) error {
		from, to := e1, "E2"
		if i%2 == 1 {
			from, to = e2, "E1"
		}
		_, _, err := registry.TransferUnits(ctx, b.l, from, key(), registry.TransferInput{To: to, Selection: registry.Selection{Units: fmt.Sprint(1 + i)}})
		return err
	})
	if n := count(t, errs); n != 2*racers {
		t.Fatalf("%d of %d transfers", n, 2*racers)
	}
	// E1 sent 1+3+…+15 = 64 and received 2+4+…+16 = 72.
	b.wantBalance(ledger.HolderAccount("E1"), "508", "508")
	b.wantBalance(ledger.HolderAccount("E2"), "492", "492")
	b.invariants()
}

// Concurrent offsets against one obligation never pass its cap together.
func TestConcurrentOffsetsRespectTheCap(t *testing.T) {
	b := setup(t)
	b.issue("metro-jn", "metro-v1", "2025", "1000000000", "0", "0001")
	e1 := b.holder("E1", "")
	b.give(operator("metro-jn"), "E1", "1000", 0)
	b.obligation("E1", 2026, "10000")
	errs := race(racers, func(i int) error {
		_, _, err := registry.Surrender(ctx, b.l, e1, key(), registry.OffsetInput{Selection: registry.Selection{Units: "100"}, ComplianceYear: 2026,
			ObligationTonnes: "10000", EtsReference: fmt.Sprintf("ETS-%d", i)})
		return err
	})
	if n := count(t, errs, registry.CodeOffsetCapExceeded); n != 5 {
		t.Fatalf("%d offsets of 100 passed a cap of 500", n)
	}
	b.wantBalance(registry.SurrenderedAccount, "500", "500")
	b.invariants()
}

// Concurrent issuances of one vintage get disjoint, gapless serial ranges
// from the counter row.
func TestConcurrentIssuance(t *testing.T) {
	b := setup(t)
	batches := make([]registry.Batch, 4)
	for i := range batches {
		batches[i] = b.certify(fmt.Sprintf("op-%d", i), "metro-v1", "2025", fmt.Sprintf("%d000000", 10*(i+1)), "0", fmt.Sprintf("%04d", i+1))
	}
	// Each batch is also issued twice at once: exactly one issuance each.
	errs := race(2*len(batches), func(i int) error {
		_, _, err := registry.IssueCertification(ctx, b.l, province, key(), batches[i/2].ID)
		return err
	})
	if n := count(t, errs, registry.CodeAlreadyIssued); n != len(batches) {
		t.Fatalf("%d issuances of %d batches", n, len(batches))
	}
	stats, err := registry.GetStats(ctx, b.l)
	must(t, err)
	if stats.Totals.Issued != "100" {
		t.Fatalf("issued %s", stats.Totals.Issued)
	}
	b.invariants() // the serial ranges cover 1–100 with no overlap
}

// Concurrent first records of one obligation: one is recorded, the others
// are told to revise it; never two revisions 1.
func TestConcurrentObligationRecords(t *testing.T) {
	b := setup(t)
	errs := race(4, func(i int) error {
		_, _, err := registry.RecordObligation(ctx, b.l, province, key(), registry.ObligationInput{Enterprise: "E1", ComplianceYear: 2026,
			VerifiedEmissionsTonnes: "1000", ObligationTonnes: fmt.Sprint(1000 + i), DocumentRef: "d"})
		return err
	})
	if n := count(t, errs, ledger.CodeConflict); n != 1 {
		t.Fatalf("%d of 4 concurrent first records passed", n)
	}
	o, err := registry.GetObligation(ctx, b.l, province, registry.ObligationKey{Enterprise: "E1", ComplianceYear: 2026})
	must(t, err)
	if o.Revision != 1 || len(o.History) != 1 {
		t.Fatalf("obligation %+v", o)
	}
	b.invariants()
}
