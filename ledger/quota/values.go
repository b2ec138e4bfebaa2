package quota

import "slices"

// The closed value sets of this package, for the API's document (enums of
// fields and query parameters): each lists the constants the code uses.

// Periods lists the report periods.
func Periods() []string { return slices.Clone(periods) }

// Flows lists the report flows.
func Flows() []string { return slices.Clone(flows) }

// SourceStatuses lists the statuses of an index source.
func SourceStatuses() []string { return []string{SourceProposed, SourceRecognised, SourceRejected} }

// ApplicationStatuses lists the statuses of an application.
func ApplicationStatuses() []string {
	return []string{StatusSubmitted, StatusCityApproved, StatusAwaitingGovernment, StatusGovernmentApproved, StatusApproved, StatusRejected}
}

// SubjectKinds lists the kinds of a trail event's subject.
func SubjectKinds() []string {
	return []string{subjectSource, subjectApplication, subjectStockpiling, subjectTransfer, subjectCorrection, subjectConfig}
}

// AllocationStatuses lists the statuses of an allocation.
func AllocationStatuses() []string {
	return []string{AllocationAllocated, AllocationConsumed, AllocationRecovered}
}

// CorrectionStatuses lists the statuses of a correction.
func CorrectionStatuses() []string {
	return []string{CorrectionProposed, CorrectionApplied, CorrectionRejected}
}
