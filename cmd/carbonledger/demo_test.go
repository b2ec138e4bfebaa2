package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/api"
	"github.com/shandong-carbon/carbonledger/api/apitest"
	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// shiftClock is the real clock moved forward by a settable offset: the
// seed waits on it (the notice waiver), and a test runs seed again "the
// next day" by moving the offset.
type shiftClock struct{ off atomic.Int64 }

func (c *shiftClock) now() time.Time        { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *shiftClock) shift(d time.Duration) { c.off.Add(int64(d)) }

// seededLedger is a ledger on its own fresh database, on a shiftClock.
func seededLedger(t *testing.T) (*ledger.Ledger, *shiftClock, string) {
	t.Helper()
	url := ledgertest.FreshURL(t)
	pool, err := ledger.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	clk := &shiftClock{}
	return ledgertest.Ledger(t, pool, ledger.Options{Now: clk.now}), clk, url
}

// verifyCounts runs VerifyAll and fails on any problem; it returns what a
// re-run of seed must leave unchanged.
func verifyCounts(t *testing.T, l *ledger.Ledger) [3]int64 {
	t.Helper()
	rep, err := l.VerifyAll(context.Background(), useCases())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify after seeding: %+v", rep.Problems)
	}
	return [3]int64{rep.Transactions, rep.Postings, rep.TrailEvents}
}

// runJobs runs every background job until it has nothing left to do.
func runJobs(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	for _, j := range ledger.AllJobs(useCases()) {
		for {
			n, err := j.Run(context.Background(), l)
			if err != nil {
				t.Fatalf("job %s: %v", j.Name, err)
			}
			if n == 0 {
				break
			}
		}
	}
}

// Seeding twice, the second time the next day (and again 40 days later),
// succeeds, changes nothing (same ids, same journal, same trail) and
// leaves everything verifiable.
func TestSeedTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	l, clk, _ := seededLedger(t)
	first, err := seedEverything(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	for _, later := range []time.Duration{25 * time.Hour, 40 * 24 * time.Hour} {
		// Time passes and the jobs run (40 days on, the open offer has timed
		// out and the riders' unclaimed points have lapsed); then seed again.
		clk.shift(later)
		runJobs(t, l)
		counts := verifyCounts(t, l)
		again, err := seedEverything(ctx, l)
		if err != nil {
			t.Fatalf("seed again %s later: %v", later, err)
		}
		if again.Batch.ID != first.Batch.ID || again.Certificate.ID != first.Certificate.ID || again.Offer.ID != first.Offer.ID ||
			again.Correction.ID != first.Correction.ID || again.Lot != first.Lot || !again.TripsAt.Equal(first.TripsAt) {
			t.Fatalf("seed again %s later seeded other records:\n%+v\n%+v", later, first, again)
		}
		if got := verifyCounts(t, l); got != counts {
			t.Fatalf("seed again %s later wrote: transactions, postings, trail events %v, then %v", later, counts, got)
		}
	}
	// The jobs did run: the offer timed out and was voided, and seeding
	// again did not offer it anew.
	if tr, err := registry.GetTrade(ctx, l, demoE1, first.Offer.ID); err != nil || tr.Status != registry.TradeExpired || tr.ResolutionTx == nil {
		t.Fatalf("offer after 40 days: %+v %v", tr, err)
	}
}

// The seeded database has data for every console page, as the use cases'
// read APIs show it.
func TestSeedDemoData(t *testing.T) {
	ctx := context.Background()
	l, clk, _ := seededLedger(t)
	d, err := seedEverything(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := points.GetSummary(ctx, l, demoCitizen, "C1")
	if err != nil || sum.AvailablePoints != 2532 || len(sum.Lots) != 1 || sum.Lots[0].ID != d.Lot {
		t.Fatalf("C1: %+v %v", sum, err)
	}
	batch, err := registry.GetCertification(ctx, l, demoOperator, d.Batch.ID)
	if err != nil || batch.State != registry.StateIssued || batch.IssuedUnits != "4" || batch.Verifier != registry.SeedVerifier || batch.PoolAccount != d.Pool {
		t.Fatalf("batch: %+v %v", batch, err)
	}
	h, err := registry.GetHoldings(ctx, l, demoE1, "E1", 0, "")
	if err != nil || h.Balance != "2" || h.Available != "1" || len(h.Blocks) == 0 {
		t.Fatalf("E1 holding: %+v %v", h, err)
	}
	tr, err := registry.GetTrade(ctx, l, demoE2, d.Offer.ID)
	if err != nil || tr.Status != registry.TradeOffered || tr.Seller != "E1" || tr.Buyer != "E2" {
		t.Fatalf("open trade: %+v %v", tr, err)
	}
	if sale, err := registry.GetTrade(ctx, l, demoE1, d.Sale.ID); err != nil || sale.Status != registry.TradeSettled {
		t.Fatalf("sale: %+v %v", sale, err)
	}
	cert, err := registry.GetCertificate(ctx, l, d.Certificate.ID)
	if err != nil || cert.Holder != "E1" || cert.Tonnes != "1" || cert.Beneficiary == "" {
		t.Fatalf("certificate: %+v %v", cert, err)
	}
	if p, err := quota.GetSource(ctx, l, demoCity, d.Proposed.ID); err != nil || p.Status != quota.SourceProposed || p.Enterprise != "jn-coking-plant" {
		t.Fatalf("the proposed source: %+v, %v", p, err)
	}
	src, err := quota.GetSource(ctx, l, demoCity, d.Source.ID)
	if err != nil || src.Status != quota.SourceRecognised || src.Route != "closure" || src.Unstockpiled != "0" {
		t.Fatalf("source: %+v %v", src, err)
	}
	alloc, err := quota.GetApplication(ctx, l, demoE1, d.Allocated.ID)
	if err != nil || alloc.Status != quota.StatusApproved || alloc.Allocation == nil || alloc.Allocation.Status != quota.AllocationAllocated {
		t.Fatalf("allocated application: %+v %v", alloc, err)
	}
	pending, err := quota.ListApplications(ctx, l, demoCity, quota.ApplicationFilter{Status: quota.StatusSubmitted})
	if err != nil || len(pending.Items) != 1 || pending.Items[0].ID != d.AtCity.ID {
		t.Fatalf("applications awaiting the city: %+v %v", pending, err)
	}
	atProvince, err := quota.GetApplication(ctx, l, demoProvince, d.AtProvince.ID)
	if err != nil || atProvince.Status != quota.StatusCityApproved {
		t.Fatalf("application awaiting the province: %+v %v", atProvince, err)
	}
	corr, err := quota.GetCorrection(ctx, l, demoProvince, d.Correction.ID)
	if err != nil || corr.Status != quota.CorrectionProposed || corr.ProposedBy != demoMaker.ID() || corr.ProposedBy == demoProvince.ID() {
		t.Fatalf("correction: %+v %v", corr, err)
	}
	// The notice waiver lasted a minute: after it, the policy in force has
	// the normal notice again, so later batches wait for it.
	clk.shift(time.Minute + time.Second)
	pol, err := registry.CurrentPolicy(ctx, l)
	if err != nil || pol.NoticeDays != 7 || !strings.HasPrefix(pol.ID, "demo-restored-") {
		t.Fatalf("policy after the waiver: %+v %v", pol, err)
	}
}

// startAPI serves the API over l, as serve does, behind httptest.
func startAPI(t *testing.T, l *ledger.Ledger, key *api.SigningKey) *httptest.Server {
	t.Helper()
	s, err := api.New(context.Background(), api.Config{Ledger: l, SigningKey: key, UseCases: useCases()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

var (
	contractOnce sync.Once
	contract     *apitest.Contract
	contractErr  error
)

// contractClient is an HTTP client that validates every request and
// response against the API's document, as the api package's harness does.
func contractClient(t *testing.T) *http.Client {
	t.Helper()
	contractOnce.Do(func() {
		doc, err := api.Document()
		if err != nil {
			contractErr = err
			return
		}
		contract, contractErr = apitest.Load(doc)
	})
	if contractErr != nil {
		t.Fatalf("openapi.json: %v", contractErr)
	}
	return &http.Client{Transport: contract.Transport(nil, func(err error) { t.Errorf("contract: %v", err) })}
}

// exampleCall is one printed curl command.
type exampleCall struct {
	method, url, body string
	header            http.Header
}

var (
	exportLine = regexp.MustCompile(`(?m)^export ([A-Z]+_TOKEN)=(\S+)$`)
	tokenRef   = regexp.MustCompile(`\$[A-Z]+_TOKEN`)
)

// parseExamples reads the curl commands of seed's output as a shell would
// (continuation lines, quotes, the exported tokens), up to a pipe.
func parseExamples(t *testing.T, out string) []exampleCall {
	t.Helper()
	tokens := map[string]string{}
	for _, m := range exportLine.FindAllStringSubmatch(out, -1) {
		tokens["$"+m[1]] = m[2]
	}
	var calls []exampleCall
	for _, line := range strings.Split(strings.ReplaceAll(out, "\\\n", " "), "\n") {
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		line = tokenRef.ReplaceAllStringFunc(line, func(ref string) string {
			if tokens[ref] == "" {
				t.Fatalf("%s is used but not exported", ref)
			}
			return tokens[ref]
		})
		args := shellWords(t, line)
		c := exampleCall{method: "GET", header: http.Header{}}
		for i := 1; i < len(args) && args[i] != "|"; i++ {
			switch args[i] {
			case "-s":
			case "-X":
				i++
				c.method = args[i]
			case "-H":
				i++
				k, v, _ := strings.Cut(args[i], ": ")
				c.header.Add(k, v)
			case "-d":
				i++
				c.body = args[i]
			default:
				c.url = args[i]
			}
		}
		calls = append(calls, c)
	}
	return calls
}

// shellWords splits a command line on blanks, honouring single and
// double quotes (enough for the printed examples).
func shellWords(t *testing.T, s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == ' ' || ch == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

func (c exampleCall) do(t *testing.T) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	res, err := contractClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, body
}

// Every printed example call works as printed, pasted again is a replay,
// and still works after seed runs again the next day (the trip's key and
// body change with the day, together; the other keys keep their bodies).
func TestSeedExamplesKeepWorking(t *testing.T) {
	ctx := context.Background()
	l, clk, _ := seededLedger(t)
	key, _, err := api.LoadSigningKey("", t.TempDir()+"/k", true)
	if err != nil {
		t.Fatal(err)
	}
	srv := startAPI(t, l, key)
	c := &config{issuer: "carbonledger", audience: "carbonledger-api"}
	for day := range 2 {
		d, err := seedEverything(ctx, l)
		if err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		var out bytes.Buffer
		if err := printTokens(&out, c, key); err != nil {
			t.Fatal(err)
		}
		printDemo(&out, d)
		printExamples(&out, srv.URL, d, l.Now())
		calls := parseExamples(t, out.String())
		if len(calls) < 10 {
			t.Fatalf("%d example calls in:\n%s", len(calls), out.String())
		}
		for pass := range 2 {
			for _, call := range calls {
				status, h, body := call.do(t)
				replayed := h.Get("Idempotent-Replayed") == "true"
				switch {
				case call.method == "GET" && status != 200:
					t.Fatalf("day %d: GET %s: %d %s", day, call.url, status, body)
				case call.method == "POST" && pass == 0 && day == 0 && status != 201:
					t.Fatalf("day %d: first POST %s: %d %s", day, call.url, status, body)
				case call.method == "POST" && (status != 200 && status != 201 || pass == 1 && !replayed):
					t.Fatalf("day %d pass %d: POST %s: %d replayed=%v %s", day, pass, call.url, status, replayed, body)
				}
				if strings.HasSuffix(call.url, "/v1/behaviours") && !bytes.Contains(body, []byte(`"credited":1`)) {
					t.Fatalf("day %d: the example trip was not credited: %s", day, body)
				}
				if strings.HasSuffix(call.url, "/v1/audit/verify") && !bytes.Contains(body, []byte(`"ok":true`)) {
					t.Fatalf("day %d: verify: %s", day, body)
				}
			}
		}
		clk.shift(25 * time.Hour)
	}
}

// problemKey is what names a use case's problem: the CLI prints it on a
// PROBLEM line, GET /v1/audit/verify returns it in the report.
type problemKey struct{ kind, useCase, table, row string }

var problemLine = regexp.MustCompile(`(?m)^PROBLEM (\S+) use_case=(\S*) table=(\S+) row=(.+?): `)

// Editing a seeded record in SQL (a retirement's beneficiary, a quota trail
// event, a points lot, a quota allocation) makes `carbonledger verify` exit
// 3 with a line naming the row, and GET /v1/audit/verify answer ok=false
// with the same problems.
func TestVerifyReportsTamperedSeed(t *testing.T) {
	cases := []struct {
		name, sql string
		row       func(d demoRecords) string // the SQL's $1, and the problem's row
		want      func(d demoRecords) problemKey
	}{
		{"retirement beneficiary", `UPDATE registry_retirements SET beneficiary = 'someone else' WHERE id = $1::UUID`,
			func(d demoRecords) string { return d.Certificate.ID.String() },
			func(d demoRecords) problemKey {
				return problemKey{"record_hash", "registry", "registry_retirements", d.Certificate.ID.String()}
			}},
		{"quota trail event", `UPDATE trail_events SET reason = 'nothing to see' WHERE use_case = 'quota' AND subject = $1 AND seq = 1`,
			func(d demoRecords) string { return "correction:" + d.Correction.ID.String() },
			func(d demoRecords) problemKey {
				return problemKey{"trail_chain", "quota", "trail_events", "correction:" + d.Correction.ID.String() + "#1"}
			}},
		{"points lot", `UPDATE points_lots SET expires_at = expires_at + INTERVAL '3650 days' WHERE id = $1::UUID`,
			func(d demoRecords) string { return d.Lot.String() },
			func(d demoRecords) problemKey {
				return problemKey{"record_hash", "points", "points_lots", d.Lot.String()}
			}},
		{"quota allocation", `UPDATE quota_allocations SET tonnes = tonnes + 1000 WHERE id = $1::UUID`,
			func(d demoRecords) string { return d.Allocated.Allocation.ID.String() },
			func(d demoRecords) problemKey {
				return problemKey{"record_hash", "quota", "quota_allocations", d.Allocated.Allocation.ID.String()}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			url := ledgertest.FreshURL(t)
			keyFile := t.TempDir() + "/k"
			common := []string{"-database-url", url, "-signing-key-file", keyFile}
			if err := cmdSeed(ctx, common); err != nil {
				t.Fatal(err)
			}
			pool, err := ledger.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			l := ledgertest.Ledger(t, pool, ledger.Options{})
			d, err := seedDemo(ctx, l) // replays: the seeded records' ids
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := runVerify(ctx, common, &out); err != nil {
				t.Fatalf("clean seed: %v\n%s", err, out.String())
			}
			tag, err := pool.Exec(ctx, tc.sql, tc.row(d))
			if err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("tamper: %v (%d rows)", err, tag.RowsAffected())
			}
			want := tc.want(d)
			cli := verifyCLI(t, common)
			if !cli[want] {
				t.Fatalf("verify does not name %+v: %v", want, cli)
			}
			t.Logf("verify names %v", cli)
			key, _, err := api.LoadSigningKey("", keyFile, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := verifyHTTP(t, startAPI(t, l, key), key); !got[want] || fmt.Sprint(got) != fmt.Sprint(cli) {
				t.Fatalf("GET /v1/audit/verify: %v, the CLI: %v", got, cli)
			}
		})
	}
}

// verifyCLI runs `carbonledger verify`, expects exit 3, and returns the
// use-case problems it printed.
func verifyCLI(t *testing.T, args []string) map[problemKey]bool {
	t.Helper()
	var out bytes.Buffer
	var ex exitError
	if err := runVerify(context.Background(), args, &out); !errors.As(err, &ex) || ex != 3 {
		t.Fatalf("verify exit: %v\n%s", err, out.String())
	}
	got := map[problemKey]bool{}
	for _, m := range problemLine.FindAllStringSubmatch(out.String(), -1) {
		got[problemKey{m[1], m[2], m[3], m[4]}] = true
	}
	return got
}

// verifyHTTP asks GET /v1/audit/verify as an auditor, expects ok=false,
// and returns the problems that name a table.
func verifyHTTP(t *testing.T, srv *httptest.Server, key *api.SigningKey) map[problemKey]bool {
	t.Helper()
	tok, err := key.Mint("carbonledger", "carbonledger-api", api.TokenSpec{Role: ledger.RoleAuditor, Sub: "a-test", TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := contractClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rep ledger.VerifyReport
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil || res.StatusCode != 200 || rep.OK {
		t.Fatalf("GET /v1/audit/verify: %d ok=%v %v", res.StatusCode, rep.OK, err)
	}
	got := map[problemKey]bool{}
	for _, p := range rep.Problems {
		if p.Table != "" {
			got[problemKey{p.Kind, p.UseCase, p.Table, p.Row}] = true
		}
	}
	return got
}
