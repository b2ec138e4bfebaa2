package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// relay stamps every committed event, as the relay job does.
func (h *harness) relay() {
	h.t.Helper()
	for {
		n, err := h.l.RelayEvents(context.Background(), ledger.JobBatchMax)
		if err != nil {
			h.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// feed reads the events a token may see after a cursor: their types and
// subjects, and the next cursor.
func (h *harness) feed(t *testing.T, tok, query string) (types []string, next string) {
	t.Helper()
	r := h.get("/v1/events?"+query, tok).want(t, http.StatusOK)
	for _, it := range r.JSON["items"].([]any) {
		e := it.(map[string]any)
		types = append(types, e["type"].(string))
	}
	return types, r.str("next_cursor")
}

func TestEventsHTTPScopedAndValidated(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	h.openFunded(prov, "50.00", "ev-a", "ev-b")
	h.post("/v1/transactions", prov, transfer("org:ev-a:CNY", "org:ev-b:CNY", "5.00")).want(t, 201)
	h.relay()

	all, next := h.feed(t, prov, "")
	if len(all) != 3 || next != "3" {
		t.Fatalf("province: %v next %s, want the 3 transactions", all, next)
	}
	entA := h.token(ledger.RoleEnterprise, "u", "ev-a", "")
	if got, _ := h.feed(t, entA, ""); len(got) != 2 {
		t.Fatalf("enterprise ev-a sees %v, want its deposit and its transfer", got)
	}
	if got, _ := h.feed(t, h.token(ledger.RoleCitizen, "C1", "", ""), ""); len(got) != 0 {
		t.Fatalf("a citizen sees %v", got)
	}
	if got, _ := h.feed(t, prov, "after=1&limit=1"); len(got) != 1 {
		t.Fatalf("limit 1: %v", got)
	}
	if got, _ := h.feed(t, prov, "type=account.status_changed,points.claimed"); len(got) != 0 {
		t.Fatalf("type filter: %v", got)
	}
	for _, q := range []string{"after=-1", "after=x", "after=99", "limit=0", "limit=501", "wait=31", "wait=x", "type=Bad!"} {
		h.get("/v1/events?"+q, prov).want(t, http.StatusBadRequest, "invalid_request")
	}
	h.get("/v1/events", "").want(t, http.StatusUnauthorized)
}

// TestEventsHTTPLongPoll: a reader waiting at the head is answered as soon
// as the next event is stamped, not at the end of its wait; one that finds
// nothing is answered at the end of its wait with the cursor unchanged.
func TestEventsHTTPLongPoll(t *testing.T) {
	h := newHarness(t, true)
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	h.openFunded(prov, "50.00", "lp-a", "lp-b")
	h.relay()

	start := time.Now()
	if got, next := h.feed(t, prov, "after=2&wait=1"); len(got) != 0 || next != "2" {
		t.Fatalf("empty wait: %v next %s", got, next)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("an empty long-poll answered after %v, before its wait", d)
	}

	type answer struct {
		types []string
		took  time.Duration
	}
	got := make(chan answer, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequest("GET", h.srv.URL+"/v1/events?after=2&wait=20", nil)
		req.Header.Set("Authorization", "Bearer "+prov)
		res, err := h.srv.Client().Do(req)
		if err != nil {
			got <- answer{}
			return
		}
		defer res.Body.Close()
		var page eventsPage
		if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
			got <- answer{}
			return
		}
		var types []string
		for _, e := range page.Items {
			types = append(types, e.Type)
		}
		got <- answer{types, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond)
	h.post("/v1/transactions", prov, transfer("org:lp-a:CNY", "org:lp-b:CNY", "1.00")).want(t, 201)
	h.relay()
	a := <-got
	if len(a.types) != 1 || a.types[0] != ledger.EventTransaction {
		t.Fatalf("long-poll got %v", a.types)
	}
	if a.took > 5*time.Second {
		t.Fatalf("long-poll answered after %v: it must wake at the stamp", a.took)
	}
}

// TestEventsHTTPPointsFacts: a citizen learns from the feed that points
// arrived, and the operator that reported them sees the credit too.
func TestEventsHTTPPointsFacts(t *testing.T) {
	e := newPointsEnv(t)
	trip := e.start.Add(-time.Hour).Truncate(time.Minute)
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C1", "metro", "12", "km", trip))[0], "credited", "", "2532")
	pointsWant(t, e.report(t, "metro-jinan", pointsRecord("C1", "metro", "12", "km", trip))[0], "duplicate", "", "0")
	e.h.post("/v1/me/claims", e.citizen("C1"), map[string]any{}).want(t, http.StatusCreated)
	e.h.relay()

	c1, _ := e.h.feed(t, e.citizen("C1"), "type=points.behaviour.credited,points.behaviour.duplicate,points.claimed")
	if fmt.Sprint(c1) != "[points.behaviour.credited points.behaviour.duplicate points.claimed]" {
		t.Fatalf("citizen C1 sees %v", c1)
	}
	if got, _ := e.h.feed(t, e.citizen("C2"), ""); len(got) != 0 {
		t.Fatalf("citizen C2 sees %v", got)
	}
	op, _ := e.h.feed(t, e.operator("metro-jinan"), "type="+points.EventBehaviourCredited)
	if len(op) != 1 {
		t.Fatalf("operator sees %v", op)
	}
	if got, _ := e.h.feed(t, e.operator("bikeshare-qd"), "type="+points.EventBehaviourCredited); len(got) != 0 {
		t.Fatalf("another operator sees %v", got)
	}
	// The citizen sees the credit's and the claim's transactions as well.
	txs, _ := e.h.feed(t, e.citizen("C1"), "type="+ledger.EventTransaction)
	if len(txs) != 2 {
		t.Fatalf("citizen's transactions: %v", txs)
	}
	e.verify(t)
}
