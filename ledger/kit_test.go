package ledger_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

func TestCursorRoundTripAndRejections(t *testing.T) {
	id := ledger.NewID()
	at := time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC)
	c := ledger.EncodeCursor(int64(-7), 42, id, at, "a.b/c")
	var (
		i64  int64
		i    int
		gotU uuid.UUID
		gotT time.Time
		s    string
	)
	if err := ledger.DecodeCursor(c, &i64, &i, &gotU, &gotT, &s); err != nil {
		t.Fatal(err)
	}
	if i64 != -7 || i != 42 || gotU != id || !gotT.Equal(at) || s != "a.b/c" {
		t.Fatalf("round trip: %v %v %v %v %q", i64, i, gotU, gotT, s)
	}
	bad := []string{
		"", "!!!", "bm90IGEgY3Vyc29y", // not base64 of ours
		ledger.EncodeCursor(int64(1)),                // too few fields
		ledger.EncodeCursor("x", "y", "z", "w", "v"), // wrong types
		strings.Repeat("A", 300),                     // too long
	}
	for _, b := range bad {
		err := ledger.DecodeCursor(b, &i64, &i, &gotU, &gotT, &s)
		if ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
			t.Errorf("cursor %q: got %v, want invalid_request", b, err)
		}
	}
}

func TestPageOf(t *testing.T) {
	p := ledger.PageOf([]int{1, 2, 3}, 2, func(last int) string { return ledger.EncodeCursor(last) })
	if len(p.Items) != 2 || p.NextCursor == "" {
		t.Fatalf("page: %+v", p)
	}
	var last int
	if err := ledger.DecodeCursor(p.NextCursor, &last); err != nil || last != 2 {
		t.Fatalf("next cursor: %v %v", last, err)
	}
	if p := ledger.PageOf[int](nil, 2, nil); p.Items == nil || p.NextCursor != "" {
		t.Fatalf("empty page: %+v", p)
	}
}

func TestActorRequire(t *testing.T) {
	cases := []struct {
		a     ledger.Actor
		roles []string
		ok    bool
	}{
		{ledger.Actor{Sub: "p1", Role: ledger.RoleProvince}, []string{ledger.RoleProvince}, true},
		{ledger.Actor{Sub: "p1", Role: ledger.RoleProvince}, []string{ledger.RoleCity}, false},
		{ledger.Actor{Role: ledger.RoleProvince}, []string{ledger.RoleProvince}, false},
		{ledger.Actor{Sub: strings.Repeat("s", 129), Role: ledger.RoleProvince}, []string{ledger.RoleProvince}, false},
		{ledger.Actor{Sub: "c", Role: ledger.RoleCity}, []string{ledger.RoleCity}, false},
		{ledger.Actor{Sub: "c", Role: ledger.RoleCity, City: "3701"}, []string{ledger.RoleCity}, true},
		{ledger.Actor{Sub: "e", Role: ledger.RoleEnterprise}, []string{ledger.RoleEnterprise}, false},
		{ledger.Actor{Sub: "e", Role: ledger.RoleEnterprise, Org: "E1"}, []string{ledger.RoleEnterprise}, true},
		{ledger.Actor{Sub: "o", Role: ledger.RoleOperator, Org: "bad org"}, []string{ledger.RoleOperator}, false},
		{ledger.Actor{Sub: "v", Role: ledger.RoleVerifier, Org: "V1"}, []string{ledger.RoleVerifier, ledger.RoleProvince}, true},
	}
	for _, c := range cases {
		err := c.a.Require(c.roles...)
		if (err == nil) != c.ok || (err != nil && ledger.ErrorCode(err) != ledger.CodeForbidden) {
			t.Errorf("%+v Require(%v) = %v, want ok=%v", c.a, c.roles, err, c.ok)
		}
	}
}

func TestNewIDIsTimeOrdered(t *testing.T) {
	a := ledger.NewID()
	time.Sleep(2 * time.Millisecond)
	b := ledger.NewID()
	if a.Version() != 7 || strings.Compare(a.String(), b.String()) >= 0 {
		t.Fatalf("ids not time-ordered v7: %s %s", a, b)
	}
}

// The trail: appended under the head lock, read back in order, and every
// kind of edit — a changed body, a removed event, a rewritten head — is
// found by VerifyAll and named by use case, table and row.
func TestTrailChainsAndVerifyFindsEdits(t *testing.T) {
	pool := ledgertest.Fresh(t)
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	actor := ledger.Actor{Sub: "p1", Role: ledger.RoleProvince}
	for i, ev := range []string{"proposed", "approved", "stockpiled"} {
		err := l.Update(ctx, func(w *ledger.Writer) error {
			return w.Trail("demo", "source:S1", ev, actor, "step", map[string]any{"n": i, "note": "<&>"}, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	events, err := ledger.ReadValue(ctx, l, func(r *ledger.Reader) ([]ledger.TrailEvent, error) { return r.Trail("demo", "source:S1") })
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[2].Seq != 3 || events[2].Event != "stockpiled" || events[0].Actor != actor.ID() {
		t.Fatalf("trail: %+v", events)
	}
	var body map[string]any
	if err := json.Unmarshal(events[1].Body, &body); err != nil || body["note"] != "<&>" {
		t.Fatalf("body: %s %v", events[1].Body, err)
	}
	verifyNames(t, l, "")

	tamper := []struct {
		name, sql, restore, want string
	}{
		{"body", `UPDATE trail_events SET body = '{"n": 9}' WHERE subject = 'source:S1' AND seq = 2`, "", "source:S1#2"},
		{"head", `UPDATE trail_heads SET head = '\x00'::BYTEA WHERE subject = 'source:S1'`, "", "source:S1#"},
		{"delete", `DELETE FROM trail_events WHERE subject = 'source:S1' AND seq = 3`, "", "source:S1#"},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			p2 := ledgertest.Fresh(t)
			l2 := ledgertest.Ledger(t, p2, ledger.Options{})
			for _, ev := range []string{"a", "b", "c"} {
				if err := l2.Update(ctx, func(w *ledger.Writer) error {
					return w.Trail("demo", "source:S1", ev, actor, "", nil, nil)
				}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p2.Exec(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			verifyNames(t, l2, tc.want)
		})
	}
}

// Events moved by migration 0005 from the old trail tables carry no hash;
// the engine chains them once at start-up and they verify from then on.
func TestLegacyTrailIsSealedAtStart(t *testing.T) {
	pool := ledgertest.Fresh(t)
	if _, err := pool.Exec(ctx, `
		INSERT INTO trail_events (use_case, subject, seq, event, actor, body, at, prev_hash, hash) VALUES
		('points', 'citizen:C1', 1, 'entrustment.granted', 'citizen:C1', '{"operator": "metro"}', now(), '', ''),
		('points', 'citizen:C1', 2, 'entrustment.withdrawn', 'citizen:C1', '{}', now(), '', '')`); err != nil {
		t.Fatal(err)
	}
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	verifyNames(t, l, "")
	// Appending continues the sealed chain.
	if err := l.Update(ctx, func(w *ledger.Writer) error {
		return w.Trail("points", "citizen:C1", "entrustment.granted", ledger.Actor{Sub: "C1", Role: ledger.RoleCitizen}, "", nil, nil)
	}); err != nil {
		t.Fatal(err)
	}
	verifyNames(t, l, "")
	var seq int64
	if err := pool.QueryRow(ctx, `SELECT seq FROM trail_heads WHERE subject = 'citizen:C1'`).Scan(&seq); err != nil || seq != 3 {
		t.Fatalf("head seq %d, %v", seq, err)
	}
}

// A read that fails in the database is a domain error, not a 500: the
// statement timeout and a cancelled request are both unavailable.
func TestReadsAreTranslated(t *testing.T) {
	l := ledgertest.Ledger(t, ledgertest.Shared(t), ledger.Options{})
	err := l.Read(ctx, func(r *ledger.Reader) error {
		if _, err := r.Tx().Exec(r.Ctx(), `SET LOCAL statement_timeout = 50`); err != nil {
			return err
		}
		_, err := r.Tx().Exec(r.Ctx(), `SELECT pg_sleep(1)`)
		return err
	})
	if ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("statement timeout: got %v, want unavailable", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.GetAccount(cancelled, "programme:CP:issuance"); ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("cancelled read: got %v, want unavailable", err)
	}
}

// verifyNames runs VerifyAll; want "" expects a clean report, otherwise a
// problem whose Row contains want.
func verifyNames(t *testing.T, l *ledger.Ledger, want string) {
	t.Helper()
	rep, err := l.VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want == "" {
		if !rep.OK {
			t.Fatalf("verify: %+v", rep.Problems)
		}
		return
	}
	if rep.OK {
		t.Fatalf("verify passed, want a problem at %s", want)
	}
	for _, p := range rep.Problems {
		if p.Table == "trail_events" && strings.Contains(p.Row, want) && p.UseCase == "demo" {
			return
		}
	}
	t.Fatalf("no problem naming %s: %+v", want, rep.Problems)
}
