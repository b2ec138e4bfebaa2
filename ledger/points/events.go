package points

import (
	"github.com/shandong-carbon/carbonledger/ledger"
)

// The facts points publishes on the change feed (docs/events.md), each
// written by Writer.Emit in the database transaction that makes it true.
// The engine's transaction.recorded events carry the postings; these say
// what they mean to the programme.
const (
	EventBehaviourCredited   = "points.behaviour.credited"    // body BehaviourEventData
	EventBehaviourDuplicate  = "points.behaviour.duplicate"   // body BehaviourEventData
	EventBehaviourCapReached = "points.behaviour.cap_reached" // body BehaviourEventData
	EventClaimed             = "points.claimed"               // body ClaimResult
	EventLapsed              = "points.lapsed"                // body ExpiryEventData: unclaimed credits past their window
	EventExpired             = "points.expired"               // body ExpiryEventData: available lots past their validity
	EventRedeemed            = "points.redeemed"              // body Redemption
	EventDonated             = "points.donated"               // body Donation
	EventClawedBack          = "points.clawed_back"           // body Clawback
)

// BehaviourEventData is one recorded behaviour's outcome: the record's
// result in its batch, with who reported it for whom.
type BehaviourEventData struct {
	Operator string `json:"operator"`
	Citizen  string `json:"citizen"`
	Kind     string `json:"kind"`
	RecordResult
}

// ExpiryEventData is what one expiry run took from one citizen.
type ExpiryEventData struct {
	Citizen       string `json:"citizen"`
	Points        int64  `json:"points,string"`
	Items         int    `json:"items"` // behaviours lapsed, or lots drawn down
	TransactionID string `json:"transaction_id"`
}

// citizenSees is the visibility of a fact about one citizen's points:
// the citizen and, when there is one, the operator that reported it.
func citizenSees(citizen string, operator string) ledger.Visibility {
	v := ledger.Visibility{ledger.SeenByCitizen(citizen)}
	if operator != "" {
		v = append(v, "operator:"+operator)
	}
	return v
}

// emitOutcomes publishes each recorded behaviour of a batch (rejected
// records changed nothing and publish nothing).
func (run *ingestRun) emitOutcomes(recs []BehaviourRecord) error {
	for i, r := range run.res.Results {
		var typ string
		switch r.Status {
		case StatusCredited:
			typ = EventBehaviourCredited
		case StatusDuplicate:
			typ = EventBehaviourDuplicate
		case StatusCapReached:
			typ = EventBehaviourCapReached
		default:
			continue
		}
		rec := recs[i]
		if err := run.w.Emit(typ, "citizen:"+rec.Citizen, citizenSees(rec.Citizen, run.op),
			BehaviourEventData{Operator: run.op, Citizen: rec.Citizen, Kind: rec.Kind, RecordResult: r}); err != nil {
			return err
		}
	}
	return nil
}
