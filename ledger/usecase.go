package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// A use case (points, registry, quota, …) registers itself once, as a
// UseCase value: its seed, its invariant checks and its background jobs.
// cmd holds the one list; `carbonledger verify`, GET /v1/audit/verify,
// `carbonledger seed` and the job runner read everything from it, so a
// new use case is wired by adding one line there.
type UseCase struct {
	Name string
	// Migrate is the use case's Go-side data migration, run by
	// `carbonledger migrate` after the SQL files (for what SQL cannot do
	// portably, such as hashing existing rows). Idempotent; may be nil.
	Migrate func(ctx context.Context, l *Ledger) error
	Seed    func(ctx context.Context, l *Ledger) error // demo and default data; idempotent; may be nil
	Checks  []Check
	Jobs    []Job
}

// Check is one invariant of a use case, evaluated on a read snapshot: its
// own rows against each other and against the journal. Each problem names
// its table and row (Problem.Table, Problem.Row); VerifyAll sets UseCase.
type Check struct {
	Name string
	Run  func(r *Reader) ([]Problem, error)
}

// Job is a background task. Every replica runs every job, so each job must
// be safe to run concurrently with itself (unique constraints, row locks
// and SKIP LOCKED make them so). Run returns how many items it handled;
// a job that handled JobBatchMax runs again at once.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context, l *Ledger) (int, error)
	// Quiet jobs run often and handle items on most runs (the feed's
	// relay): the runner logs their runs at debug level only.
	Quiet bool
	// Lag, when set, is the age of the oldest item the job should already
	// have handled (0 when none): /metrics exports it per job, so a job
	// that stopped or cannot keep up shows before its backlog does harm.
	// It must be cheap (one index read): it runs on every scrape.
	Lag func(ctx context.Context, l *Ledger) (time.Duration, error)
}

// FeedRelayJob is the name of the job that stamps feed positions.
const FeedRelayJob = "relay-events"

// feedRelayEvery is the relay's period when it finds nothing: the bound
// on the delay between a commit and its event's position, when idle.
const feedRelayEvery = 50 * time.Millisecond

// JobBatchMax bounds the items one job run handles.
const JobBatchMax = 1000

// lag adapts a Ledger method to Job.Lag.
func lag(m func(*Ledger, context.Context) (time.Duration, error)) func(context.Context, *Ledger) (time.Duration, error) {
	return func(ctx context.Context, l *Ledger) (time.Duration, error) { return m(l, ctx) }
}

// CoreJobs are the engine's own background jobs.
func CoreJobs() []Job {
	return []Job{{Name: "void-expired-pending", Every: time.Second, Run: func(ctx context.Context, l *Ledger) (int, error) {
		return l.VoidExpired(ctx, JobBatchMax)
	}, Lag: lag((*Ledger).OverdueHolds)}, {Name: FeedRelayJob, Every: feedRelayEvery, Quiet: true, Run: func(ctx context.Context, l *Ledger) (int, error) {
		return l.RelayEvents(ctx, JobBatchMax)
	}, Lag: lag((*Ledger).OverdueRelay)}, {Name: "prune-events", Every: time.Minute, Run: func(ctx context.Context, l *Ledger) (int, error) {
		return l.PruneEvents(ctx, JobBatchMax)
	}}, {Name: "prune-idempotency-keys", Every: time.Minute, Run: func(ctx context.Context, l *Ledger) (int, error) {
		return l.PruneIdempotencyKeys(ctx, JobBatchMax)
	}, Lag: lag((*Ledger).OverdueIdempotencyKeys)}}
}

// AllJobs is the engine's jobs followed by every use case's.
func AllJobs(ucs []UseCase) []Job {
	jobs := CoreJobs()
	for _, uc := range ucs {
		jobs = append(jobs, uc.Jobs...)
	}
	return jobs
}

// SeedAll runs every use case's seed, in order. Seeds are idempotent.
func SeedAll(ctx context.Context, l *Ledger, ucs []UseCase) error {
	for _, uc := range ucs {
		if uc.Seed == nil {
			continue
		}
		if err := uc.Seed(ctx, l); err != nil {
			return fmt.Errorf("seed %s: %w", uc.Name, err)
		}
	}
	return nil
}

// MigrateAll runs every use case's Go-side data migration, in order.
func MigrateAll(ctx context.Context, l *Ledger, ucs []UseCase) error {
	for _, uc := range ucs {
		if uc.Migrate == nil {
			continue
		}
		if err := uc.Migrate(ctx, l); err != nil {
			return fmt.Errorf("migrate %s: %w", uc.Name, err)
		}
	}
	return nil
}

// VerifyAll is the one verification of everything: the engine's journal
// (Verify), every trail chain, the checkpoints, account statuses against
// their decisions and the idempotency store's results against the journal
// (integrity.go), and every check of every use case, in one report. Each
// problem names its use case, table and row. The journal is verified in
// full; VerifyAllWith chooses.
func (l *Ledger) VerifyAll(ctx context.Context, ucs []UseCase) (*VerifyReport, error) {
	return l.VerifyAllWith(ctx, ucs, VerifyOptions{})
}

// verifyChecksTimeout bounds each statement of the checks VerifyAllWith
// runs after the journal (less than the 10 minutes GET /v1/audit/verify
// allows a whole verification).
const verifyChecksTimeout = 5 * time.Minute

// VerifyAllWith is VerifyAll with the journal verified as o says
// (VerifyJournal: in full or incrementally, in chunks). The other checks
// run on one snapshot after it, as in VerifyAll.
func (l *Ledger) VerifyAllWith(ctx context.Context, ucs []UseCase, o VerifyOptions) (*VerifyReport, error) {
	start := time.Now()
	if o.ChunkRows <= 0 {
		o.ChunkRows = VerifyChunkRowsDefault
	}
	rep, err := l.VerifyJournal(ctx, o)
	if err != nil {
		return nil, err
	}
	err = l.Read(ctx, func(r *Reader) error {
		// The use cases' checks are single statements over their tables,
		// which grow with the records; on this read-only snapshot (it
		// takes no lock a writer waits for) they may run longer than the
		// pool's statement timeout, so verification does not stop
		// working at a size. The journal above needs no such allowance:
		// it is read in chunks.
		if _, err := r.tx.Exec(r.ctx, fmt.Sprintf(`SET LOCAL statement_timeout = %d`, verifyChecksTimeout.Milliseconds())); err != nil {
			return err
		}
		if err := verifyTrails(r.ctx, r.tx, rep, o.ChunkRows); err != nil {
			return fmt.Errorf("verify trails: %w", err)
		}
		if err := verifyCheckpoints(r.ctx, r.tx, l.opts.CheckpointKeys, rep, o.ChunkRows); err != nil {
			return fmt.Errorf("verify checkpoints: %w", err)
		}
		if err := verifyAccountStatuses(r.ctx, r.tx, rep); err != nil {
			return fmt.Errorf("verify account statuses: %w", err)
		}
		if err := verifyIdempotencyResults(r.ctx, r.tx, rep); err != nil {
			return fmt.Errorf("verify idempotency results: %w", err)
		}
		for _, uc := range ucs {
			for _, c := range uc.Checks {
				problems, err := c.Run(r)
				if err != nil {
					return fmt.Errorf("check %s/%s: %w", uc.Name, c.Name, err)
				}
				for _, p := range problems {
					p.UseCase = uc.Name
					if p.Kind == "" {
						p.Kind = c.Name
					}
					rep.add(p)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.OK = rep.ProblemsTotal == 0
	rep.Duration = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

// RecordHash is the digest that covers a record the public relies on (a
// retirement certificate, an issuance block, an allocation): the record's
// kind and its fields, each length-prefixed so no two field lists share a
// digest. A use case stores it with the record and its check recomputes
// it, so an edit of any covered field in SQL is found and named.
func RecordHash(kind string, fields ...string) []byte {
	var b []byte
	put := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	put("carbonledger.record.v1")
	put(kind)
	for _, f := range fields {
		put(f)
	}
	s := sha256.Sum256(b)
	return s[:]
}
