package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/migrations"
)

// failoverEnv turns TestFailover on: it starts two PostgreSQL servers and
// kills one, so `go test ./...` leaves it out and `make test-failover`
// (which `make test`, hence CI, runs) sets it.
const failoverEnv = "CARBONLEDGER_FAILOVER_TEST"

const (
	failoverClients   = 16
	failoverAccounts  = 32
	failoverBefore    = 3 * time.Second // load on the first primary before the kill
	failoverDetect    = time.Second     // kill to promotion: the operator's (or a manager's) reaction
	failoverAfter     = 3 * time.Second // load once writes are acknowledged again
	failoverResumeMax = 30 * time.Second
)

// pgPair drives scripts/pgpair.sh on a directory and ports of the test's own.
type pgPair struct {
	t      *testing.T
	script string
	env    []string
}

func (p *pgPair) run(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("pgpair.sh %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (p *pgPair) try(args ...string) (string, error) {
	cmd := exec.Command(p.script, args...)
	cmd.Env = append(os.Environ(), p.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// failoverWrite is one keyed transfer and what its first try got.
type failoverWrite struct {
	key     string
	body    map[string]any
	sentAt  time.Time
	doneAt  time.Time
	status  int
	txID    string
	code    ledger.Code
	outcome string
	err     string
}

// TestFailover writes at 16 clients through the server on a multi-host
// URL, kills -9 the primary mid-load and promotes its synchronous standby:
// the same server (no restart) resumes on the new primary; every write it
// acknowledged is there; every key, acknowledged or not, replays to one
// transaction; verification is clean. It reports the write outage and the
// 503s (the FAILOVER line).
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers; skipped under -short")
	}
	if os.Getenv(failoverEnv) != "1" {
		t.Skipf("set %s=1 (make test-failover) to run the failover drill", failoverEnv)
	}
	script, err := filepath.Abs("../scripts/pgpair.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "cltest-pgpair-")
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := freeLoopbackPort(t), freeLoopbackPort(t)
	for p2 == p1 {
		p2 = freeLoopbackPort(t)
	}
	pair := &pgPair{t: t, script: script, env: []string{
		"CARBONLEDGER_PGPAIR_DIR=" + filepath.Join(dir, "pair"),
		fmt.Sprintf("CARBONLEDGER_PGPAIR_PORTS=%d,%d", p1, p2),
		"CARBONLEDGER_PGPAIR_DB=failover",
	}}
	t.Cleanup(func() {
		if _, err := pair.try("destroy"); err != nil {
			t.Logf("pgpair destroy: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	url := pair.run("start")
	if !strings.Contains(url, ",") || !strings.Contains(url, "target_session_attrs=read-write") {
		t.Fatalf("pgpair.sh start printed %q, want a multi-host read-write URL", url)
	}
	t.Logf("pair: %s", url)

	// The server, as serve builds it, on the multi-host URL.
	ctx := context.Background()
	pool, err := ledger.Connect(ctx, url+"&pool_max_conns=24")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ctx, pool, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	// Public reads from the standby, as serve does with
	// CARBONLEDGER_READ_DATABASE_URL: the same hosts, preferring a standby.
	readPool, err := ledger.Connect(ctx, strings.Replace(url, "target_session_attrs=read-write", "target_session_attrs=prefer-standby", 1)+"&default_transaction_read_only=on&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(readPool.Close)
	var onStandby bool
	if err := readPool.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&onStandby); err != nil || !onStandby {
		t.Fatalf("the read pool is not on the standby: %v %v", onStandby, err)
	}
	rl, err := ledger.New(ctx, readPool, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	key := GenerateSigningKey()
	s, err := New(ctx, Config{Ledger: l, ReadLedger: rl, SigningKey: key, UseCases: testUseCases})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	prov, err := key.Mint(defaultIssuer, defaultAud, TokenSpec{Role: ledger.RoleProvince, Sub: "p-failover", TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 45 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * failoverClients}}

	mustPost := func(path, key string, body any, want ...int) {
		t.Helper()
		a := rawDo(t, client, "POST", srv.URL+path, prov, key, body)
		for _, w := range want {
			if a.status == w {
				return
			}
		}
		t.Fatalf("POST %s: %d %s", path, a.status, a.body)
	}
	mustPost("/v1/accounts", "fo-open-ext", map[string]any{"id": "external:CNY"}, 201, 200)
	accounts := make([]string, failoverAccounts)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("org:FO-%02d:CNY", i)
		mustPost("/v1/accounts", "fo-open-"+accounts[i], map[string]any{"id": accounts[i]}, 201)
		mustPost("/v1/transactions", "fo-fund-"+accounts[i], transfer("external:CNY", accounts[i], "1000000.00"), 201)
	}

	// The load: each client sends transfers with new keys and never waits
	// for the failover to end; a 503 is recorded and the next key sent
	// after a short pause (a client would replay the same key; the replay
	// phase below does that for every key).
	var (
		mu      sync.Mutex
		writes  []*failoverWrite
		stop    atomic.Bool
		killAt  atomic.Int64 // unix nanos; 0 before the kill
		firstOK atomic.Int64 // unix nanos of the first ack of a write sent after the kill
	)
	var wg sync.WaitGroup
	for c := range failoverClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				from, to := rand.IntN(failoverAccounts), rand.IntN(failoverAccounts-1)
				if to >= from {
					to++
				}
				w := &failoverWrite{key: fmt.Sprintf("fo-%02d-%06d", c, i), sentAt: time.Now()}
				w.body = transfer(accounts[from], accounts[to], fmt.Sprintf("%d.%02d", 1+rand.IntN(9), rand.IntN(100)))
				w.body["metadata"] = map[string]string{"failover_key": w.key}
				a, err := rawSend(client, "POST", srv.URL+"/v1/transactions", prov, w.key, w.body)
				w.doneAt = time.Now()
				if err != nil {
					w.err = err.Error()
				} else {
					w.status, w.code, w.outcome = a.status, a.problem.Code, a.problem.Outcome
					if a.status/100 == 2 {
						var v struct {
							ID string `json:"id"`
						}
						_ = json.Unmarshal([]byte(a.body), &v)
						w.txID = v.ID
						if k := killAt.Load(); k != 0 && w.sentAt.UnixNano() > k {
							firstOK.CompareAndSwap(0, w.doneAt.UnixNano())
						}
					}
				}
				mu.Lock()
				writes = append(writes, w)
				mu.Unlock()
				if w.status/100 != 2 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	// One anonymous reader of a public route throughout: served by the
	// standby, it should not notice the primary's death.
	var reads, readErrs atomic.Int64
	var readFirstErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			a, err := rawSend(client, "GET", srv.URL+"/v1/registry/stats", "", "", nil)
			reads.Add(1)
			if err != nil || a.status != 200 {
				readErrs.Add(1)
				readFirstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s %v", a.status, a.body, err))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	time.Sleep(failoverBefore)
	pair.run("kill-primary") // returns once the postmaster is gone
	killTime := time.Now()
	killAt.Store(killTime.UnixNano())
	time.Sleep(failoverDetect)
	promoteTime := time.Now()
	pair.run("promote")
	t.Logf("killed the primary at +0s, promoted the standby at +%.2fs", promoteTime.Sub(killTime).Seconds())
	for firstOK.Load() == 0 {
		if time.Since(promoteTime) > failoverResumeMax {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("writes did not resume within %s of the promotion", failoverResumeMax)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(failoverAfter)
	stop.Store(true)
	wg.Wait()

	// Tally the first tries.
	var acked, unavailable, unknown, notCommitted, transportErrs int
	var bad []string
	for _, w := range writes {
		switch {
		case w.err != "":
			transportErrs++
			bad = append(bad, fmt.Sprintf("%s: %s", w.key, w.err))
		case w.status == 201:
			acked++
			if w.txID == "" {
				bad = append(bad, w.key+": 201 without an id")
			}
		case w.status == http.StatusServiceUnavailable:
			unavailable++
			switch w.outcome {
			case ledger.OutcomeUnknown:
				unknown++
			case ledger.OutcomeNotCommitted:
				notCommitted++
			default:
				bad = append(bad, fmt.Sprintf("%s: 503 %s without an outcome", w.key, w.code))
			}
		default:
			bad = append(bad, fmt.Sprintf("%s: %d %s", w.key, w.status, w.code))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Errorf("%d first tries were neither acknowledged nor 503 with an outcome (first: %v)", len(bad), bad[:min(len(bad), 10)])
	}
	// The write outage as clients saw it: the longest time in which no
	// write was acknowledged (it spans the kill). And from the kill and
	// from the promotion to the first acknowledgement of a write sent
	// after the kill.
	var ackTimes []time.Time
	for _, w := range writes {
		if w.status == 201 {
			ackTimes = append(ackTimes, w.doneAt)
		}
	}
	sort.Slice(ackTimes, func(i, j int) bool { return ackTimes[i].Before(ackTimes[j]) })
	var outage time.Duration
	for i := 1; i < len(ackTimes); i++ {
		outage = max(outage, ackTimes[i].Sub(ackTimes[i-1]))
	}
	fromKill := time.Duration(firstOK.Load() - killTime.UnixNano())
	fromPromote := time.Duration(firstOK.Load() - promoteTime.UnixNano())

	// Every acknowledged write is on the new primary, as acknowledged:
	// read back by the server itself, on the pool that failed over.
	ackedIDs := map[string]string{} // key -> tx id
	for _, w := range writes {
		if w.status == 201 {
			ackedIDs[w.key] = w.txID
		}
	}
	rows, err := pool.Query(ctx, `SELECT metadata->>'failover_key', id::text FROM transactions WHERE metadata ? 'failover_key'`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string][]string{}
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			t.Fatal(err)
		}
		stored[k] = append(stored[k], id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var lost []string
	for k, id := range ackedIDs {
		if ids := stored[k]; len(ids) != 1 || ids[0] != id {
			lost = append(lost, fmt.Sprintf("%s (acknowledged %s, stored %v)", k, id, ids))
		}
	}
	if len(lost) > 0 {
		sort.Strings(lost)
		t.Fatalf("%d acknowledged writes are not on the new primary as acknowledged: %v", len(lost), lost[:min(len(lost), 10)])
	}
	committedUnacked := 0
	for _, w := range writes {
		if w.status != 201 && len(stored[w.key]) > 0 {
			committedUnacked++
		}
	}

	// Replay every key with the same request at 16 clients: an
	// acknowledged key answers 200 with its transaction; any other key
	// answers 200 (it had committed: the same stored transaction) or 201
	// (it had not: done now) — and then every key names one transaction.
	replayed := make([]string, len(writes))
	var replayBad []string
	var rmu sync.Mutex
	jobs := make(chan int)
	var rwg sync.WaitGroup
	for range failoverClients {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for i := range jobs {
				w := writes[i]
				a, err := rawSend(client, "POST", srv.URL+"/v1/transactions", prov, w.key, w.body)
				var v struct {
					ID string `json:"id"`
				}
				if err == nil {
					_ = json.Unmarshal([]byte(a.body), &v)
				}
				problem := ""
				switch {
				case err != nil:
					problem = err.Error()
				case w.status == 201 && (a.status != 200 || v.ID != w.txID):
					problem = fmt.Sprintf("acknowledged as %s, replay %d %s", w.txID, a.status, a.body)
				case w.status != 201 && len(stored[w.key]) > 0 && (a.status != 200 || v.ID != stored[w.key][0]):
					problem = fmt.Sprintf("committed unacknowledged as %v, replay %d %s", stored[w.key], a.status, a.body)
				case w.status != 201 && len(stored[w.key]) == 0 && a.status != 201:
					problem = fmt.Sprintf("not committed, replay %d %s", a.status, a.body)
				}
				rmu.Lock()
				replayed[i] = v.ID
				if problem != "" {
					replayBad = append(replayBad, w.key+": "+problem)
				}
				rmu.Unlock()
			}
		}()
	}
	for i := range writes {
		jobs <- i
	}
	close(jobs)
	rwg.Wait()
	if len(replayBad) > 0 {
		sort.Strings(replayBad)
		t.Errorf("%d replays were not idempotent: %v", len(replayBad), replayBad[:min(len(replayBad), 10)])
	}
	// A second replay of every key changes nothing either: each key has
	// exactly one transaction, the one its replay named.
	var perKey []struct {
		K string
		N int
	}
	rows, err = pool.Query(ctx, `SELECT metadata->>'failover_key', count(*) FROM transactions WHERE metadata ? 'failover_key' GROUP BY 1 HAVING count(*) > 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		perKey = append(perKey, struct {
			K string
			N int
		}{k, n})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(perKey) > 0 {
		t.Errorf("keys posted more than once: %v", perKey)
	}
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM transactions WHERE metadata ? 'failover_key'`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != len(writes) {
		t.Errorf("%d transfers stored for %d keys after replaying every key, want one each", total, len(writes))
	}

	// The journal on the new primary verifies, in full.
	rep, err := l.VerifyAllWith(ctx, testUseCases, ledger.VerifyOptions{Mode: ledger.VerifyFull})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Errorf("verify on the new primary: %d problem(s): %+v", rep.ProblemsTotal, rep.Problems)
	}
	t.Logf("verify (full) on the new primary: ok=%v transactions=%d postings=%d", rep.OK, rep.Transactions, rep.Postings)

	if n := readErrs.Load(); n > 0 {
		t.Errorf("%d of %d public reads (from the standby) failed during the failover; first: %v", n, reads.Load(), readFirstErr.Load())
	}
	line := fmt.Sprintf("FAILOVER public_reads=%d public_read_errors=%d clients=%d writes=%d acked=%d outage_s=%.2f kill_to_first_ack_s=%.2f promote_to_first_ack_s=%.2f promoted_after_s=%.2f 503s=%d not_committed=%d outcome_unknown=%d unacked_but_committed=%d transport_errors=%d verify_ok=%v",
		reads.Load(), readErrs.Load(), failoverClients, len(writes), acked, outage.Seconds(), fromKill.Seconds(), fromPromote.Seconds(), promoteTime.Sub(killTime).Seconds(),
		unavailable, notCommitted, unknown, committedUnacked, transportErrs, rep.OK)
	t.Log(line)
	fmt.Println(line)
}
