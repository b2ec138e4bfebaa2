package registry

import "github.com/shandong-carbon/carbonledger/ledger"

// UseCase registers the registry with the engine: its data migration
// (record hashes of rows written before they existed), its seed and its
// invariants. It has no jobs: offers time out through the engine's
// void-expired-pending job, since a trade's status and its blocks'
// reservation are derived from whether its pending transaction was
// resolved.
var UseCase = ledger.UseCase{
	Name:    "registry",
	Migrate: hashRecords,
	Seed:    Seed,
	Checks:  checks(),
}
