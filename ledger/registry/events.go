package registry

import (
	"strings"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// The facts the registry publishes on the change feed (docs/events.md),
// each written by Writer.Emit in the database transaction that makes it
// true. Every decision of the registry's trail is one too, typed
// "registry.<decision>" ("registry.batch.issued", "registry.holder.freeze",
// "registry.units.cancelled", …); these are the movements of units.
const (
	EventTransferred   = "registry.units.transferred" // body Transfer
	EventTradeOffered  = "registry.trade.offered"     // body Trade
	EventTradeAccepted = "registry.trade.accepted"    // body Trade
	EventTradeCanceled = "registry.trade.cancelled"   // body Trade
	EventRetired       = "registry.units.retired"     // body Certificate
	EventOffset        = "registry.units.offset"      // body Offset
)

// TrailEventData is the body of the events that are the registry's trail
// decisions (registry.holder.freeze, registry.units.cancelled, …).
type TrailEventData struct {
	Subject string            `json:"subject"`
	Actor   string            `json:"actor"`
	Detail  map[string]string `json:"detail"`
}

// holdersSee is the visibility of a fact about holdings: their holders.
func holdersSee(holders ...string) ledger.Visibility {
	v := make(ledger.Visibility, 0, len(holders))
	for _, h := range holders {
		v = append(v, "holder:"+h)
	}
	return v
}

// subjectSees is the visibility of a trail decision, from its subject:
// a holding's holder, a verifier's organisation; nothing for the
// province's own records (policies), which only the province sees.
func subjectSees(subject string) ledger.Visibility {
	kind, id, _ := strings.Cut(subject, ":")
	switch kind {
	case "holder":
		return holdersSee(id)
	case "verifier":
		return ledger.Visibility{ledger.SeenByOrg(id)}
	case "obligation":
		if ent, _, ok := strings.Cut(id, "/"); ok {
			return ledger.Visibility{"holder:" + ent, "enterprise:" + ent}
		}
	}
	return nil
}

// batchSees is the visibility of a certification batch: its operator and
// its verifier.
func batchSees(b Batch) ledger.Visibility {
	v := ledger.Visibility{"operator:" + b.Operator}
	if b.Verifier != "" {
		v = append(v, ledger.SeenByOrg(b.Verifier))
	}
	return v
}
