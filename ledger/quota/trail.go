package quota

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	vis, err := visibility(w, actor, kind, subject)
	if err != nil {
		return err
	}
	// Every decision of the trail is also a fact of the change feed:
	// "quota.application.approved", "quota.source.recognised", …
	if err := w.Emit("quota."+eventAction(kind, action), kind+":"+subject.String(), vis, FeedEvent{
		SubjectID: subject, SubjectKind: kind, Action: action, Actor: actor.ID(), Reason: reason, Detail: detail, TxID: txID,
	}); err != nil {
		return err
	}
	return w.Trail(useCaseName, kind+":"+subject.String(), action, actor, reason, detail, txID)
}

// FeedEvent is the body of every quota.* event of the change feed: the
// trail's decision (docs/events.md).
type FeedEvent struct {
	SubjectID   uuid.UUID         `json:"subject_id"`
	SubjectKind string            `json:"subject_kind"`
	Action      string            `json:"action"`
	Actor       string            `json:"actor"`
	Reason      string            `json:"reason"`
	Detail      map[string]string `json:"detail"`
	TxID        *uuid.UUID        `json:"transaction_id,omitempty"`
}

// eventAction names the event: the action, prefixed with the subject's
// kind when the action does not already start with it.
func eventAction(kind, action string) string {
	if strings.HasPrefix(action, kind+".") {
		return action
	}
	return kind + "." + action
}

// visibility is who may see a decision about a subject besides the
// province: the enterprise and the city the subject belongs to, read from
// its row, and the actor's own organisation or city.
func visibility(w *ledger.Writer, actor ledger.Actor, kind string, subject uuid.UUID) (ledger.Visibility, error) {
	var enterprise, city []string
	var q string
	switch kind {
	case subjectSource:
		q = `SELECT ARRAY[enterprise], ARRAY[city] FROM quota_sources WHERE id = $1`
	case subjectApplication:
		q = `SELECT ARRAY[enterprise], ARRAY[city] FROM quota_applications WHERE id = $1`
	case subjectStockpiling:
		q = `SELECT ARRAY[s.enterprise], ARRAY[s.city, p.city] FROM quota_stockpilings p JOIN quota_sources s ON s.id = p.source_id WHERE p.id = $1`
	case subjectCorrection:
		q = `SELECT ARRAY[s.enterprise], ARRAY[s.city, c.holder] FROM quota_corrections c JOIN quota_sources s ON s.id = c.source_id WHERE c.id = $1`
	case subjectTransfer:
		q = `SELECT ARRAY[]::TEXT[], ARRAY[from_reserve, to_reserve] FROM quota_transfers WHERE id = $1`
	}
	if q != "" {
		err := w.Tx().QueryRow(w.Ctx(), q, subject).Scan(&enterprise, &city)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
	}
	var v ledger.Visibility
	for _, e := range enterprise {
		v = append(v, "enterprise:"+e)
	}
	for _, c := range city {
		if ShandongCity(c) {
			v = append(v, ledger.SeenByCity(c))
		}
	}
	switch {
	case actor.Is(ledger.RoleEnterprise) && actor.Org != "":
		v = append(v, "enterprise:"+actor.Org)
	case actor.Is(ledger.RoleCity) && actor.City != "":
		v = append(v, ledger.SeenByCity(actor.City))
	}
	return v, nil
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
