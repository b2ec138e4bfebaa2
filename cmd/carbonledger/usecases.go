package main

import (
	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// useCases is the one list of use cases. migrate runs their data
// migrations, seed their seeds (in this order), serve their jobs, and
// verify (and GET /v1/audit/verify) their checks. A new use case is one
// line here (docs/architecture.md, "Adding a use case").
func useCases() []ledger.UseCase {
	return []ledger.UseCase{points.UseCase, quota.UseCase, registry.UseCase}
}
