package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// /metrics is rendered by the Prometheus client library, not by hand:
// its exposition (escaping of label values, HELP and TYPE lines, one
// family per name, histogram buckets, content negotiation) is the
// reference implementation's, and it brings the Go runtime and process
// collectors. Every family is listed in docs/operations.md ("Metrics").

// Latency buckets in seconds.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Job run durations in seconds: from an idle run (a millisecond) to a
// full batch of expiries or deliveries.
var jobBuckets = []float64{0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60}

// scrapeQueryTimeout bounds each collector's database reads during one
// scrape (feed status, job lags), so an unreachable database makes a
// scrape slower by this much, not hang it.
const scrapeQueryTimeout = 2 * time.Second

// businessCounters are the programme's own counters: committed events of
// one type each, counted after their database transaction committed (an
// idempotent replay writes nothing and counts nothing; ledger.Stats).
var businessCounters = []struct{ name, help, event string }{
	{"carbonledger_points_credited_total", "Behaviour records credited with points (events " + points.EventBehaviourCredited + ").", points.EventBehaviourCredited},
	{"carbonledger_points_claimed_total", "Claims of pending points by citizens (events " + points.EventClaimed + ").", points.EventClaimed},
	{"carbonledger_points_lapsed_total", "Lapses of unclaimed credits past their claim window, one per citizen and job run (events " + points.EventLapsed + ").", points.EventLapsed},
	{"carbonledger_points_expired_total", "Expiries of available points past their validity, one per citizen and job run (events " + points.EventExpired + ").", points.EventExpired},
	{"carbonledger_points_redeemed_total", "Redemptions of points for rewards (events " + points.EventRedeemed + ").", points.EventRedeemed},
	{"carbonledger_units_issued_total", "Issuances of certified units: batches issued (events registry.batch.issued).", "registry.batch.issued"},
	{"carbonledger_units_retired_total", "Retirements of certified units (events " + registry.EventRetired + ").", registry.EventRetired},
	{"carbonledger_indices_allocated_total", "Allocations of emission indices to projects (events quota.application.approved).", "quota.application.approved"},
}

// metrics holds the registry /metrics serves and the collectors the
// server feeds: requests, latency and jobs. The rest is read at scrape
// time from the ledger, the pool and the feed.
type metrics struct {
	reg      *prometheus.Registry
	handler  http.Handler
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	jobRuns, jobFailures, jobItems *prometheus.CounterVec
	jobLastSuccess                 *prometheus.GaugeVec
	jobDuration                    *prometheus.HistogramVec

	jobsMu sync.Mutex
	jobs   []ledger.Job // those with a Lag, for carbonledger_job_lag_seconds
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carbonledger_http_requests_total",
		Help: `HTTP requests by route ("METHOD /pattern", or "unmatched" for 404/405 answers no route served) and status.`}, []string{"route", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "carbonledger_http_request_duration_seconds",
		Help: "HTTP request latency by route.", Buckets: latencyBuckets}, []string{"route"})
	m.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carbonledger_job_runs_total",
		Help: "Background job runs (this process), successful or not."}, []string{"job"})
	m.jobFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carbonledger_job_failures_total",
		Help: "Background job runs that returned an error."}, []string{"job"})
	m.jobItems = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carbonledger_job_items_total",
		Help: "Items background jobs handled (holds voided, citizens expired, events relayed, keys pruned, ...)."}, []string{"job"})
	m.jobLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "carbonledger_job_last_success_timestamp_seconds",
		Help: "Unix time of the job's last successful run in this process."}, []string{"job"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "carbonledger_job_duration_seconds",
		Help: "Background job run duration.", Buckets: jobBuckets}, []string{"job"})
	b := BuildInfo()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "carbonledger_build_info",
		Help: "The running binary: module version, VCS revision, Go version (value 1)."}, []string{"version", "revision", "goversion", "modified"})
	build.WithLabelValues(b.Version, b.Revision, b.GoVersion, strconv.FormatBool(b.Modified)).Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.jobRuns, m.jobFailures, m.jobItems, m.jobLastSuccess, m.jobDuration, build,
		newLedgerCollector(s.l),
		newPoolCollector(s.l.Pool()),
		&feedCollector{s: s},
		&jobLagCollector{s: s, m: m},
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// jobRan records one run of a job.
func (m *metrics) jobRan(name string, n int, err error, d time.Duration) {
	m.jobRuns.WithLabelValues(name).Inc()
	m.jobDuration.WithLabelValues(name).Observe(d.Seconds())
	if n > 0 {
		m.jobItems.WithLabelValues(name).Add(float64(n))
	}
	if err != nil {
		m.jobFailures.WithLabelValues(name).Inc()
		return
	}
	m.jobLastSuccess.WithLabelValues(name).SetToCurrentTime()
}

// watchJobs makes the jobs' families show from the first scrape (zero
// runs is a fact worth seeing) and remembers the jobs that have a lag.
func (m *metrics) watchJobs(jobs []ledger.Job) {
	m.jobsMu.Lock()
	defer m.jobsMu.Unlock()
	for _, j := range jobs {
		m.jobRuns.WithLabelValues(j.Name)
		m.jobFailures.WithLabelValues(j.Name)
		m.jobItems.WithLabelValues(j.Name)
		if j.Lag != nil {
			m.jobs = append(m.jobs, j)
		}
	}
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

// MetricsHandler serves /metrics alone, for an admin listener
// (serve --admin-addr): the same registry as the API's /metrics route.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler }

// HealthHandler is GET /healthz's answer, for a listener of its own.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.handleHealth(w, r, ledger.Actor{}); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// promLogger sends the metrics handler's errors to the server's log.
type promLogger struct{ s *Server }

func (p promLogger) Println(v ...any) { p.s.log.Warn("metrics", "err", fmt.Sprint(v...)) }

// --- the engine's counters ---

type ledgerCollector struct {
	l                                                                 *ledger.Ledger
	transactions, postings, retries, replays, commitUnknown, eventsDs *prometheus.Desc
	queueDepth, batchSize                                             *prometheus.Desc
	business                                                          []*prometheus.Desc
}

func newLedgerCollector(l *ledger.Ledger) *ledgerCollector {
	c := &ledgerCollector{l: l,
		transactions: prometheus.NewDesc("carbonledger_transactions_total", "Journal transactions committed.", nil, nil),
		postings:     prometheus.NewDesc("carbonledger_postings_total", "Postings committed.", nil, nil),
		retries: prometheus.NewDesc("carbonledger_tx_retries_total",
			"Whole-transaction retries by reason: serialization_failure (40001), deadlock (40P01), unique_race (23505 on a once-only constraint), write_race (the engine saw a concurrent writer).", []string{"reason"}, nil),
		replays: prometheus.NewDesc("carbonledger_idempotent_replays_total", "Writes answered from a stored idempotency result.", nil, nil),
		commitUnknown: prometheus.NewDesc("carbonledger_commit_outcome_unknown_total",
			"Writes answered commit_outcome_unknown: an I/O error during COMMIT (or CockroachDB 40003), or a request that ended before its coalesced write was confirmed. Clients must replay them with the same key.", nil, nil),
		eventsDs: prometheus.NewDesc("carbonledger_events_committed_total", "Change-feed events committed, by type.", []string{"type"}, nil),
		queueDepth: prometheus.NewDesc("carbonledger_coalescer_queue_depth",
			"Single transfers waiting for a coalescer executor.", nil, nil),
		batchSize: prometheus.NewDesc("carbonledger_coalescer_batch_size",
			"Requests written per coalesced database transaction.", nil, nil),
	}
	for _, b := range businessCounters {
		c.business = append(c.business, prometheus.NewDesc(b.name, b.help, nil, nil))
	}
	return c
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.transactions, c.postings, c.retries, c.replays, c.commitUnknown, c.eventsDs, c.queueDepth, c.batchSize} {
		ch <- d
	}
	for _, d := range c.business {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.l.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.transactions, st.Transactions.Load())
	counter(c.postings, st.Postings.Load())
	for reason, n := range st.RetriesByReason() {
		counter(c.retries, n, reason)
	}
	counter(c.replays, st.Replays.Load())
	counter(c.commitUnknown, st.CommitUnknown.Load())
	for typ, n := range st.EventsCommitted() {
		counter(c.eventsDs, n, typ)
	}
	for i, b := range businessCounters {
		counter(c.business[i], st.EventCommitted(b.event))
	}
	ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(c.l.CoalescerQueueDepth()))
	buckets, count, sum := st.CoalescedBatches.Snapshot()
	ch <- prometheus.MustNewConstHistogram(c.batchSize, count, sum, buckets)
}

// --- the database pool ---

// poolCollector reads pgxpool's statistics at scrape time.
type poolCollector struct {
	pool                                               *pgxpool.Pool
	acquired, idle, total, constructing, maxConns      *prometheus.Desc
	acquires, acquireSeconds, emptyAcquires, emptyWait *prometheus.Desc
	canceledAcquires, newConns, destroyedConns         *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("carbonledger_db_pool_"+name, help, labels, nil)
	}
	return &poolCollector{pool: pool,
		acquired:         d("acquired_conns", "Connections in use by the service now."),
		idle:             d("idle_conns", "Idle connections in the pool now."),
		total:            d("total_conns", "Connections open now (acquired, idle and being opened)."),
		constructing:     d("constructing_conns", "Connections being opened now."),
		maxConns:         d("max_conns", "The pool's size (pool_max_conns)."),
		acquires:         d("acquires_total", "Successful connection acquisitions."),
		acquireSeconds:   d("acquire_duration_seconds_total", "Time spent acquiring connections, successful acquisitions only."),
		emptyAcquires:    d("empty_acquires_total", "Acquisitions that had to wait because no connection was idle (a pool too small for the load shows here)."),
		emptyWait:        d("empty_acquire_wait_seconds_total", "Time spent waiting by acquisitions that found no idle connection."),
		canceledAcquires: d("canceled_acquires_total", "Acquisitions cancelled by their context (a request timed out waiting for a connection)."),
		newConns:         d("new_conns_total", "Connections opened."),
		destroyedConns:   d("destroyed_conns_total", "Connections closed by the pool, by reason (max_lifetime, max_idle).", "reason"),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.constructing, c.maxConns, c.acquires, c.acquireSeconds,
		c.emptyAcquires, c.emptyWait, c.canceledAcquires, c.newConns, c.destroyedConns} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v int32) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.acquired, st.AcquiredConns())
	gauge(c.idle, st.IdleConns())
	gauge(c.total, st.TotalConns())
	gauge(c.constructing, st.ConstructingConns())
	gauge(c.maxConns, st.MaxConns())
	counter(c.acquires, float64(st.AcquireCount()))
	counter(c.acquireSeconds, st.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(st.EmptyAcquireCount()))
	counter(c.emptyWait, st.EmptyAcquireWaitTime().Seconds())
	counter(c.canceledAcquires, float64(st.CanceledAcquireCount()))
	counter(c.newConns, float64(st.NewConnsCount()))
	counter(c.destroyedConns, float64(st.MaxLifetimeDestroyCount()), "max_lifetime")
	counter(c.destroyedConns, float64(st.MaxIdleDestroyCount()), "max_idle")
}

// --- the change feed ---

var (
	feedHeadDesc = prometheus.NewDesc("carbonledger_feed_head_position", "The change feed's last stamped position.", nil, nil)
	feedLagDesc  = prometheus.NewDesc("carbonledger_feed_relay_lag_events", "Committed events waiting for a position.", nil, nil)
	feedAgeDesc  = prometheus.NewDesc("carbonledger_feed_relay_lag_seconds", "Age of the oldest committed event without a position.", nil, nil)
	feedSubDesc  = prometheus.NewDesc("carbonledger_feed_subscriber_lag_events", "Positions a publisher (NATS, a webhook) is behind the head.", []string{"subscriber"}, nil)
	feedOKDesc   = scrapeOKDesc("feed")
)

// scrapeOKDesc is a collector's own carbonledger_scrape_collector_success
// series (a const label each: two collectors may not share a Desc).
func scrapeOKDesc(collector string) *prometheus.Desc {
	return prometheus.NewDesc("carbonledger_scrape_collector_success",
		"1 when the collector's database reads succeeded during this scrape, 0 when they failed (the database is unreachable or slow).",
		nil, prometheus.Labels{"collector": collector})
}

// feedCollector reads the feed's status (one snapshot) at scrape time.
type feedCollector struct{ s *Server }

func (c *feedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- feedHeadDesc
	ch <- feedLagDesc
	ch <- feedAgeDesc
	ch <- feedSubDesc
	ch <- feedOKDesc
}

func (c *feedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeQueryTimeout)
	defer cancel()
	st, err := c.s.l.FeedStatus(ctx)
	if err != nil {
		c.s.log.Warn("feed metrics", "err", err)
		ch <- prometheus.MustNewConstMetric(feedOKDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(feedOKDesc, prometheus.GaugeValue, 1)
	age := 0.0
	if st.OldestUnstampedAt != nil {
		age = max(0, c.s.l.Now().Sub(*st.OldestUnstampedAt).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(feedHeadDesc, prometheus.GaugeValue, float64(st.Head))
	ch <- prometheus.MustNewConstMetric(feedLagDesc, prometheus.GaugeValue, float64(st.Unstamped))
	ch <- prometheus.MustNewConstMetric(feedAgeDesc, prometheus.GaugeValue, age)
	for name, pos := range st.Consumers {
		ch <- prometheus.MustNewConstMetric(feedSubDesc, prometheus.GaugeValue, float64(st.Head-pos), name)
	}
}

// --- the jobs' lag ---

var jobLagOKDesc = scrapeOKDesc("job_lag")

var jobLagDesc = prometheus.NewDesc("carbonledger_job_lag_seconds",
	"Age of the oldest item the job should already have handled (a hold past its timeout, a credit or lot past its date, an unrelayed feed event, a key past retention, a due webhook delivery); 0 when none.", []string{"job"}, nil)

// jobLagCollector asks each job with a Lag at scrape time.
type jobLagCollector struct {
	s *Server
	m *metrics
}

func (c *jobLagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobLagDesc
	ch <- jobLagOKDesc
}

func (c *jobLagCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.jobsMu.Lock()
	jobs := c.m.jobs
	c.m.jobsMu.Unlock()
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeQueryTimeout)
	defer cancel()
	ok := 1.0
	for _, j := range jobs {
		lag, err := j.Lag(ctx, c.s.l)
		if err != nil {
			c.s.log.Warn("job lag metric", "job", j.Name, "err", err)
			ok = 0
			continue
		}
		ch <- prometheus.MustNewConstMetric(jobLagDesc, prometheus.GaugeValue, lag.Seconds(), j.Name)
	}
	ch <- prometheus.MustNewConstMetric(jobLagOKDesc, prometheus.GaugeValue, ok)
}
