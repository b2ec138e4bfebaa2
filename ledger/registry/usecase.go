package registry

import "github.com/shandong-carbon/carbonledger/ledger"

// UseCase registers the registry with the engine: its data migration
// (record hashes of rows written before they existed, serial ranges of
// trades offered before they were recorded), its seed and its invariants. It has no jobs: offers time out through the engine's
// void-expired-pending job, since a trade's status and its blocks'
// reservation are derived from whether its pending transaction was
// resolved.
var UseCase = ledger.UseCase{
	Name:    "registry",
	Migrate: migrate,
	Seed:    Seed,
	Checks:  checks(),
}
