package api

import (
	"context"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// RunJobs runs each job on its period until ctx ends. A job that did a
// full batch (ledger.JobBatchMax) runs again at once, so a backlog drains
// quickly. Every replica runs every job; each job is safe to run
// concurrently with itself (see ledger.Job).
func (s *Server) RunJobs(ctx context.Context, jobs []ledger.Job) {
	for _, j := range jobs {
		go func(j ledger.Job) {
			t := time.NewTicker(j.Every)
			defer t.Stop()
			for {
				n, err := j.Run(ctx, s.l)
				if err != nil && ctx.Err() == nil {
					s.log.Warn("job failed", "job", j.Name, "err", err)
				} else if n > 0 && !j.Quiet {
					s.log.Info("job ran", "job", j.Name, "items", n)
				}
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
