package api

import (
	"context"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Job is a background task. Every replica runs every job, so each job must
// be safe to run concurrently with itself (the ledger's unique constraints
// and row locks make the ones below so).
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context, l *ledger.Ledger) (int, error)
}

const jobBatchMax = 1000

// Jobs lists the background jobs, core first, then each use-case
// package's. `carbonledger job NAME` runs one once from the CLI.
func Jobs() []Job {
	all := []Job{
		{Name: "void-expired-pending", Every: time.Second, Run: func(ctx context.Context, l *ledger.Ledger) (int, error) {
			return l.VoidExpired(ctx, jobBatchMax)
		}},
	}
	for _, group := range [][]Job{pointsJobs(), registryJobs(), quotaJobs()} {
		all = append(all, group...)
	}
	return all
}

// RunJobs runs every job on its period until ctx ends. A job that did a
// full batch runs again at once, so a backlog drains quickly.
func (s *Server) RunJobs(ctx context.Context) {
	for _, j := range Jobs() {
		go func(j Job) {
			t := time.NewTicker(j.Every)
			defer t.Stop()
			for {
				n, err := j.Run(ctx, s.l)
				if err != nil && ctx.Err() == nil {
					s.log.Warn("job failed", "job", j.Name, "err", err)
				} else if n > 0 {
					s.log.Info("job ran", "job", j.Name, "items", n)
				}
				if n >= jobBatchMax {
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
