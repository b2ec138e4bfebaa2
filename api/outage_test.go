package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/migrations"
)

// rawAnswer is a response as it came, for tests that expect 5xx (the
// harness fails a test on any).
type rawAnswer struct {
	status     int
	retryAfter string
	problem    Problem
	body       string
}

func rawDo(t *testing.T, c *http.Client, method, url, token, key string, body any) rawAnswer {
	t.Helper()
	a, err := rawSend(c, method, url, token, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// rawSend is rawDo for a goroutine: it returns its error.
func rawSend(c *http.Client, method, url, token, key string, body any) (rawAnswer, error) {
	var rdr io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rdr)
	if err != nil {
		return rawAnswer{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := c.Do(req)
	if err != nil {
		return rawAnswer{}, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := rawAnswer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), body: string(b)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.Unmarshal(b, &a.problem)
	}
	return a, nil
}

// outageServer is a server on a cluster of the test's own.
type outageServer struct {
	cluster *ledgertest.Cluster
	pool    *pgxpool.Pool
	srv     *httptest.Server
	prov    string
}

func newOutageServer(t *testing.T) *outageServer {
	t.Helper()
	c := ledgertest.StartCluster(t)
	ctx := context.Background()
	pool, err := ledger.Connect(ctx, c.URL()+"&pool_max_conns=8")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	l := ledgertest.Ledger(t, pool, ledger.Options{})
	key := GenerateSigningKey()
	s, err := New(ctx, Config{Ledger: l, SigningKey: key, UseCases: testUseCases})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	prov, err := key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: ledger.RoleProvince, Sub: "p-outage", TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &outageServer{cluster: c, pool: pool, srv: srv, prov: prov}
}

func (o *outageServer) openAccount(t *testing.T, key, org string) rawAnswer {
	return rawDo(t, o.srv.Client(), "POST", o.srv.URL+"/v1/accounts", o.prov, key, map[string]any{"id": "org:" + org + ":CNY"})
}

func (o *outageServer) readAccount(t *testing.T, org string) rawAnswer {
	return rawDo(t, o.srv.Client(), "GET", o.srv.URL+"/v1/accounts/org:"+org+":CNY", o.prov, "", nil)
}

// TestDatabaseOutage stops the server's database under it and starts it
// again: every request in between is 503 unavailable with Retry-After
// (a write's problem says nothing was committed), none is a 500, and
// writes resume without restarting the server.
func TestDatabaseOutage(t *testing.T) {
	o := newOutageServer(t)
	if a := o.openAccount(t, "k-before", "OUT-0"); a.status != 201 {
		t.Fatalf("write before the outage: %d %s", a.status, a.body)
	}
	if a := o.readAccount(t, "OUT-0"); a.status != 200 {
		t.Fatalf("read before the outage: %d %s", a.status, a.body)
	}

	o.cluster.Stop()
	const requests = 40
	var unavailable, writes, reads int
	for i := range requests {
		var a rawAnswer
		write := i%2 == 0
		switch {
		case write:
			a = o.openAccount(t, fmt.Sprintf("k-down-%d", i), fmt.Sprintf("OUT-%d", i))
			writes++
		case i%4 == 1:
			a = o.readAccount(t, "OUT-0")
			reads++
		default:
			a = rawDo(t, o.srv.Client(), "GET", o.srv.URL+"/readyz", "", "", nil)
			reads++
		}
		if a.status != http.StatusServiceUnavailable || a.problem.Code != ledger.CodeUnavailable || a.retryAfter == "" {
			t.Errorf("request %d during the outage: %d Retry-After=%q, want 503 unavailable with Retry-After: %s", i, a.status, a.retryAfter, a.body)
			continue
		}
		switch {
		case write && a.problem.Outcome != ledger.OutcomeNotCommitted:
			t.Errorf("write %d during the outage: outcome %q, want %q: %s", i, a.problem.Outcome, ledger.OutcomeNotCommitted, a.body)
		case !write && a.problem.Outcome != "":
			t.Errorf("read %d during the outage states an outcome: %s", i, a.body)
		}
		unavailable++
	}
	t.Logf("outage: %d requests (%d writes, %d reads) answered 503 unavailable of %d", unavailable, writes, reads, requests)

	o.cluster.Start()
	// The pool's connections died with the server; requests may see that
	// (503) until the pool has dialled new ones. Never a 500.
	deadline := time.Now().Add(30 * time.Second)
	var recovering int
	for {
		a := o.openAccount(t, "k-after", "OUT-AFTER")
		if a.status == 201 {
			break
		}
		if a.status != http.StatusServiceUnavailable || a.problem.Code != ledger.CodeUnavailable {
			t.Fatalf("write while the database comes back: %d %s", a.status, a.body)
		}
		recovering++
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume within 30s of the restart (%d answered 503)", recovering)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after the restart: %d writes answered 503 before writes resumed", recovering)
	// A write refused during the outage was not committed: its key is
	// free, and sending it again does it now (201, not a replay).
	if a := o.openAccount(t, "k-down-0", "OUT-0-retry"); a.status != 201 {
		t.Fatalf("a write refused during the outage, sent again: %d %s", a.status, a.body)
	}
	if a := o.openAccount(t, "k-before", "OUT-0"); a.status != 200 {
		t.Fatalf("replay of the write made before the outage: %d %s", a.status, a.body)
	}
}

// TestConnectionDropsMidRequest kills the database session of a write
// while the write waits inside it: the answer is 503 unavailable, nothing
// was committed, and the same request sent again is done.
func TestConnectionDropsMidRequest(t *testing.T) {
	o := newOutageServer(t)
	ctx := context.Background()
	// Hold the key's row in an open transaction, so the write blocks on
	// the idempotency key's unique index, inside its own transaction.
	scope := ledger.Actor{Role: ledger.RoleProvince, Sub: "p-outage"}.ID()
	blocker, err := o.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck // rolled back below
	if _, err := blocker.Exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, response) VALUES ($1, 'k-drop', '\x00', '')`, scope); err != nil {
		t.Fatal(err)
	}
	done := make(chan rawAnswer, 1)
	go func() {
		a, err := rawSend(o.srv.Client(), "POST", o.srv.URL+"/v1/accounts", o.prov, "k-drop", map[string]any{"id": "org:DROP-1:CNY"})
		if err != nil {
			a.body = err.Error()
		}
		done <- a
	}()

	var killed bool
	for range 100 {
		if err := o.pool.QueryRow(ctx, `
			SELECT COALESCE(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%idempotency_keys%' AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !killed {
		t.Fatal("the write never waited on the key")
	}
	a := <-done
	if a.status != http.StatusServiceUnavailable || a.problem.Code != ledger.CodeUnavailable || a.problem.Outcome != ledger.OutcomeNotCommitted || a.retryAfter == "" {
		t.Fatalf("write whose connection dropped: %d Retry-After=%q %s, want 503 unavailable, not_committed", a.status, a.retryAfter, a.body)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if a := o.openAccount(t, "k-drop", "DROP-1"); a.status != 201 {
		t.Fatalf("the same write sent again: %d %s", a.status, a.body)
	}
}
