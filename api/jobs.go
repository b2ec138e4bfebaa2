package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// RunJobs runs each job on its period until ctx ends. A job that did a
// full batch (ledger.JobBatchMax) runs again at once, so a backlog drains
// quickly. Every replica runs every job; each job is safe to run
// concurrently with itself (see ledger.Job).
//
// Every run is counted in /metrics (runs, failures, items, duration, last
// success) and logged as one line: job, items, ms and err. A failed run is
// logged at warn; a run that handled items at info; an idle run, and any
// run of a Quiet job (the relay runs 20 times a second), at debug.
func (s *Server) RunJobs(ctx context.Context, jobs []ledger.Job) {
	s.metrics.watchJobs(jobs)
	for _, j := range jobs {
		go func(j ledger.Job) {
			t := time.NewTicker(j.Every)
			defer t.Stop()
			for {
				start := time.Now()
				n, err := j.Run(ctx, s.l)
				if ctx.Err() != nil {
					return // stopping: the run was cut short, not failed
				}
				d := time.Since(start)
				s.metrics.jobRan(j.Name, n, err, d)
				s.logJobRun(ctx, j, n, err, d)
				if n >= ledger.JobBatchMax {
					continue
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}(j)
	}
}

// logJobRun writes the one log line of a job run.
func (s *Server) logJobRun(ctx context.Context, j ledger.Job, n int, err error, d time.Duration) {
	level := slog.LevelDebug
	switch {
	case err != nil:
		level = slog.LevelWarn
	case n > 0 && !j.Quiet:
		level = slog.LevelInfo
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("job", j.Name), slog.Int("items", n), slog.Float64("ms", float64(d.Microseconds())/1000)}
	msg := "job ran"
	if err != nil {
		msg = "job failed"
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	s.log.LogAttrs(ctx, level, msg, attrs...)
}
