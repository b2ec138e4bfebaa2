package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shandong-carbon/carbonledger/api"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// Bounds: the load tool stops by itself and only targets this machine.
const (
	benchDurationMax = 10 * time.Minute
	benchClientsMax  = 1024
	benchAccountsMax = 100000
	benchCitizensMax = 1000000
)

type benchConfig struct {
	workload  string
	clients   int
	duration  time.Duration
	warmup    time.Duration
	accounts  int
	batchSize int
	base      string
	key       *api.SigningKey
	issuer    string
	audience  string
	http      *http.Client
	runID     string
	role, org string
	window    time.Duration                               // a WINDOW line every window of the measured run
	pace      func(ctx context.Context, client int) error // waits for the client's next slot (paced workloads); not timed
	probe     *benchProbe
}

func cmdBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	c := commonFlags(fs)
	b := benchConfig{}
	fs.StringVar(&b.workload, "workload", "uniform", "hot, uniform, batch, ingest, me (GET /v1/me as citizens bc0.., paced by -rate)")
	rate := fs.Float64("rate", 100, "me: requests per second over all clients")
	fs.IntVar(&b.clients, "clients", 32, "concurrent clients")
	fs.DurationVar(&b.duration, "duration", 20*time.Second, "measured duration")
	fs.DurationVar(&b.warmup, "warmup", 2*time.Second, "unmeasured warm-up")
	fs.IntVar(&b.accounts, "accounts", 1000, "accounts in the workload")
	fs.IntVar(&b.batchSize, "batch-size", 200, "transfers per request (batch), records per request (ingest)")
	citizens := fs.Int("citizens", 100000, "citizens seeded for the ingest workload (up to 1,000,000)")
	fs.DurationVar(&b.window, "window", 0, "print the rate (and WAL, CPU) per window of this length; default a tenth of the duration, at least 1s")
	serverPID := fs.Int("server-pid", 0, "pid of the API server (carbonledger serve) for its CPU share; default: the process listening on -addr")
	_ = fs.Parse(args)
	if !isLoopback(c.addr) {
		return fmt.Errorf("bench only targets this machine (loopback); %s is not", c.addr)
	}
	if b.clients < 1 || b.clients > benchClientsMax || b.duration <= 0 || b.duration > benchDurationMax ||
		b.accounts < 2 || b.accounts > benchAccountsMax || b.batchSize < 1 || b.batchSize > 1000 {
		return errors.New("bench: clients 1..1024, duration up to 10m, accounts 2..100000, batch-size 1..1000")
	}
	key, err := c.signingKey(nil)
	if err != nil {
		return err
	}
	b.key, b.issuer, b.audience, b.base = key, c.issuer, c.audience, "http://"+c.addr
	b.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: b.clients + 4, MaxConnsPerHost: b.clients + 4}}
	b.runID = strconv.FormatInt(time.Now().UnixNano(), 36)
	if b.window <= 0 {
		b.window = max(b.duration/10, time.Second)
	}
	b.probe = newBenchProbe(ctx, c.databaseURL, c.addr, *serverPID)
	defer b.probe.close()
	fmt.Fprintf(os.Stderr, "bench: measuring %s\n", b.probe.describe())

	var op func(ctx context.Context, client int, tok string, rnd *rand.Rand) (int, error)
	b.role, b.org = "province", ""
	switch b.workload {
	case "ingest":
		if *citizens < 1 || *citizens > benchCitizensMax {
			return fmt.Errorf("bench: citizens 1..%d", benchCitizensMax)
		}
		if err := seedIngest(ctx, c, *citizens); err != nil {
			return err
		}
		b.role, b.org = "operator", "metro-jinan"
		op = func(ctx context.Context, client int, tok string, rnd *rand.Rand) (int, error) {
			now := time.Now().UTC()
			recs := make([]map[string]string, b.batchSize)
			for i := range recs {
				recs[i] = map[string]string{
					"record_id":   fmt.Sprintf("bench-%s-%d-%d", b.runID, client, benchKeys.Add(1)),
					"citizen":     fmt.Sprintf("bc%d", rnd.IntN(*citizens)),
					"kind":        "metro",
					"quantity":    strconv.Itoa(1 + rnd.IntN(20)),
					"unit":        "km",
					"occurred_at": now.Add(-time.Duration(rnd.IntN(86400)) * time.Second).Format(time.RFC3339),
				}
			}
			return b.batchSize, b.post(ctx, tok, "/v1/behaviours", map[string]any{"records": recs})
		}
	case "me":
		// A citizen reading their account while others write: run it
		// beside an ingest run to see the read path under the write load.
		if *rate <= 0 || *rate > 10000 {
			return errors.New("bench: rate 0..10000")
		}
		if err := seedIngest(ctx, c, b.clients); err != nil {
			return err
		}
		b.role, b.org = "citizen", ""
		every := time.Duration(float64(b.clients) / *rate * float64(time.Second))
		next := make([]time.Time, b.clients)
		b.pace = func(ctx context.Context, client int) error {
			if next[client].IsZero() {
				next[client] = time.Now().Add(time.Duration(client) * every / time.Duration(b.clients))
			}
			err := sleepUntil(ctx, next[client])
			next[client] = next[client].Add(every)
			return err
		}
		op = func(ctx context.Context, _ int, tok string, _ *rand.Rand) (int, error) {
			return 1, b.get(ctx, tok, "/v1/me")
		}
	case "hot":
		if err := b.setupAccounts(ctx, false); err != nil {
			return err
		}
		op = func(ctx context.Context, _ int, tok string, rnd *rand.Rand) (int, error) {
			return 1, b.postTransfer(ctx, tok, "external:CNY", b.account(rnd.IntN(b.accounts)))
		}
	case "uniform":
		if err := b.setupAccounts(ctx, true); err != nil {
			return err
		}
		op = func(ctx context.Context, _ int, tok string, rnd *rand.Rand) (int, error) {
			from, to := b.pair(rnd)
			return 1, b.postTransfer(ctx, tok, from, to)
		}
	case "batch":
		if err := b.setupAccounts(ctx, true); err != nil {
			return err
		}
		op = func(ctx context.Context, _ int, tok string, rnd *rand.Rand) (int, error) {
			items := make([]map[string]any, b.batchSize)
			for i := range items {
				from, to := b.pair(rnd)
				items[i] = transferBody(from, to)
			}
			return b.batchSize, b.post(ctx, tok, "/v1/transactions/batch", map[string]any{"items": items})
		}
	default:
		return fmt.Errorf("unknown workload %q", b.workload)
	}
	return b.run(ctx, op)
}

func (b *benchConfig) account(i int) string { return fmt.Sprintf("org:bench-%d:CNY", i) }

func (b *benchConfig) pair(rnd *rand.Rand) (string, string) {
	x, y := rnd.IntN(b.accounts), rnd.IntN(b.accounts-1)
	if y >= x {
		y++
	}
	return b.account(x), b.account(y)
}

func transferBody(from, to string) map[string]any {
	return map[string]any{"kind": "bench.transfer", "postings": []map[string]string{
		{"account": from, "amount": "-0.01"}, {"account": to, "amount": "0.01"}}}
}

func (b *benchConfig) token(sub string) (string, error) {
	return b.key.Mint(b.issuer, b.audience, api.TokenSpec{Role: b.role, Sub: sub, Org: b.org, TTL: time.Hour}, time.Now())
}

// seedIngest registers citizens bc0..bcN-1, entrusted to metro-jinan,
// straight through the ledger (there is no bulk citizen route on purpose).
func seedIngest(ctx context.Context, c *config, n int) error {
	l, closePool, err := c.ledger(ctx)
	if err != nil {
		return fmt.Errorf("ingest needs DATABASE_URL to seed citizens: %w", err)
	}
	defer closePool()
	defer l.Close()
	if err := points.Seed(ctx, l); err != nil {
		return err
	}
	start := time.Now()
	for lo := 0; lo < n; lo += points.CitizensPerCallMax {
		ids := make([]string, 0, points.CitizensPerCallMax)
		for i := lo; i < min(lo+points.CitizensPerCallMax, n); i++ {
			ids = append(ids, fmt.Sprintf("bc%d", i))
		}
		if err := points.EnsureCitizens(ctx, l, ids, "metro-jinan"); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bench: %d citizens ready in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

var benchKeys atomic.Int64

func (b *benchConfig) post(ctx context.Context, tok, path string, body any) error {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%s-%d", b.runID, benchKeys.Add(1)))
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, bytes.TrimSpace(msg[:min(len(msg), 300)]))
	}
	if (path == "/v1/transactions/batch" && bytes.Contains(msg, []byte(`"status":"failed"`))) ||
		(path == "/v1/behaviours" && bytes.Contains(msg, []byte(`"status":"rejected"`))) {
		return fmt.Errorf("batch item failed: %s", msg[:min(len(msg), 300)])
	}
	return nil
}

func (b *benchConfig) get(ctx context.Context, tok, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, bytes.TrimSpace(msg[:min(len(msg), 300)]))
	}
	return nil
}

func (b *benchConfig) postTransfer(ctx context.Context, tok, from, to string) error {
	return b.post(ctx, tok, "/v1/transactions", transferBody(from, to))
}

// setupAccounts opens the workload's accounts and, for workloads that
// move money between them, funds each so no transfer can fail.
func (b *benchConfig) setupAccounts(ctx context.Context, fund bool) error {
	tok, err := b.token("bench-setup")
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	sem := make(chan struct{}, 16)
	for i := 0; i < b.accounts; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.post(ctx, tok, "/v1/accounts", map[string]any{"id": b.account(i)}); err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if fund {
		for lo := 0; lo < b.accounts; lo += 1000 {
			var items []map[string]any
			for i := lo; i < min(lo+1000, b.accounts); i++ {
				items = append(items, map[string]any{"kind": "bench.fund", "postings": []map[string]string{
					{"account": "external:CNY", "amount": "-1000000.00"}, {"account": b.account(i), "amount": "1000000.00"}}})
			}
			if err := b.post(ctx, tok, "/v1/transactions/batch", map[string]any{"items": items, "atomic": true}); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "bench: %d accounts ready in %s\n", b.accounts, time.Since(start).Round(time.Millisecond))
	return nil
}

func (b *benchConfig) run(ctx context.Context, op func(context.Context, int, string, *rand.Rand) (int, error)) error {
	tokens := make([]string, b.clients)
	for i := range tokens {
		sub := fmt.Sprintf("bench-c%d", i)
		if b.workload == "me" {
			sub = fmt.Sprintf("bc%d", i) // a seeded citizen
		}
		t, err := b.token(sub)
		if err != nil {
			return err
		}
		tokens[i] = t
	}
	measureFrom := time.Now().Add(b.warmup)
	deadline := measureFrom.Add(b.duration)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(30*time.Second))
	defer cancel()
	lat := make([][]time.Duration, b.clients)
	var transfers, errorsN atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	// The probe samples at the start of the measured run, at the end of
	// every window and at its end.
	var first, last benchSample
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		if sleepUntil(ctx, measureFrom) != nil {
			return
		}
		first = b.probe.sample(ctx, transfers.Load())
		prev := first
		for n := 1; ; n++ {
			end := measureFrom.Add(time.Duration(n) * b.window)
			if end.After(deadline) {
				end = deadline
			}
			if sleepUntil(ctx, end) != nil {
				return
			}
			s := b.probe.sample(ctx, transfers.Load())
			fmt.Printf("WINDOW n=%d from_s=%.0f to_s=%.0f ops_per_s=%.0f %s\n", n, prev.at.Sub(measureFrom).Seconds(), s.at.Sub(measureFrom).Seconds(),
				float64(s.ops-prev.ops)/s.at.Sub(prev.at).Seconds(), b.probe.explain(prev, s))
			prev = s
			if !end.Before(deadline) {
				last = s
				return
			}
		}
	}()
	for c := 0; c < b.clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for {
				if b.pace != nil && b.pace(ctx, c) != nil {
					return
				}
				t0 := time.Now()
				if !t0.Before(deadline) || ctx.Err() != nil {
					return
				}
				n, err := op(ctx, c, tokens[c], rnd)
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					errorsN.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
				transfers.Add(int64(n))
			}
		}(c)
	}
	wg.Wait()
	<-probed
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	secs := b.duration.Seconds()
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "bench: first error: %s\n", e)
	}
	fmt.Printf("requests=%d req_per_s=%.0f\n", len(all), float64(len(all))/secs)
	explain := ""
	if first.ok && last.ok {
		explain = " " + b.probe.explain(first, last)
	}
	fmt.Printf("RESULT workload=%s clients=%d tps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f errors=%d%s\n",
		b.workload, b.clients, float64(transfers.Load())/secs, pct(0.50), pct(0.95), pct(0.99), errorsN.Load(), explain)
	return nil
}

// sleepUntil sleeps until t or until ctx ends (its error then).
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
