package points_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// benchCitizensDefault is how many entrusting citizens the benchmark's
// batches draw from (CARBONLEDGER_BENCH_CITIZENS overrides it).
const benchCitizensDefault = 20_000

// BenchmarkIngestBatch1000 measures ingestion end to end through the Go
// API: batches of 1,000 metro records over many citizens, with dedupe,
// caps, the linked legs and the idempotency record, on the real database
// with durable commits. "serial" is one client; "clients-N" runs N
// concurrent clients. The figure is records/s.
func BenchmarkIngestBatch1000(b *testing.B) {
	l := ledgertest.Ledger(b, ledgertest.Fresh(b), ledger.Options{})
	if err := points.Seed(ctx, l); err != nil {
		b.Fatal(err)
	}
	n := benchCitizensDefault
	if v, err := strconv.Atoi(os.Getenv("CARBONLEDGER_BENCH_CITIZENS")); err == nil && v > 0 {
		n = v
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("B%07d", i)
	}
	for i := 0; i < n; i += points.CitizensPerCallMax {
		if err := points.EnsureCitizens(ctx, l, ids[i:min(i+points.CitizensPerCallMax, n)], "metro-jinan"); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	batch := func(r *rand.Rand) points.IngestInput {
		now := time.Now()
		recs := make([]points.BehaviourRecord, points.RecordsPerBatchMax)
		for i := range recs {
			recs[i] = points.BehaviourRecord{
				RecordID:   "bench-" + strconv.FormatInt(seq.Add(1), 10),
				Citizen:    ids[r.IntN(n)],
				Kind:       "metro",
				Quantity:   fmt.Sprintf("%d.%03d", 1+r.IntN(4), r.IntN(1000)),
				Unit:       "km",
				OccurredAt: now.Add(-time.Duration(r.IntN(6*60)) * time.Minute),
			}
		}
		return points.IngestInput{Records: recs}
	}
	op := operator("metro-jinan")
	ingest := func(r *rand.Rand) error {
		res, _, err := points.Ingest(ctx, l, op, key(), batch(r))
		if err != nil {
			return err
		}
		if res.Rejected > 0 {
			return fmt.Errorf("%d records rejected: %+v", res.Rejected, res.Results[0])
		}
		return nil
	}
	b.Run("serial", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if err := ingest(r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*points.RecordsPerBatchMax)/b.Elapsed().Seconds(), "records/s")
	})
	for _, clients := range []int{4, 8} {
		b.Run(fmt.Sprintf("clients-%d", clients), func(b *testing.B) {
			var stream atomic.Uint64
			b.SetParallelism((clients + 1) / 2) // × GOMAXPROCS (2 on the target machine)
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(stream.Add(1), 7))
				for pb.Next() {
					if err := ingest(r); err != nil {
						b.Error(err) // FailNow may not be called from RunParallel's goroutines
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*points.RecordsPerBatchMax)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
