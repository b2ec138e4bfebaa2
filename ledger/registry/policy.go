package registry

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Policy is one version of the registry's configuration. The version in
// force at time t is the one with the latest ValidFrom ≤ t.
type Policy struct {
	ID                         string    `json:"id"`
	ValidFrom                  time.Time `json:"valid_from"`
	NoticeDays                 int       `json:"notice_days"`
	OffsetCapShare             string    `json:"offset_cap_share"`
	TradeTimeoutDefaultSeconds int64     `json:"trade_timeout_default_seconds"`
	Source                     string    `json:"source"`
	CreatedBy                  string    `json:"created_by"`
}

type policy struct {
	Policy
	capShare decimal.Decimal
}

func policyAt(j ledger.Journal, at time.Time) (policy, error) {
	var p policy
	err := j.Tx().QueryRow(j.Ctx(), `
		SELECT id, valid_from, notice_days, offset_cap_share, trade_timeout_default_seconds, source, created_by
		FROM registry_policies WHERE valid_from <= $1 ORDER BY valid_from DESC LIMIT 1`, at).
		Scan(&p.ID, &p.ValidFrom, &p.NoticeDays, &p.capShare, &p.TradeTimeoutDefaultSeconds, &p.Source, &p.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ledger.Errf(ledger.CodeInternal, "no registry policy is in force at %s", at.Format(time.RFC3339))
	}
	p.ValidFrom = p.ValidFrom.UTC()
	p.OffsetCapShare = p.capShare.StringFixed(4)
	return p, err
}

// CurrentPolicy returns the policy in force at the ledger clock.
func CurrentPolicy(ctx context.Context, l *ledger.Ledger) (Policy, error) {
	return ledger.ReadValue(ctx, l, func(r *ledger.Reader) (Policy, error) {
		p, err := policyAt(r.Journal, l.Now())
		return p.Policy, err
	})
}

// PolicyInput publishes a new policy version. ValidFrom may not be in the
// past: decisions already taken keep the version they recorded.
type PolicyInput struct {
	ID                         string    `json:"id"`
	ValidFrom                  time.Time `json:"valid_from"`
	NoticeDays                 int       `json:"notice_days"`
	OffsetCapShare             string    `json:"offset_cap_share"` // "0.05"
	TradeTimeoutDefaultSeconds int64     `json:"trade_timeout_default_seconds"`
	Source                     string    `json:"source"` // the document the values come from
}

// PublishPolicy adds a policy version (province only).
func PublishPolicy(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in PolicyInput) (Policy, bool, error) {
	if err := a.Require(ledger.RoleProvince); err != nil {
		return Policy{}, false, err
	}
	if !ledger.ValidIdent(in.ID) {
		return Policy{}, false, ledger.Errf(ledger.CodeInvalidRequest, "id must be an identifier").At("id")
	}
	if in.NoticeDays < 0 || in.NoticeDays > 90 {
		return Policy{}, false, ledger.Errf(ledger.CodeInvalidRequest, "notice_days must be 0 to 90").At("notice_days")
	}
	share, err := decimal.NewFromString(in.OffsetCapShare)
	if err != nil || share.IsNegative() || share.GreaterThan(decimal.NewFromInt(1)) || !share.Equal(share.Truncate(4)) {
		return Policy{}, false, ledger.Errf(ledger.CodeInvalidRequest, "offset_cap_share must be a decimal from 0 to 1 with at most 4 decimals").At("offset_cap_share")
	}
	if in.TradeTimeoutDefaultSeconds < 1 || in.TradeTimeoutDefaultSeconds > int64(ledger.PendingTimeoutMax/time.Second) {
		return Policy{}, false, ledger.Errf(ledger.CodeInvalidRequest, "trade_timeout_default_seconds must be 1 to %d", int64(ledger.PendingTimeoutMax/time.Second)).At("trade_timeout_default_seconds")
	}
	if err := validText(in.Source, "source", true, TextBytesMax*2); err != nil {
		return Policy{}, false, err
	}
	return run(ctx, l, a, key, "registry.policy.publish", in, func(w *ledger.Writer) (Policy, error) {
		from := in.ValidFrom.UTC().Truncate(time.Microsecond)
		if from.Before(w.Now()) {
			return Policy{}, ledger.Errf(CodePolicyInPast, "valid_from %s is before now; a policy only applies from now on", from.Format(time.RFC3339)).At("valid_from")
		}
		tag, err := w.Tx().Exec(w.Ctx(), `
			INSERT INTO registry_policies (id, valid_from, notice_days, offset_cap_share, trade_timeout_default_seconds, source, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			in.ID, from, in.NoticeDays, share, in.TradeTimeoutDefaultSeconds, in.Source, a.ID())
		if err != nil {
			return Policy{}, err
		}
		if tag.RowsAffected() == 0 {
			return Policy{}, ledger.Errf(ledger.CodeConflict, "a policy with this id or valid_from exists")
		}
		if err := event(w, a, "policy:"+in.ID, "policy.published", map[string]string{"source": in.Source}); err != nil {
			return Policy{}, err
		}
		return Policy{ID: in.ID, ValidFrom: from, NoticeDays: in.NoticeDays, OffsetCapShare: share.StringFixed(4),
			TradeTimeoutDefaultSeconds: in.TradeTimeoutDefaultSeconds, Source: in.Source, CreatedBy: a.ID()}, nil
	})
}
