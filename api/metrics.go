package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Latency buckets in seconds, Prometheus style (cumulative, plus +Inf).
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// metrics keeps request counts by route and status and a latency
// histogram by route, rendered in the Prometheus text format. Written by
// hand: a dozen lines do not justify a client library.
type metrics struct {
	mu     sync.Mutex
	counts map[[2]string]uint64
	hist   map[string]*histogram
}

type histogram struct {
	buckets []uint64
	count   uint64
	sum     float64
}

func newMetrics() *metrics {
	return &metrics{counts: map[[2]string]uint64{}, hist: map[string]*histogram{}}
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	sec := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[[2]string{route, fmt.Sprint(status)}]++
	h, ok := m.hist[route]
	if !ok {
		h = &histogram{buckets: make([]uint64, len(latencyBuckets))}
		m.hist[route] = h
	}
	for i, b := range latencyBuckets {
		if sec <= b {
			h.buckets[i]++
		}
	}
	h.count++
	h.sum += sec
}

func (m *metrics) render(w *strings.Builder, st *ledger.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.WriteString("# HELP carbonledger_http_requests_total HTTP requests by route and status.\n# TYPE carbonledger_http_requests_total counter\n")
	keys := make([][2]string, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(w, "carbonledger_http_requests_total{route=%q,status=%q} %d\n", k[0], k[1], m.counts[k])
	}
	w.WriteString("# HELP carbonledger_http_request_duration_seconds HTTP request latency by route.\n# TYPE carbonledger_http_request_duration_seconds histogram\n")
	routes := make([]string, 0, len(m.hist))
	for r := range m.hist {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		h := m.hist[r]
		for i, b := range latencyBuckets {
			fmt.Fprintf(w, "carbonledger_http_request_duration_seconds_bucket{route=%q,le=\"%g\"} %d\n", r, b, h.buckets[i])
		}
		fmt.Fprintf(w, "carbonledger_http_request_duration_seconds_bucket{route=%q,le=\"+Inf\"} %d\n", r, h.count)
		fmt.Fprintf(w, "carbonledger_http_request_duration_seconds_sum{route=%q} %g\n", r, h.sum)
		fmt.Fprintf(w, "carbonledger_http_request_duration_seconds_count{route=%q} %d\n", r, h.count)
	}
	for _, c := range []struct {
		name, help string
		v          int64
	}{
		{"carbonledger_transactions_total", "Journal transactions written.", st.Transactions.Load()},
		{"carbonledger_postings_total", "Postings written.", st.Postings.Load()},
		{"carbonledger_tx_retries_total", "Whole-transaction retries after serialization failures or deadlocks.", st.Retries.Load()},
		{"carbonledger_idempotent_replays_total", "Writes answered from a stored idempotency result.", st.Replays.Load()},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v)
	}
	b := BuildInfo()
	w.WriteString("# HELP carbonledger_build_info The running binary: module version, VCS revision, Go version (value 1).\n# TYPE carbonledger_build_info gauge\n")
	fmt.Fprintf(w, "carbonledger_build_info{version=%q,revision=%q,goversion=%q,modified=\"%t\"} 1\n", b.Version, b.Revision, b.GoVersion, b.Modified)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	var b strings.Builder
	s.metrics.render(&b, s.l.Stats())
	s.renderFeedMetrics(r.Context(), &b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, err := w.Write([]byte(b.String()))
	return err
}
