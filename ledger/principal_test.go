package ledger_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// The principal is the whole identity: two actors that differ only in
// organisation, city or issuer are two principals.
func TestActorIDIsTheWholePrincipal(t *testing.T) {
	base := ledger.Actor{Role: ledger.RoleEnterprise, Sub: "u1", Org: "E1"}
	others := []ledger.Actor{
		{Role: ledger.RoleEnterprise, Sub: "u1", Org: "E2"},
		{Role: ledger.RoleEnterprise, Sub: "u1", Org: "E1", City: "3701"},
		{Role: ledger.RoleEnterprise, Sub: "u1", Org: "E1", Iss: "https://idp.example"},
		{Role: ledger.RoleOperator, Sub: "u1", Org: "E1"},
		{Role: ledger.RoleEnterprise, Sub: "u2", Org: "E1"},
	}
	seen := map[string]bool{base.ID(): true}
	for _, a := range others {
		if seen[a.ID()] {
			t.Errorf("%+v has the ID %q of another principal", a, a.ID())
		}
		seen[a.ID()] = true
	}
	if got := base.ID(); got != "enterprise:u1@org:E1" {
		t.Errorf("ID = %q", got)
	}
	// Actors without org, city and issuer keep the form stored before.
	if got := (ledger.Actor{Role: ledger.RoleProvince, Sub: "p1"}).ID(); got != "province:p1" {
		t.Errorf("ID = %q", got)
	}
	// An issuer cannot forge the other parts.
	a := ledger.Actor{Role: ledger.RoleCitizen, Sub: "c1", Iss: "x@org:E1"}
	if a.ID() == (ledger.Actor{Role: ledger.RoleCitizen, Sub: "c1", Org: "E1"}).ID() {
		t.Errorf("issuer %q forged an organisation: %s", a.Iss, a.ID())
	}
}

type echo struct{ Org string }

// Same subject, same key, same input, other organisation: each write is
// its own, neither is a replay of the other's.
func TestSameSubjectOtherOrgIsAnotherPrincipal(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	sub, k := ledgertest.ID("u"), key()
	for _, org := range []string{"E1", "E2"} {
		a := ledger.Actor{Role: ledger.RoleEnterprise, Sub: sub, Org: org}
		got, replayed, err := ledger.Run(ctx, l, ledger.KeyOf(a, k), "test.echo", map[string]string{"x": "same"}, func(w *ledger.Writer) (echo, error) {
			return echo{Org: org}, nil
		})
		if err != nil || replayed || got.Org != org {
			t.Fatalf("org %s: got %+v replayed=%v err=%v, want its own write", org, got, replayed, err)
		}
	}
}

// Item i of an independent batch has a key of its own: a single write
// sent with key K/0 is not item 0 of batch K.
func TestBatchItemKeysHaveTheirOwnNamespace(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	org := ledgertest.ID("org")
	to := fund(t, l, "100.00", org)[0]
	in := ledger.TxInput{Kind: "transfer", Postings: legs("external:CNY", "-1.00", to, "1.00")}
	k := key()
	single, _, err := l.Post(ctx, province, k+"/0", in)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.PostBatch(ctx, province, k, []ledger.TxInput{in})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Replayed || res[0].Transaction.ID == single.ID {
		t.Fatalf("batch item 0: %+v, want a new transaction, not the single write %s", res[0], single.ID)
	}
	// The batch replays as itself.
	again, err := l.PostBatch(ctx, province, k, []ledger.TxInput{in})
	if err != nil || !again[0].Replayed || again[0].Transaction.ID != res[0].Transaction.ID {
		t.Fatalf("batch replay: %+v %v", again, err)
	}
}

// makeLegacy dates every key stored so far before the current
// idempotency scheme began, as if an older version had stored them.
func makeLegacy(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = (SELECT since FROM idempotency_scheme WHERE version = 2) - INTERVAL '1 hour'`); err != nil {
		t.Fatal(err)
	}
}

// Keys stored before the scheme changed: an old batch still replays as
// itself; a key in the old, ambiguous role:sub scope of an actor that now
// has a wider one is a conflict — never another organisation's result,
// never a second write.
func TestKeysStoredBeforeTheSchemeChanged(t *testing.T) {
	pool := ledgertest.Fresh(t)
	old := ledgertest.Ledger(t, pool, ledger.Options{})
	org := ledgertest.ID("org")
	to := fund(t, old, "100.00", org)[0]
	in := ledger.TxInput{Kind: "transfer", Postings: legs("external:CNY", "-1.00", to, "1.00")}
	// What the old version stored for item 0 of batch "B": key "B/0".
	item0, _, err := old.Post(ctx, province, "B/0", in)
	if err != nil {
		t.Fatal(err)
	}
	// What it stored for an enterprise user's write: scope role:sub.
	if _, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, response) VALUES ('enterprise:u-old', 'k-old', '\x01', '{"Org":"E1"}')`); err != nil {
		t.Fatal(err)
	}
	makeLegacy(t, pool)

	l := ledgertest.Ledger(t, pool, ledger.Options{})
	res, err := l.PostBatch(ctx, province, "B", []ledger.TxInput{in})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !res[0].Replayed || res[0].Transaction.ID != item0.ID {
		t.Fatalf("old batch item replayed: %+v, want transaction %s", res[0], item0.ID)
	}
	for _, o := range []string{"E1", "E2"} {
		a := ledger.Actor{Role: ledger.RoleEnterprise, Sub: "u-old", Org: o}
		ran := false
		_, _, err := ledger.Run(ctx, l, ledger.KeyOf(a, "k-old"), "test.echo", map[string]string{"x": "same"}, func(w *ledger.Writer) (echo, error) {
			ran = true
			return echo{Org: o}, nil
		})
		if ledger.ErrorCode(err) != ledger.CodeIdempotencyConflict || ran {
			t.Fatalf("org %s, key in the old scope: err=%v ran=%v, want idempotency_conflict without running", o, err, ran)
		}
	}
	// A key the old scope never had is written as usual.
	a := ledger.Actor{Role: ledger.RoleEnterprise, Sub: "u-old", Org: "E1"}
	if _, replayed, err := ledger.Run(ctx, l, ledger.KeyOf(a, "k-new"), "test.echo", map[string]string{"x": "same"}, func(w *ledger.Writer) (echo, error) {
		return echo{Org: "E1"}, nil
	}); err != nil || replayed {
		t.Fatalf("new key: replayed=%v err=%v", replayed, err)
	}
}
