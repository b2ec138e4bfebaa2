package points

// The closed value sets of this package, for the API's document (enums of
// fields): each lists the constants the code uses.

// ActivityTypes lists the types of an activity line.
func ActivityTypes() []string {
	return []string{ActivityEarned, ActivityClaimed, ActivityLapsed, ActivityExpired, ActivityRedeemed, ActivityDonated, ActivityReversed, ActivityAdjusted}
}

// RecordStatuses lists the statuses of a reported record (and of a stored
// behaviour, which is never rejected).
func RecordStatuses() []string {
	return []string{StatusCredited, StatusDuplicate, StatusCapReached, StatusRejected}
}
