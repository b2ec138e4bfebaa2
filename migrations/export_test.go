package migrations

import "time"

// Exported for the external tests of the lease.
var (
	AcquireLease = acquireLease
	KeepLease    = keepLease
)

// ShortenLease sets the lease's timings for a test and returns the undo.
func ShortenLease(duration, renew, waitMax time.Duration) func() {
	d, r, w := leaseDuration, leaseRenewEvery, leaseWaitMax
	leaseDuration, leaseRenewEvery, leaseWaitMax = duration, renew, waitMax
	return func() { leaseDuration, leaseRenewEvery, leaseWaitMax = d, r, w }
}
