package quota_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

var ctx = context.Background()

// Actors of the scenarios.
var (
	provAlice = ledger.Actor{Sub: "p-alice", Role: ledger.RoleProvince}
	provBob   = ledger.Actor{Sub: "p-bob", Role: ledger.RoleProvince}
	city3704  = ledger.Actor{Sub: "zaozhuang-1", Role: ledger.RoleCity, City: "3704"}
	city3709  = ledger.Actor{Sub: "taian-1", Role: ledger.RoleCity, City: "3709"}
	city3701  = ledger.Actor{Sub: "jinan-1", Role: ledger.RoleCity, City: "3701"}
	auditor   = ledger.Actor{Sub: "aud-1", Role: ledger.RoleAuditor}
)

func enterprise(org string) ledger.Actor {
	return ledger.Actor{Sub: org + "-user", Role: ledger.RoleEnterprise, Org: org}
}

// clock is the test's ledger clock (ledgertest.Clock) under the names
// these tests use.
type clock struct{ *ledgertest.Clock }

func (c clock) now() time.Time          { return c.Now().UTC() }
func (c clock) advance(d time.Duration) { c.Advance(d) }

type bundle struct {
	*ledgertest.Bundle
	l     *ledger.Ledger
	clock clock
}

// setup gives a test its own migrated, seeded database (reserves are
// global, and the tests count global totals and verify everything).
func setup(t *testing.T) *bundle {
	t.Helper()
	b := ledgertest.Setup(t, time.Date(2025, 3, 10, 9, 0, 0, 0, time.FixedZone("CST", 8*3600)), quota.UseCase)
	return &bundle{Bundle: b, l: b.L, clock: clock{b.Clock}}
}

func key() string { return uuid.NewString() }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// invariants asserts DOMAIN.md §6 and the package's own: the engine's
// verification, every trail's hash chain, and the quota checks
// (workflow-vs-engine consistency, allocations' record hashes).
func (b *bundle) invariants(t *testing.T) {
	t.Helper()
	b.Verify(t)
}

func (b *bundle) balance(t *testing.T, account string) string {
	t.Helper()
	a, err := b.l.GetAccount(ctx, account)
	if ledger.ErrorCode(err) == ledger.CodeNotFound {
		return "0"
	}
	if err != nil {
		t.Fatal(err)
	}
	return a.Balance.String()
}

func (b *bundle) wantBalance(t *testing.T, account, want string) {
	t.Helper()
	if got := b.balance(t, account); !dec(got).Equal(dec(want)) {
		t.Errorf("balance of %s = %s, want %s", account, got, want)
	}
}

// fund deposits yuan into an organisation's CNY account.
func (b *bundle) fund(t *testing.T, org, yuan string) {
	t.Helper()
	acct := ledger.OrgMoneyAccount(org)
	if err := b.l.EnsureAccounts(ctx, "external:CNY", acct); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.l.Post(ctx, provAlice, key(), ledger.TxInput{Kind: "deposit",
		Postings: []ledger.PostingInput{{Account: "external:CNY", Amount: dec(yuan).Neg()}, {Account: acct, Amount: dec(yuan)}}}); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code ledger.Code) {
	t.Helper()
	if got := ledger.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

func must[T any](t *testing.T) func(T, bool, error) T {
	return func(v T, _ bool, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// recognisedSource proposes (by the city) and recognises (by the province)
// a source, and returns it.
func (b *bundle) recognisedSource(t *testing.T, city ledger.Actor, ent, route, tonnes, formed, evidence string) quota.Source {
	t.Helper()
	s := must[quota.Source](t)(quota.ProposeSource(ctx, b.l, city, key(), quota.ProposeSourceInput{
		City: city.City, Enterprise: ent, Route: route, Tonnes: tonnes, FormedOn: formed, EvidenceRef: evidence, Reason: "closure verified on site"}))
	return must[quota.Source](t)(quota.DecideSource(ctx, b.l, provAlice, key(), s.ID, quota.DecisionInput{Approve: true, Reason: "evidence checked"}))
}

// cityApproved submits an application and has its city approve it.
func (b *bundle) cityApproved(t *testing.T, ent ledger.Actor, city ledger.Actor, in quota.ApplyInput) quota.ApplicationDetail {
	t.Helper()
	in.City = city.City
	a := must[quota.ApplicationDetail](t)(quota.Apply(ctx, b.l, ent, key(), in))
	return must[quota.ApplicationDetail](t)(quota.ReviewApplication(ctx, b.l, city, key(), a.ID, quota.DecisionInput{Approve: true, Reason: "project approved by the city"}))
}
