package quota

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The trail is the engine's (ledger.Writer.Trail): use case "quota",
// subject "<kind>:<id>", as migration 0005 moved the old quota_events.
// The engine numbers, chains and verifies it; Event keeps the JSON shape
// the API has always returned.

// Event is one state change in the trail: who, when, why, and what.
type Event struct {
	SubjectID   uuid.UUID         `json:"subject_id"`
	SubjectKind string            `json:"subject_kind"`
	Seq         int64             `json:"seq"`
	Action      string            `json:"action"`
	Actor       string            `json:"actor"`
	ActorOrg    string            `json:"actor_org,omitempty"`
	ActorCity   string            `json:"actor_city,omitempty"`
	Reason      string            `json:"reason"`
	Detail      map[string]string `json:"detail"`
	TxID        *uuid.UUID        `json:"transaction_id,omitempty"`
	At          time.Time         `json:"at"`
}

// Subject kinds of the trail.
const (
	subjectSource      = "source"
	subjectApplication = "application"
	subjectStockpiling = "stockpiling"
	subjectTransfer    = "transfer"
	subjectCorrection  = "correction"
	subjectConfig      = "config"
)

// record appends an event to a subject's trail. The caller holds the
// subject's lock (its row FOR UPDATE, or it has just created it).
func record(w *ledger.Writer, actor ledger.Actor, kind string, subject uuid.UUID, action, reason string, detail map[string]string, txID *uuid.UUID) error {
	if detail == nil {
		detail = map[string]string{}
	}
	return w.Trail(useCaseName, kind+":"+subject.String(), action, actor, reason, detail, txID)
}

// trail reads a subject's events in order (the first ledger.TrailEventsMax).
func trail(j ledger.Journal, kind string, subject uuid.UUID) ([]Event, error) {
	evs, err := j.Trail(useCaseName, kind+":"+subject.String())
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{SubjectID: subject, SubjectKind: kind, Seq: e.Seq, Action: e.Event, Actor: e.Actor, ActorOrg: e.ActorOrg,
			ActorCity: e.ActorCity, Reason: e.Reason, TxID: e.TxID, At: e.At}
		if err := json.Unmarshal(e.Body, &out[i].Detail); err != nil {
			return nil, err
		}
	}
	return out, nil
}
