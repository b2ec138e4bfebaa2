package ledger

// RetriesMaxDefault is the documented attempt bound, for the external tests.
const RetriesMaxDefault = retriesMaxDefault

// SetCockroach sets the engine flag New detected, so tests on PostgreSQL
// can check that the engine does not change inTx's bound or its COMMIT
// classification. Call it before the ledger is used.
func (l *Ledger) SetCockroach(on bool) { l.cockroach = on }
