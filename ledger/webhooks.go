package ledger

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Webhooks (docs/events.md): a subscriber's endpoint for the events its
// owner may see. The ledger keeps the subscriptions, queues deliveries
// from the feed (FanOutWebhooks, one feed_cursors row per webhook) and
// keeps the delivery log with its backoff; the HTTP side (signing, SSRF
// checks, the request) is package api's.

// Named limits of webhooks.
const (
	WebhooksPerOwnerMax      = 20
	WebhookURLBytesMax       = 2048
	WebhookTypesMax          = 32
	WebhookSecretsMax        = 2 // the newest and, during a rotation, the one before
	WebhookAttemptsMax       = 8 // then the delivery is failed (manual redelivery remains)
	WebhookFailuresToDisable = 20
	WebhookBackoffBase       = 5 * time.Second
	WebhookBackoffMax        = time.Hour
	WebhookDeliveriesPageMax = 200
	webhookCursorPrefix      = "webhook:"
	webhookSecretBytes       = 32
)

// Webhook statuses and delivery statuses.
const (
	WebhookActive   = "active"
	WebhookDisabled = "disabled"
	WebhookDeleted  = "deleted"

	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Webhook is a subscription. Secret is set only in the answer that
// created or rotated it.
type Webhook struct {
	ID                  uuid.UUID `json:"id"`
	OwnerRole           string    `json:"owner_role"`
	OwnerOrg            string    `json:"owner_org,omitempty"`
	OwnerCity           string    `json:"owner_city,omitempty"`
	URL                 string    `json:"url"`
	Types               []string  `json:"types"`
	Status              string    `json:"status"`
	ConsecutiveFailures int64     `json:"consecutive_failures"`
	DisabledReason      string    `json:"disabled_reason,omitempty"`
	CreatedAt           time.Time `json:"created_at"`
	Secret              string    `json:"secret,omitempty"`
	secrets             []string
}

// Secrets are the webhook's signing secrets, newest first.
func (w Webhook) Secrets() []string { return w.secrets }

// owner is the actor whose visibility the webhook delivers with.
func (w Webhook) owner() Actor {
	return Actor{Sub: "webhook:" + w.ID.String(), Role: w.OwnerRole, Org: w.OwnerOrg, City: w.OwnerCity}
}

// WebhookInput creates a webhook. The URL is checked by the caller (api
// checks its scheme and addresses against SSRF).
type WebhookInput struct {
	URL   string   `json:"url"`
	Types []string `json:"types,omitempty"` // none: every type
}

// newWebhookSecret is a Standard Webhooks secret: "whsec_" and base64 of
// random bytes.
func newWebhookSecret() string {
	b := make([]byte, webhookSecretBytes)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// canOwnWebhooks: an organisation for its own events, a city for its
// city's, the province for any.
func canOwnWebhooks(a Actor) error {
	return a.Require(RoleOperator, RoleEnterprise, RoleVerifier, RoleCity, RoleProvince)
}

// CreateWebhook registers a webhook for the actor's own events (the
// province: every event), once per idempotency key. The answer carries
// the signing secret; later reads do not.
func (l *Ledger) CreateWebhook(ctx context.Context, a Actor, key string, in WebhookInput) (Webhook, bool, error) {
	if err := canOwnWebhooks(a); err != nil {
		return Webhook{}, false, err
	}
	if in.URL == "" || len(in.URL) > WebhookURLBytesMax {
		return Webhook{}, false, Errf(CodeInvalidRequest, "url must be 1 to %d bytes", WebhookURLBytesMax).At("url")
	}
	if len(in.Types) > WebhookTypesMax {
		return Webhook{}, false, Errf(CodeInvalidRequest, "at most %d types", WebhookTypesMax).At("types")
	}
	for i, t := range in.Types {
		if t == "" || len(t) > EventTypeBytesMax {
			return Webhook{}, false, Errf(CodeInvalidRequest, "not an event type").At("types[" + strconv.Itoa(i) + "]")
		}
	}
	if in.Types == nil {
		in.Types = []string{}
	}
	return runOp(ctx, l, KeyOf(a, key), "webhook.create", in, func(tx pgx.Tx) (Webhook, error) {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM feed_webhooks WHERE owner_role = $1 AND owner_org = $2 AND owner_city = $3 AND status <> 'deleted'`,
			a.Role, a.Org, a.City).Scan(&n); err != nil {
			return Webhook{}, err
		}
		if n >= WebhooksPerOwnerMax {
			return Webhook{}, Errf(CodeLimitExceeded, "at most %d webhooks per owner", WebhooksPerOwnerMax)
		}
		now := l.now()
		w := Webhook{ID: NewID(), OwnerRole: a.Role, OwnerOrg: a.Org, OwnerCity: a.City, URL: in.URL, Types: in.Types,
			Status: WebhookActive, CreatedAt: now, Secret: newWebhookSecret()}
		b := &pgx.Batch{}
		b.Queue(`
			INSERT INTO feed_webhooks (id, owner_role, owner_org, owner_city, url, types, secrets, status, consecutive_failures, disabled_reason, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', 0, '', $8, $9, $9)`,
			w.ID, w.OwnerRole, w.OwnerOrg, w.OwnerCity, w.URL, w.Types, []string{w.Secret}, a.ID(), now)
		// It delivers what is stamped from now on, not the feed's past.
		b.Queue(`INSERT INTO feed_cursors (name, position, updated_at) SELECT $1::TEXT, position, $2::TIMESTAMPTZ FROM feed_cursors WHERE name = $3`,
			webhookCursorPrefix+w.ID.String(), now, relayCursor)
		return w, tx.SendBatch(ctx, b).Close()
	})
}

const webhookCols = `id, owner_role, owner_org, owner_city, url, types, secrets, status, consecutive_failures, disabled_reason, created_at`

func scanWebhook(r pgx.CollectableRow) (Webhook, error) {
	var w Webhook
	err := r.Scan(&w.ID, &w.OwnerRole, &w.OwnerOrg, &w.OwnerCity, &w.URL, &w.Types, &w.secrets, &w.Status, &w.ConsecutiveFailures, &w.DisabledReason, &w.CreatedAt)
	w.CreatedAt = w.CreatedAt.UTC()
	return w, err
}

// Webhooks lists the actor's webhooks (the province: all), not deleted.
func (l *Ledger) Webhooks(ctx context.Context, a Actor) ([]Webhook, error) {
	if err := canOwnWebhooks(a); err != nil {
		return nil, err
	}
	var out []Webhook
	err := l.Read(ctx, func(r *Reader) error {
		rows, err := r.tx.Query(ctx, `SELECT `+webhookCols+` FROM feed_webhooks
			WHERE status <> 'deleted' AND ($1 OR (owner_role = $2 AND owner_org = $3 AND owner_city = $4)) ORDER BY id LIMIT $5`,
			a.Is(RoleProvince), a.Role, a.Org, a.City, WebhooksPerOwnerMax*50)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanWebhook)
		return err
	})
	if out == nil {
		out = []Webhook{}
	}
	return out, err
}

// webhookFor reads and locks a webhook the actor owns (the province: any);
// another's is not_found.
func webhookFor(ctx context.Context, tx pgx.Tx, a Actor, id uuid.UUID) (Webhook, error) {
	rows, err := tx.Query(ctx, `SELECT `+webhookCols+` FROM feed_webhooks WHERE id = $1 AND status <> 'deleted' FOR UPDATE`, id)
	if err != nil {
		return Webhook{}, err
	}
	w, err := pgx.CollectExactlyOneRow(rows, scanWebhook)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !a.Is(RoleProvince) && (w.OwnerRole != a.Role || w.OwnerOrg != a.Org || w.OwnerCity != a.City)) {
		return Webhook{}, Errf(CodeNotFound, "webhook %s not found", id)
	}
	return w, err
}

// DeleteWebhook stops a webhook for good: its pending deliveries are
// dropped and its feed position released (so retention moves on).
func (l *Ledger) DeleteWebhook(ctx context.Context, a Actor, id uuid.UUID) (Webhook, error) {
	if err := canOwnWebhooks(a); err != nil {
		return Webhook{}, err
	}
	var w Webhook
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		var err error
		if w, err = webhookFor(ctx, tx, a, id); err != nil {
			return err
		}
		w.Status = WebhookDeleted
		b := &pgx.Batch{}
		b.Queue(`UPDATE feed_webhooks SET status = 'deleted', updated_at = $2 WHERE id = $1`, id, l.now())
		b.Queue(`UPDATE feed_webhook_deliveries SET status = 'failed', last_error = 'webhook deleted', updated_at = $2 WHERE webhook_id = $1 AND status = 'pending'`, id, l.now())
		b.Queue(`DELETE FROM feed_cursors WHERE name = $1`, webhookCursorPrefix+id.String())
		return tx.SendBatch(ctx, b).Close()
	})
	return w, err
}

// RotateWebhookSecret adds a new signing secret in front of the current
// one; deliveries are signed with both until the next rotation drops the
// older. The answer carries the new secret. A disabled webhook is also
// enabled again by EnableWebhook, not by a rotation.
func (l *Ledger) RotateWebhookSecret(ctx context.Context, a Actor, key string, id uuid.UUID) (Webhook, bool, error) {
	if err := canOwnWebhooks(a); err != nil {
		return Webhook{}, false, err
	}
	return runOp(ctx, l, KeyOf(a, key), "webhook.rotate", id, func(tx pgx.Tx) (Webhook, error) {
		w, err := webhookFor(ctx, tx, a, id)
		if err != nil {
			return Webhook{}, err
		}
		w.Secret = newWebhookSecret()
		w.secrets = append([]string{w.Secret}, w.secrets...)[:min(len(w.secrets)+1, WebhookSecretsMax)]
		_, err = tx.Exec(ctx, `UPDATE feed_webhooks SET secrets = $2, updated_at = $3 WHERE id = $1`, id, w.secrets, l.now())
		return w, err
	})
}

// EnableWebhook makes a disabled webhook active again, with its failure
// run cleared. Deliveries it missed while disabled were queued all the
// same (fan-out skips only deleted webhooks) and are due again now.
func (l *Ledger) EnableWebhook(ctx context.Context, a Actor, key string, id uuid.UUID) (Webhook, bool, error) {
	if err := canOwnWebhooks(a); err != nil {
		return Webhook{}, false, err
	}
	return runOp(ctx, l, KeyOf(a, key), "webhook.enable", id, func(tx pgx.Tx) (Webhook, error) {
		w, err := webhookFor(ctx, tx, a, id)
		if err != nil {
			return Webhook{}, err
		}
		w.Status, w.ConsecutiveFailures, w.DisabledReason = WebhookActive, 0, ""
		b := &pgx.Batch{}
		b.Queue(`UPDATE feed_webhooks SET status = 'active', consecutive_failures = 0, disabled_reason = '', updated_at = $2 WHERE id = $1`, id, l.now())
		b.Queue(`UPDATE feed_webhook_deliveries SET next_attempt_at = $2 WHERE webhook_id = $1 AND status = 'pending'`, id, l.now())
		return w, tx.SendBatch(ctx, b).Close()
	})
}

// FanOutWebhooks queues, for each webhook not deleted, a delivery of every
// event after its position that its owner may see and its types select,
// and moves its position on — in one database transaction per webhook, so
// a crash queues nothing twice (the deliveries' unique (webhook, event)
// would refuse it anyway). It returns how many events it looked at.
func (l *Ledger) FanOutWebhooks(ctx context.Context, limit int) (int, error) {
	var hooks []Webhook
	err := l.Read(ctx, func(r *Reader) error {
		rows, err := r.tx.Query(ctx, `SELECT `+webhookCols+` FROM feed_webhooks WHERE status <> 'deleted' ORDER BY id`)
		if err != nil {
			return err
		}
		hooks, err = pgx.CollectRows(rows, scanWebhook)
		return err
	})
	if err != nil {
		return 0, err
	}
	most := 0
	for _, w := range hooks {
		n, err := l.fanOut(ctx, w, limit)
		if err != nil {
			return most, err
		}
		most = max(most, n)
	}
	return most, nil
}

// fanOut queues one webhook's deliveries (FanOutWebhooks), w as listed:
// it may have been deleted since, and then its position is gone and
// nothing is queued.
func (l *Ledger) fanOut(ctx context.Context, w Webhook, limit int) (int, error) {
	owner := w.owner()
	return l.consume(ctx, webhookCursorPrefix+w.ID.String(), limit, false, func(tx pgx.Tx, evs []Event) error {
		var ids, types, payloads []string
		var positions []int64
		for _, e := range evs {
			if !CanSeeEvent(owner, e.Visibility) || (len(w.Types) > 0 && !slices.Contains(w.Types, e.Type)) {
				continue
			}
			p, err := json.Marshal(e)
			if err != nil {
				return err
			}
			ids, types, payloads, positions = append(ids, e.ID.String()), append(types, e.Type), append(payloads, string(p)), append(positions, e.Position)
		}
		if len(ids) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO feed_webhook_deliveries (id, webhook_id, event_id, position, event_type, payload, status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at)
			SELECT gen_random_uuid(), $1::UUID, ev::UUID, pos, typ, body, 'pending', 0, $6::TIMESTAMPTZ, 0, '', $6::TIMESTAMPTZ, $6::TIMESTAMPTZ
			FROM unnest($2::TEXT[], $3::INT8[], $4::TEXT[], $5::TEXT[]) AS v(ev, pos, typ, body)
			ON CONFLICT (webhook_id, event_id) DO NOTHING`, w.ID, ids, positions, types, payloads, l.now())
		return err
	})
}

// Delivery is one event's delivery to one webhook: the log's row.
type Delivery struct {
	ID            uuid.UUID       `json:"id"`
	WebhookID     uuid.UUID       `json:"webhook_id"`
	EventID       uuid.UUID       `json:"event_id"`
	Position      int64           `json:"position"`
	EventType     string          `json:"event_type"`
	Status        string          `json:"status"`
	Attempts      int64           `json:"attempts"`
	NextAttemptAt time.Time       `json:"next_attempt_at"`
	LastStatus    int64           `json:"last_status,omitempty"` // the receiver's HTTP status; 0 none
	LastError     string          `json:"last_error,omitempty"`
	Payload       json.RawMessage `json:"-"`
	URL           string          `json:"-"`
	Secrets       []string        `json:"-"`
}

const deliveryCols = `d.id, d.webhook_id, d.event_id, d.position, d.event_type, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error`

func scanDelivery(r pgx.CollectableRow) (Delivery, error) {
	var d Delivery
	err := r.Scan(d.targets()...)
	d.NextAttemptAt = d.NextAttemptAt.UTC()
	return d, err
}

// targets are the scan destinations of deliveryCols, in order.
func (d *Delivery) targets() []any {
	return []any{&d.ID, &d.WebhookID, &d.EventID, &d.Position, &d.EventType, &d.Status, &d.Attempts, &d.NextAttemptAt, &d.LastStatus, &d.LastError}
}

// ClaimDeliveries takes up to limit due deliveries of active webhooks
// (FOR UPDATE SKIP LOCKED, so replicas share the work) and moves their
// next attempt lease ahead, so a deliverer that dies mid-request leaves
// them due again. The caller sends each and reports with RecordDelivery.
func (l *Ledger) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]Delivery, error) {
	limit = min(max(limit, 1), JobBatchMax)
	var out []Delivery
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+deliveryCols+`, d.payload, w.url, w.secrets
			FROM feed_webhook_deliveries d JOIN feed_webhooks w ON w.id = d.webhook_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.status = 'active'
			ORDER BY d.next_attempt_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED`, l.now(), limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
			var d Delivery
			var payload string
			err := r.Scan(append(d.targets(), &payload, &d.URL, &d.Secrets)...)
			d.NextAttemptAt, d.Payload = d.NextAttemptAt.UTC(), json.RawMessage(payload)
			return d, err
		})
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]uuid.UUID, len(out))
		for i, d := range out {
			ids[i] = d.ID
		}
		_, err = tx.Exec(ctx, `UPDATE feed_webhook_deliveries SET next_attempt_at = $2 WHERE id = ANY($1)`, ids, l.now().Add(lease))
		return err
	})
	return out, err
}

// DeliveryOutcome is what one attempt got: the receiver's status (0 when
// no answer) and the error, if it failed.
type DeliveryOutcome struct {
	OK         bool
	HTTPStatus int
	Error      string
}

// webhookBackoff is the wait after the failed-th attempt: exponential from
// WebhookBackoffBase, capped, with full jitter in its upper half.
func webhookBackoff(failed int64) time.Duration {
	d := WebhookBackoffBase << min(failed-1, 16)
	d = min(d, WebhookBackoffMax)
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

// RecordDelivery records an attempt: delivered; or failed, with the next
// attempt after a backoff, or for good after WebhookAttemptsMax. A run of
// WebhookFailuresToDisable failed attempts in a row disables the webhook;
// a success ends the run.
func (l *Ledger) RecordDelivery(ctx context.Context, id uuid.UUID, out DeliveryOutcome) error {
	return l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		var hook uuid.UUID
		var attempts int64
		err := tx.QueryRow(ctx, `SELECT webhook_id, attempts FROM feed_webhook_deliveries WHERE id = $1 AND status = 'pending' FOR UPDATE`, id).Scan(&hook, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // redelivered or deleted meanwhile
		}
		if err != nil {
			return err
		}
		attempts++
		now := l.now()
		msg := out.Error
		if len(msg) > 500 {
			msg = msg[:500]
		}
		b := &pgx.Batch{}
		if out.OK {
			b.Queue(`UPDATE feed_webhook_deliveries SET status = 'delivered', attempts = $2, last_status = $3, last_error = '', updated_at = $4 WHERE id = $1`,
				id, attempts, out.HTTPStatus, now)
			b.Queue(`UPDATE feed_webhooks SET consecutive_failures = 0 WHERE id = $1 AND consecutive_failures <> 0`, hook)
			return tx.SendBatch(ctx, b).Close()
		}
		status, next := DeliveryPending, now.Add(webhookBackoff(attempts))
		if attempts >= WebhookAttemptsMax {
			status = DeliveryFailed
		}
		b.Queue(`UPDATE feed_webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4, last_status = $5, last_error = $6, updated_at = $7 WHERE id = $1`,
			id, status, attempts, next, out.HTTPStatus, msg, now)
		b.Queue(`
			UPDATE feed_webhooks SET consecutive_failures = consecutive_failures + 1,
				status = CASE WHEN consecutive_failures + 1 >= $2 AND status = 'active' THEN 'disabled' ELSE status END,
				disabled_reason = CASE WHEN consecutive_failures + 1 >= $2 AND status = 'active' THEN $3 ELSE disabled_reason END,
				updated_at = $4
			WHERE id = $1`, hook, WebhookFailuresToDisable, "disabled after a run of failed deliveries; last: "+msg, now)
		return tx.SendBatch(ctx, b).Close()
	})
}

// WebhookDeliveries is a webhook's delivery log, newest first.
func (l *Ledger) WebhookDeliveries(ctx context.Context, a Actor, id uuid.UUID) ([]Delivery, error) {
	if err := canOwnWebhooks(a); err != nil {
		return nil, err
	}
	var out []Delivery
	err := l.inTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		if _, err := webhookFor(ctx, tx, a, id); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+deliveryCols+` FROM feed_webhook_deliveries d WHERE d.webhook_id = $1 ORDER BY d.position DESC LIMIT $2`,
			id, WebhookDeliveriesPageMax)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanDelivery)
		return err
	})
	if out == nil {
		out = []Delivery{}
	}
	return out, err
}

// Redeliver makes a delivery due again now, whatever its status, with
// its attempts counted afresh.
func (l *Ledger) Redeliver(ctx context.Context, a Actor, key string, webhook, delivery uuid.UUID) (Delivery, bool, error) {
	if err := canOwnWebhooks(a); err != nil {
		return Delivery{}, false, err
	}
	type input struct{ Webhook, Delivery uuid.UUID }
	return runOp(ctx, l, KeyOf(a, key), "webhook.redeliver", input{webhook, delivery}, func(tx pgx.Tx) (Delivery, error) {
		if _, err := webhookFor(ctx, tx, a, webhook); err != nil {
			return Delivery{}, err
		}
		rows, err := tx.Query(ctx, `
			UPDATE feed_webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = $3, updated_at = $3
			WHERE d.id = $1 AND d.webhook_id = $2
			RETURNING `+deliveryCols, delivery, webhook, l.now())
		if err != nil {
			return Delivery{}, err
		}
		d, err := pgx.CollectExactlyOneRow(rows, scanDelivery)
		if errors.Is(err, pgx.ErrNoRows) {
			return Delivery{}, Errf(CodeNotFound, "delivery %s not found", delivery)
		}
		return d, err
	})
}
