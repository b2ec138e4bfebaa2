package api

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// The change feed over HTTP (docs/events.md): GET /v1/events reads the
// events after a cursor that the caller may see, in position order, and
// with wait=N long-polls up to N seconds for the next ones.

// Named limits of the feed's read.
const (
	eventsWaitMax      = 30 * time.Second
	eventsPollEvery    = 250 * time.Millisecond // other replicas' relays are seen by polling
	eventsTypesMax     = 32
	eventsDeadlineSlop = time.Second // stop waiting this long before the request's deadline
)

// eventsPage is the answer of GET /v1/events. next_cursor is where to
// read on from (it moves on even when no event was visible in the window
// looked at); head is the feed's last position.
type eventsPage struct {
	Items      []ledger.Event `json:"items"`
	NextCursor string         `json:"next_cursor"`
	Head       string         `json:"head"`
}

func (s *Server) eventRoutes() []route {
	return []route{
		{Method: "GET", Path: "/v1/events", Tag: "events",
			Summary: "read the change feed after a cursor (after=, type=, limit=, wait= up to 30 s), scoped to what the caller may see",
			Query:   eventsQueryParams(), Out: eventsPage{}, Handler: s.handleEvents},
	}
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	q, wait, err := eventsQuery(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	until := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Add(-eventsDeadlineSlop).Before(until) {
		until = d.Add(-eventsDeadlineSlop)
	}
	for {
		// Take the signal before reading, so a stamp between the read and
		// the wait is not missed.
		changed := s.l.FeedChanged()
		page, err := s.l.Events(ctx, a, q)
		if err != nil {
			return err
		}
		left := time.Until(until)
		if len(page.Items) > 0 || left <= 0 {
			return writeJSON(w, http.StatusOK, eventsPage{Items: page.Items, NextCursor: strconv.FormatInt(page.Next, 10), Head: strconv.FormatInt(page.Head, 10)})
		}
		// Nothing visible yet: read on from the end of the window looked at.
		q.After = page.Next
		if page.Next < page.Head {
			continue // more of the feed to look through before waiting
		}
		if err := waitFeed(ctx, changed, min(left, eventsPollEvery)); err != nil {
			return err
		}
	}
}

// waitFeed waits for the relay's signal, a poll period or the end of ctx.
func waitFeed(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ledger.Errf(ledger.CodeUnavailable, "request cancelled while waiting for events")
	case <-changed:
	case <-t.C:
	}
	return nil
}

// eventsQueryParams are the parameters GET /v1/events declares.
func eventsQueryParams() []queryParam {
	zero, pageMax, waitMax := int64(0), int64(ledger.EventsPageMax), int64(eventsWaitMax/time.Second)
	one := int64(1)
	return []queryParam{
		{Name: "after", Type: "integer", Minimum: &zero, Default: 0, Description: "the position read last (next_cursor of the previous read); 0 reads from the start"},
		{Name: "type", Type: "string", Pattern: `^[a-z0-9._]+(,[a-z0-9._]+)*$`, Description: "only these event types, comma-separated (components.schemas.EventType)"},
		{Name: "limit", Type: "integer", Minimum: &one, Maximum: &pageMax, Default: 100, Description: "at most this many events"},
		{Name: "wait", Type: "integer", Minimum: &zero, Maximum: &waitMax, Default: 0, Description: "seconds to wait for an event when there is none yet (long-poll)"},
	}
}

// eventsQuery reads after, type (comma-separated), limit and wait
// (seconds).
func eventsQuery(r *http.Request) (ledger.EventQuery, time.Duration, error) {
	var q ledger.EventQuery
	if c := queryGet(r, "after"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			return q, 0, ledger.Errf(ledger.CodeInvalidRequest, "after must be a feed position: a whole number, 0 or more").At("after")
		}
		q.After = n
	}
	for _, one := range strings.Split(queryGet(r, "type"), ",") {
		if one = strings.TrimSpace(one); one == "" {
			continue
		}
		if !validEventType(one) {
			return q, 0, ledger.Errf(ledger.CodeInvalidRequest, "type %q is not an event type", truncateText(one, 64)).At("type")
		}
		q.Types = append(q.Types, one)
	}
	if len(q.Types) > eventsTypesMax {
		return q, 0, ledger.Errf(ledger.CodeInvalidRequest, "at most %d types", eventsTypesMax).At("type")
	}
	if l := queryGet(r, "limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > ledger.EventsPageMax {
			return q, 0, ledger.Errf(ledger.CodeInvalidRequest, "limit must be 1 to %d", ledger.EventsPageMax).At("limit")
		}
		q.Limit = n
	}
	var wait time.Duration
	if s := queryGet(r, "wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || time.Duration(n)*time.Second > eventsWaitMax {
			return q, 0, ledger.Errf(ledger.CodeInvalidRequest, "wait must be 0 to %d seconds", int(eventsWaitMax/time.Second)).At("wait")
		}
		wait = time.Duration(n) * time.Second
	}
	return q, wait, nil
}

// validEventType: dotted lower-case words ("points.behaviour.credited").
func validEventType(t string) bool {
	if len(t) == 0 || len(t) > ledger.EventTypeBytesMax {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// eventCatalogue is every event type the feed carries and the shape of its
// data, for /openapi.json (components.schemas.EventType and EventData)
// and docs/events.md.
var eventCatalogue = func() []struct {
	Type string
	Data any
} {
	type entry = struct {
		Type string
		Data any
	}
	out := []entry{
		{ledger.EventTransaction, ledger.TransactionEventData{}},
		{ledger.EventPendingExpired, ledger.PendingExpiredEventData{}},
		{ledger.EventAccountStatusChanged, ledger.AccountStatusEventData{}},
		{points.EventBehaviourCredited, points.BehaviourEventData{}},
		{points.EventBehaviourDuplicate, points.BehaviourEventData{}},
		{points.EventBehaviourCapReached, points.BehaviourEventData{}},
		{points.EventClaimed, points.ClaimResult{}},
		{points.EventLapsed, points.ExpiryEventData{}},
		{points.EventExpired, points.ExpiryEventData{}},
		{points.EventRedeemed, points.Redemption{}},
		{points.EventDonated, points.Donation{}},
		{points.EventClawedBack, points.Clawback{}},
		{registry.EventTransferred, registry.Transfer{}},
		{registry.EventTradeOffered, registry.Trade{}},
		{registry.EventTradeAccepted, registry.Trade{}},
		{registry.EventTradeCanceled, registry.Trade{}},
		{registry.EventRetired, registry.Certificate{}},
		{registry.EventOffset, registry.Offset{}},
	}
	for _, step := range []string{"requested", "notice", "submitted", "verifier_assigned", "verified", "rejected", "issued", "withdrawn"} {
		out = append(out, entry{"registry.batch." + step, registry.Batch{}})
	}
	for _, t := range []string{"holder.freeze", "holder.unfreeze", "units.cancelled", "verifier.accredited", "policy.published"} {
		out = append(out, entry{"registry." + t, registry.TrailEventData{}})
	}
	for _, t := range []string{"source.proposed", "source.recognised", "source.rejected", "source.stockpiled", "source.corrected",
		"stockpiling.created", "application.submitted", "application.city_approved", "application.city_rejected",
		"application.escalated", "application.government_approved", "application.government_rejected", "application.approved",
		"application.rejected", "application.allocation.consumed", "application.allocation.recovered", "transfer.created",
		"correction.proposed", "correction.applied", "correction.rejected", "config.published"} {
		out = append(out, entry{"quota." + t, quota.FeedEvent{}})
	}
	return out
}()

// registerEventSchemas adds the event catalogue to the OpenAPI
// components: EventType (the enum) is the type of Event.type, and
// Event.data is any of the catalogue's data shapes (docs/events.md says
// which type carries which).
func registerEventSchemas(g *schemaGen) {
	types := make([]string, 0, len(eventCatalogue))
	var shapes []any
	seen := map[string]bool{}
	for _, e := range eventCatalogue {
		types = append(types, e.Type)
		ref := g.of(reflect.TypeOf(e.Data), false)
		if r, _ := ref["$ref"].(string); !seen[r] {
			seen[r] = true
			shapes = append(shapes, ref)
		}
	}
	g.schemas["EventType"] = map[string]any{"type": "string", "enum": types,
		"description": "the type of a change-feed event (GET /v1/events, webhooks, NATS subject carbonledger.<type>)"}
	ref, _ := g.of(reflect.TypeOf(ledger.Event{}), false)["$ref"].(string)
	ev, _ := g.schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
	props, _ := ev["properties"].(map[string]any)
	if props == nil {
		return
	}
	props["type"] = map[string]any{"$ref": "#/components/schemas/EventType"}
	props["data"] = map[string]any{"anyOf": shapes, "description": "the event's data; its shape is the type's (docs/events.md)"}
}
