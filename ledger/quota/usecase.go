package quota

import "github.com/shandong-carbon/carbonledger/ledger"

// useCaseName names the package to the engine: its trail and its problems.
const useCaseName = "quota"

// UseCase registers the two-high workflow with the engine: the seed of
// reserves and default configuration, the Go-side migration that hashes
// allocations written before record hashes, and the checks VerifyAll runs
// (the trail's chains are the engine's own check). It has no jobs: the
// flow has no timed transitions; allocations are recovered by a provincial
// decision, not a clock.
var UseCase = ledger.UseCase{
	Name:    useCaseName,
	Migrate: hashAllocations,
	Seed:    Seed,
	Checks: []ledger.Check{
		{Name: "balance", Run: checkBalances},
		{Name: "allocation_draws", Run: checkDraws},
		{Name: "record_hash", Run: checkAllocationHashes},
		{Name: "move_settlements", Run: checkMoveSettlements},
	},
}
