package points_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

var ctx = context.Background()

// cst is China Standard Time, the zone of the programme's days.
var cst = time.FixedZone("CST", 8*60*60)

// day1 is the first day of the scenarios, 09:00 in Jinan.
var day1 = time.Date(2026, 3, 2, 9, 0, 0, 0, cst)

var (
	province = ledger.Actor{Sub: "p-officer-1", Role: ledger.RoleProvince}
	auditor  = ledger.Actor{Sub: "a-1", Role: ledger.RoleAuditor}
)

func operator(org string) ledger.Actor {
	return ledger.Actor{Sub: "ops-" + org, Role: ledger.RoleOperator, Org: org}
}
func citizen(id string) ledger.Actor { return ledger.Actor{Sub: id, Role: ledger.RoleCitizen} }

// bundle is what a test works with: the shared test bundle (a database
// of its own, so verification and totals cover only its own scenario; the
// clock, standing at day1; the points use case, seeded) and the helpers
// below.
type bundle struct {
	*ledgertest.Bundle
	l     *ledger.Ledger
	clock *ledgertest.Clock
}

func setup(t testing.TB) *bundle {
	t.Helper()
	tb := ledgertest.Setup(t, day1, points.UseCase)
	return &bundle{Bundle: tb, l: tb.L, clock: tb.Clock}
}

func key() string { return uuid.NewString() }

// rec builds a record; the record id is unique unless given.
func rec(citizen, kind, quantity, unit string, at time.Time) points.BehaviourRecord {
	return points.BehaviourRecord{RecordID: "r-" + uuid.NewString(), Citizen: citizen, Kind: kind, Quantity: quantity, Unit: unit, OccurredAt: at}
}

func (b *bundle) report(t testing.TB, op string, recs ...points.BehaviourRecord) points.IngestResult {
	t.Helper()
	res, _, err := points.Ingest(ctx, b.l, operator(op), key(), points.IngestInput{Records: recs})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

// one reports a single record and returns its result.
func (b *bundle) one(t testing.TB, op string, r points.BehaviourRecord) points.RecordResult {
	t.Helper()
	return b.report(t, op, r).Results[0]
}

func (b *bundle) balance(t testing.TB, id string) int64 {
	t.Helper()
	a, err := b.l.GetAccount(ctx, id)
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeNotFound {
			return 0
		}
		t.Fatal(err)
	}
	return a.Balance.IntPart()
}

func (b *bundle) pending(t testing.TB, c string) int64 {
	return b.balance(t, ledger.CitizenPendingAccount(c))
}
func (b *bundle) available(t testing.TB, c string) int64 {
	return b.balance(t, ledger.CitizenAvailableAccount(c))
}

func (b *bundle) claim(t testing.TB, c string) points.ClaimResult {
	t.Helper()
	r, _, err := points.Claim(ctx, b.l, citizen(c), key())
	if err != nil {
		t.Fatalf("claim %s: %v", c, err)
	}
	return r
}

// verify asserts the engine's invariants (DOMAIN.md §6: balances, chains,
// per-asset totals zero), every trail chain and the points invariants.
func (b *bundle) verify(t testing.TB) {
	t.Helper()
	b.Verify(t)
}

func wantStatus(t testing.TB, r points.RecordResult, status, reason string) {
	t.Helper()
	if r.Status != status || r.Reason != reason {
		t.Fatalf("record %d: got %s/%s (%s), want %s/%s", r.Index, r.Status, r.Reason, r.Message, status, reason)
	}
}

func wantCode(t testing.TB, err error, code ledger.Code) {
	t.Helper()
	if got := ledger.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %s), want code %s", err, got, code)
	}
}

func eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func poolAccount(op, m string, at time.Time) string {
	return points.PoolAccount(op, m, at.In(cst).Format("2006-01"))
}

var _ = fmt.Sprint
