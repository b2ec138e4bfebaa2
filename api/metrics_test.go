package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// scrape reads /metrics and parses it with Prometheus' own text parser.
func (h *harness) scrape(t *testing.T) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	r := h.get("/metrics", "").want(t, http.StatusOK)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, r.Body)
	}
	return r.Body, fams
}

// metricValue is the value of the family's series whose labels include
// all of labels ("k=v" each); -1 when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

// promtool is the path of Prometheus' promtool, or a skip (a failure when
// CARBONLEDGER_REQUIRE_PROMTOOL is set, as CI sets it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CARBONLEDGER_REQUIRE_PROMTOOL") != "" {
			t.Fatalf("promtool not found and CARBONLEDGER_REQUIRE_PROMTOOL is set: %v", err)
		}
		t.Skip("promtool not installed (Debian package prometheus): the scrape is not linted; set CARBONLEDGER_REQUIRE_PROMTOOL=1 to make this a failure")
	}
	return p
}

// A scrape taken while writes go on, with the background jobs running,
// is clean for `promtool check metrics` (the exposition format and
// Prometheus' naming rules), and holds every family an operator pages on.
func TestMetricsUnderLoadPassPromtool(t *testing.T) {
	tool := promtool(t)
	h := newHarness(t, true)
	ctx, stop := context.WithCancel(context.Background())
	var jobsDone sync.WaitGroup
	jobsDone.Add(1)
	go func() { defer jobsDone.Done(); h.server.RunJobs(ctx, ledger.CoreJobs()); <-ctx.Done() }()
	t.Cleanup(func() { stop(); jobsDone.Wait() })

	prov := h.token(ledger.RoleProvince, "p1", "", "")
	ids := h.openFunded(prov, "1000.00", ledgertest.ID("m1"), ledgertest.ID("m2"))
	h.get("/v1/no-such-route", "").want(t, http.StatusNotFound)

	const writers, each = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	loadDone := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := range each {
				from, to := ids[(w+i)%2], ids[(w+i+1)%2]
				// h.post would call t.Fatal off the test goroutine: send by hand.
				r := h.doQuiet("POST", "/v1/transactions", prov, transfer(from, to, "0.01"))
				if r != http.StatusCreated {
					errs <- fmt.Errorf("writer %d transfer %d: status %d", w, i, r)
				}
			}
		}(w)
	}
	go func() { wg.Wait(); close(loadDone) }()

	// Scrapes while the writers run: each must lint clean.
	var scrapes int
	for {
		body, _ := h.scrape(t)
		checkPromtool(t, tool, body)
		scrapes++
		select {
		case <-loadDone:
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	body, fams := h.scrape(t)
	checkPromtool(t, tool, body)
	t.Logf("%d scrapes under load linted clean; the last is %d bytes, %d families", scrapes+1, len(body), len(fams))

	if got := metricValue(fams, "carbonledger_transactions_total"); got < writers*each {
		t.Errorf("carbonledger_transactions_total = %v, want at least %d", got, writers*each)
	}
	if got := metricValue(fams, "carbonledger_coalescer_batch_size"); got < 1 {
		t.Errorf("carbonledger_coalescer_batch_size count = %v, want at least 1", got)
	}
	for _, s := range []struct {
		name   string
		labels []string
	}{
		{"go_goroutines", nil},
		{"process_cpu_seconds_total", nil},
		{"carbonledger_build_info", nil},
		{"carbonledger_http_requests_total", []string{"route=POST /v1/transactions", "status=201"}},
		{"carbonledger_http_requests_total", []string{"route=unmatched", "status=404"}},
		{"carbonledger_http_request_duration_seconds", []string{"route=POST /v1/transactions"}},
		{"carbonledger_db_pool_acquired_conns", nil},
		{"carbonledger_db_pool_idle_conns", nil},
		{"carbonledger_db_pool_total_conns", nil},
		{"carbonledger_db_pool_acquires_total", nil},
		{"carbonledger_db_pool_acquire_duration_seconds_total", nil},
		{"carbonledger_db_pool_empty_acquires_total", nil},
		{"carbonledger_db_pool_empty_acquire_wait_seconds_total", nil},
		{"carbonledger_tx_retries_total", []string{"reason=serialization_failure"}},
		{"carbonledger_tx_retries_total", []string{"reason=deadlock"}},
		{"carbonledger_commit_outcome_unknown_total", nil},
		{"carbonledger_coalescer_queue_depth", nil},
		{"carbonledger_events_committed_total", []string{"type=" + ledger.EventTransaction}},
		{"carbonledger_points_credited_total", nil},
		{"carbonledger_points_claimed_total", nil},
		{"carbonledger_points_lapsed_total", nil},
		{"carbonledger_points_redeemed_total", nil},
		{"carbonledger_units_issued_total", nil},
		{"carbonledger_units_retired_total", nil},
		{"carbonledger_indices_allocated_total", nil},
		{"carbonledger_job_runs_total", []string{"job=void-expired-pending"}},
		{"carbonledger_job_failures_total", []string{"job=relay-events"}},
		{"carbonledger_job_items_total", []string{"job=relay-events"}},
		{"carbonledger_job_last_success_timestamp_seconds", []string{"job=relay-events"}},
		{"carbonledger_job_lag_seconds", []string{"job=void-expired-pending"}},
		{"carbonledger_job_lag_seconds", []string{"job=relay-events"}},
		{"carbonledger_job_lag_seconds", []string{"job=prune-idempotency-keys"}},
		{"carbonledger_feed_head_position", nil},
		{"carbonledger_scrape_collector_success", []string{"collector=feed"}},
	} {
		if metricValue(fams, s.name, s.labels...) < 0 {
			t.Errorf("no series %s%v in the scrape", s.name, s.labels)
		}
	}
	if got := metricValue(fams, "carbonledger_scrape_collector_success", "collector=job_lag"); got != 1 {
		t.Errorf("job lag collector success = %v, want 1", got)
	}

	// The suggested alerts (scripts/deploy/alerts.yml) are valid rules and
	// name only families this scrape has.
	const rules = "../scripts/deploy/alerts.yml"
	out, err := exec.Command(tool, "check", "rules", rules).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	text, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	// Series that exist only while what they measure does: a publisher's
	// lag needs a publisher (NATS, a webhook), which this test has not.
	onlyWithSubjects := map[string]bool{"carbonledger_feed_subscriber_lag_events": true}
	for _, name := range regexp.MustCompile(`carbonledger_[a-z_]+`).FindAllString(string(text), -1) {
		family := strings.TrimSuffix(name, "_bucket")
		if _, ok := fams[family]; !ok && !onlyWithSubjects[family] {
			t.Errorf("alerts.yml uses %s, which /metrics does not export", name)
		}
	}
}

// checkPromtool runs `promtool check metrics` on a scrape.
func checkPromtool(t *testing.T, tool string, body []byte) {
	t.Helper()
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// doQuiet sends a request from any goroutine and returns its status (0
// when it could not be sent); it never fails the test itself.
func (h *harness) doQuiet(method, path, token string, body any) int {
	r, err := h.send(method, path, token, body)
	if err != nil {
		return 0
	}
	return r
}

// Business counters move by exactly one per committed effect, and not at
// all on an idempotent replay or a duplicate record.
func TestBusinessCountersCountCommitsNotReplays(t *testing.T) {
	e := newPointsEnv(t)
	op := e.operator("metro-jinan")
	credited := func() float64 {
		_, fams := e.h.scrape(t)
		return metricValue(fams, "carbonledger_points_credited_total")
	}
	base := credited()
	if base != 0 {
		t.Fatalf("a fresh server's credited counter = %v, want 0", base)
	}
	trip := e.start.Add(-time.Hour).Truncate(time.Minute)
	batch := map[string]any{"records": []any{pointsRecord("C1", "metro", "12", "km", trip)}}
	first := e.h.post("/v1/behaviours", op, batch, withKey("metrics-batch-1")).want(t, http.StatusCreated)
	pointsWant(t, first.JSON["results"].([]any)[0].(map[string]any), "credited", "", "2532")
	if got := credited(); got != base+1 {
		t.Fatalf("after one credit: %v, want %v", got, base+1)
	}
	// The same request again (same key): a replay, nothing written.
	e.h.post("/v1/behaviours", op, batch, withKey("metrics-batch-1")).want(t, http.StatusOK)
	if got := credited(); got != base+1 {
		t.Fatalf("after a replay: %v, want %v", got, base+1)
	}
	// The same trip under a new key: a duplicate, not a credit.
	dup := map[string]any{"records": []any{pointsRecord("C1", "metro", "12", "km", trip)}}
	res := e.h.post("/v1/behaviours", op, dup).want(t, http.StatusCreated)
	pointsWant(t, res.JSON["results"].([]any)[0].(map[string]any), "duplicate", "duplicate", "0")
	_, fams := e.h.scrape(t)
	if got := metricValue(fams, "carbonledger_points_credited_total"); got != base+1 {
		t.Fatalf("after a duplicate: %v, want %v", got, base+1)
	}
	if got := metricValue(fams, "carbonledger_events_committed_total", "type=points.behaviour.duplicate"); got != 1 {
		t.Fatalf("duplicates = %v, want 1", got)
	}
	if got := metricValue(fams, "carbonledger_idempotent_replays_total"); got != 1 {
		t.Fatalf("replays = %v, want 1", got)
	}
	// A claim counts once, and its replay not at all.
	claims := func() float64 {
		_, fams := e.h.scrape(t)
		return metricValue(fams, "carbonledger_points_claimed_total")
	}
	e.h.post("/v1/me/claims", e.citizen("C1"), map[string]any{}, withKey("metrics-claim-1")).want(t, http.StatusCreated)
	e.h.post("/v1/me/claims", e.citizen("C1"), map[string]any{}, withKey("metrics-claim-1")).want(t, http.StatusOK)
	if got := claims(); got != 1 {
		t.Fatalf("claims = %v, want 1", got)
	}
}

// send is do without the test's failure checks, for other goroutines.
func (h *harness) send(method, path, token string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", uuid.NewString())
	res, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every job run is one log line with its job, items, duration and error,
// and one count in the job's metrics.
func TestJobRunsAreLoggedAndCounted(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, false, func(c *Config, _ *ledger.Options) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	jobs := []ledger.Job{
		{Name: "test-items", Every: 5 * time.Millisecond, Run: func(context.Context, *ledger.Ledger) (int, error) { return 2, nil }},
		{Name: "test-fails", Every: 5 * time.Millisecond, Run: func(context.Context, *ledger.Ledger) (int, error) { return 0, errors.New("boom") }},
		{Name: "test-idle", Every: 5 * time.Millisecond, Quiet: true, Run: func(context.Context, *ledger.Ledger) (int, error) { return 0, nil }},
	}
	ctx, stop := context.WithCancel(context.Background())
	h.server.RunJobs(ctx, jobs)
	time.Sleep(100 * time.Millisecond)
	stop()

	type line struct {
		Level, Msg, Job, Err string
		Items                int
		MS                   *float64 `json:"ms"`
	}
	read := func() map[string][]line {
		lines := map[string][]line{}
		for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var l line
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				t.Fatalf("log line %q: %v", raw, err)
			}
			if l.Job != "" {
				lines[l.Job] = append(lines[l.Job], l)
			}
		}
		return lines
	}
	// The runners stop at their next look at ctx: read until the counts
	// and the lines stay still (a run is counted, then logged).
	var fams map[string]*dto.MetricFamily
	var lines map[string][]line
	for range 50 {
		_, fams = h.scrape(t)
		lines = read()
		still := true
		for _, j := range jobs {
			still = still && float64(len(lines[j.Name])) == metricValue(fams, "carbonledger_job_runs_total", "job="+j.Name)
		}
		if still {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, j := range jobs {
		runs := metricValue(fams, "carbonledger_job_runs_total", "job="+j.Name)
		got := lines[j.Name]
		if runs < 3 || float64(len(got)) != runs {
			t.Errorf("%s: %d log lines, %v runs counted; want one line per run, several runs", j.Name, len(got), runs)
		}
		for _, l := range got {
			if l.MS == nil {
				t.Errorf("%s: a line without ms: %+v", j.Name, l)
			}
			switch j.Name {
			case "test-items":
				if l.Level != "INFO" || l.Msg != "job ran" || l.Items != 2 || l.Err != "" {
					t.Errorf("test-items line %+v", l)
				}
			case "test-fails":
				if l.Level != "WARN" || l.Msg != "job failed" || l.Err != "boom" {
					t.Errorf("test-fails line %+v", l)
				}
			case "test-idle":
				if l.Level != "DEBUG" {
					t.Errorf("test-idle line %+v", l)
				}
			}
		}
	}
	if got := metricValue(fams, "carbonledger_job_failures_total", "job=test-fails"); got != metricValue(fams, "carbonledger_job_runs_total", "job=test-fails") {
		t.Errorf("failures %v, want every run of test-fails", got)
	}
	if got := metricValue(fams, "carbonledger_job_items_total", "job=test-items"); got != 2*metricValue(fams, "carbonledger_job_runs_total", "job=test-items") {
		t.Errorf("items %v, want 2 per run", got)
	}
	if metricValue(fams, "carbonledger_job_last_success_timestamp_seconds", "job=test-fails") >= 0 {
		t.Errorf("a job that never succeeded has a last success")
	}
}
