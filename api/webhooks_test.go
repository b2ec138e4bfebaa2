package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// receiver is a webhook endpoint that verifies every signature with the
// secret it was given, and counts what it got by webhook-id.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	secret  string
	status  int
	got     map[string]int
	types   []string
	badSigs int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, status: http.StatusNoContent, got: map[string]int{}}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// verify checks the Standard Webhooks signature: one of the
// space-separated "v1,<base64>" values is HMAC-SHA256 of
// id.timestamp.body under the secret.
func verifyWebhook(secret, id, ts, sigs string, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || id == "" || ts == "" {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(v); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	id := r.Header.Get("webhook-id")
	if !verifyWebhook(rc.secret, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body) {
		rc.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.status < 300 {
		rc.got[id]++
		var e ledger.Event
		_ = json.Unmarshal(body, &e)
		if e.ID.String() != id {
			rc.t.Errorf("webhook-id %s is not the event's id %s", id, e.ID)
		}
		rc.types = append(rc.types, e.Type)
	}
	w.WriteHeader(rc.status)
}

func (rc *receiver) set(secret string, status int) {
	rc.mu.Lock()
	rc.secret, rc.status = secret, status
	rc.mu.Unlock()
}

// loopbackTLS lets the harness deliver to the receiver: loopback allowed,
// and the test server's certificate trusted. http stays refused.
func loopbackTLS(rc *receiver) harnessOpt {
	pool := x509.NewCertPool()
	pool.AddCert(rc.srv.Certificate())
	return func(c *Config, _ *ledger.Options) {
		c.Webhooks = WebhookPolicy{AllowLoopback: true, RootCAs: pool}
	}
}

// pump runs the feed's jobs once each: relay, fan-out, deliver.
func (h *harness) pump() int {
	h.t.Helper()
	h.relay()
	ctx := context.Background()
	if _, err := h.l.FanOutWebhooks(ctx, ledger.JobBatchMax); err != nil {
		h.t.Fatal(err)
	}
	n, err := h.server.DeliverWebhooks(ctx, h.l)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestWebhookSSRFRefusals(t *testing.T) {
	h := newHarness(t, true)
	ent := h.token(ledger.RoleEnterprise, "u", "ssrf-e", "")
	for _, u := range []string{
		"http://example.com/hook",          // not https
		"https://127.0.0.1/hook",           // loopback
		"https://[::1]/hook",               // loopback
		"https://10.1.2.3/hook",            // private
		"https://192.168.0.10/hook",        // private
		"https://172.16.5.4/hook",          // private
		"https://169.254.169.254/latest",   // metadata (link-local)
		"https://[fe80::1]/hook",           // link-local
		"https://[fd00:ec2::254]/hook",     // private (the v6 metadata address)
		"https://100.64.0.1/hook",          // shared address space
		"https://0.0.0.0/hook",             // unspecified
		"https://user:pw@203.0.113.9/hook", // credentials
		"ftp://203.0.113.9/hook",
		"/relative",
		"https://localhost/hook", // resolves to loopback
	} {
		h.post("/v1/webhooks", ent, map[string]any{"url": u}).want(t, http.StatusUnprocessableEntity, "webhook_url_refused")
	}
	h.post("/v1/webhooks", ent, map[string]any{"url": "https://203.0.113.9/hook", "types": []string{"Bad Type"}}).want(t, 400, "invalid_request")
	h.post("/v1/webhooks", h.token(ledger.RoleCitizen, "C1", "", ""), map[string]any{"url": "https://203.0.113.9/hook"}).want(t, 403, "forbidden")
	// A public address is accepted (nothing is sent here).
	r := h.post("/v1/webhooks", ent, map[string]any{"url": "https://203.0.113.9/hook"}).want(t, 201)
	if !strings.HasPrefix(r.str("secret"), "whsec_") {
		t.Fatalf("no secret in %s", r.Body)
	}
	// The dialer refuses a refused address even if the URL check passed
	// (a name that resolves elsewhere later).
	p := WebhookPolicy{}
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"} {
		if p.checkIP(net.ParseIP(ip)) == nil {
			t.Errorf("%s allowed", ip)
		}
	}
	if p.checkIP(net.ParseIP("203.0.113.9")) != nil {
		t.Error("a public address refused")
	}
}

// TestWebhookDeliveryEndToEnd: a subscriber gets exactly the events its
// owner may see and its types select, each signed and verified; a
// deliverer killed after claiming (before sending) leaves them to the
// next run, which delivers each once; failures back off and a run of them
// disables the webhook; redelivery and rotation work.
func TestWebhookDeliveryEndToEnd(t *testing.T) {
	rc := newReceiver(t)
	h := newHarness(t, true, loopbackTLS(rc))
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	ent := h.token(ledger.RoleEnterprise, "u", "wh-a", "")
	h.post("/v1/webhooks", ent, map[string]any{"url": "http://" + strings.TrimPrefix(rc.srv.URL, "https://") + "/hook"}).want(t, 422, "webhook_url_refused")
	r := h.post("/v1/webhooks", ent, map[string]any{"url": rc.srv.URL + "/hook", "types": []string{ledger.EventTransaction}}).want(t, 201)
	hook, secret := r.str("id"), r.str("secret")
	rc.set(secret, http.StatusNoContent)
	if list := h.get("/v1/webhooks", ent).want(t, 200).JSON["items"].([]any); len(list) != 1 || list[0].(map[string]any)["secret"] != nil {
		t.Fatalf("list %v: one webhook, without its secret", list)
	}
	h.get("/v1/webhooks/"+hook+"/deliveries", h.token(ledger.RoleEnterprise, "u", "wh-b", "")).want(t, 404, "not_found")

	h.openFunded(prov, "50.00", "wh-a", "wh-b", "wh-c")
	h.post("/v1/transactions", prov, transfer("org:wh-b:CNY", "org:wh-c:CNY", "1.00")).want(t, 201) // not wh-a's
	h.post("/v1/transactions", prov, transfer("org:wh-a:CNY", "org:wh-b:CNY", "2.00")).want(t, 201)

	// The deliverer claims the deliveries and dies before sending them.
	h.relay()
	if _, err := h.l.FanOutWebhooks(context.Background(), ledger.JobBatchMax); err != nil {
		t.Fatal(err)
	}
	claimed, err := h.l.ClaimDeliveries(context.Background(), 100, webhookLease)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %d (%v), want wh-a's deposit and transfer", len(claimed), err)
	}
	if n := h.pump(); n != 0 {
		t.Fatalf("a claimed delivery was sent again before its lease ended (%d)", n)
	}
	h.advance(webhookLease + time.Second)
	if n := h.pump(); n != 2 {
		t.Fatalf("after the lease: %d sent, want 2", n)
	}
	h.pump()
	rc.mu.Lock()
	if len(rc.got) != 2 || rc.badSigs != 0 {
		t.Fatalf("receiver got %v with %d bad signatures, want 2 events once each", rc.got, rc.badSigs)
	}
	for id, n := range rc.got {
		if n != 1 {
			t.Fatalf("event %s delivered %d times", id, n)
		}
	}
	rc.mu.Unlock()

	// Rotation: deliveries carry both signatures; the new secret verifies.
	r = h.post("/v1/webhooks/"+hook+"/rotate-secret", ent, nil).want(t, 201)
	rc.set(r.str("secret"), http.StatusInternalServerError)
	// Failures back off, end a delivery after WebhookAttemptsMax attempts
	// and a run of them disables the webhook.
	for i := 0; i < 3; i++ {
		h.post("/v1/transactions", prov, transfer("org:wh-a:CNY", "org:wh-b:CNY", "1.00")).want(t, 201)
	}
	h.pump()
	if n := h.pump(); n != 0 {
		t.Fatalf("a failed delivery was retried at once (%d): it must back off", n)
	}
	for i := 0; i < 40; i++ {
		h.advance(ledger.WebhookBackoffMax)
		h.pump()
	}
	list := h.get("/v1/webhooks", ent).want(t, 200).JSON["items"].([]any)
	if st := list[0].(map[string]any)["status"]; st != ledger.WebhookDisabled {
		t.Fatalf("after a run of failures the webhook is %v", st)
	}
	log := h.get("/v1/webhooks/"+hook+"/deliveries", ent).want(t, 200).JSON["items"].([]any)
	if len(log) != 5 {
		t.Fatalf("delivery log has %d rows, want 5", len(log))
	}
	failed := log[0].(map[string]any)
	if failed["last_status"] != float64(500) || failed["attempts"] == float64(0) {
		t.Fatalf("newest delivery %v", failed)
	}
	// The bounds themselves: no delivery is tried more than
	// WebhookAttemptsMax times, one that is "failed" was tried exactly
	// that often, and the three failing ones made the run that disabled.
	run := 0.0
	for _, d := range log[:3] {
		d := d.(map[string]any)
		n, _ := d["attempts"].(float64)
		if n > ledger.WebhookAttemptsMax || d["status"] == ledger.DeliveryFailed && n != ledger.WebhookAttemptsMax {
			t.Fatalf("delivery tried %v times with status %v (at most %d)", n, d["status"], ledger.WebhookAttemptsMax)
		}
		run += n
	}
	if run < ledger.WebhookFailuresToDisable {
		t.Fatalf("disabled after %v failed attempts, want a run of %d", run, ledger.WebhookFailuresToDisable)
	}
	rc.mu.Lock()
	if rc.badSigs != 0 {
		t.Fatalf("%d deliveries failed verification after the rotation", rc.badSigs)
	}
	rc.mu.Unlock()

	// The receiver is fixed: redeliver one, enable the webhook.
	rc.set(rc.secret, http.StatusOK)
	d := h.post("/v1/webhooks/"+hook+"/deliveries/"+failed["id"].(string)+"/redeliver", ent, nil).want(t, 201)
	if d.str("status") != ledger.DeliveryPending {
		t.Fatalf("redelivery %s", d.Body)
	}
	h.post("/v1/webhooks/"+hook+"/enable", ent, nil).want(t, 201)
	h.pump()
	h.pump()
	rc.mu.Lock()
	if len(rc.got) < 3 {
		t.Fatalf("after enabling: %d events delivered", len(rc.got))
	}
	rc.mu.Unlock()
	if st := h.do("DELETE", "/v1/webhooks/"+hook, ent, nil).want(t, http.StatusOK).str("status"); st != ledger.WebhookDeleted {
		t.Fatalf("deleted webhook status %q", st)
	}
	if list := h.get("/v1/webhooks", ent).want(t, 200).JSON["items"].([]any); len(list) != 0 {
		t.Fatalf("after delete: %v", list)
	}
}

// TestSignWebhookStandardVector: the example of the Standard Webhooks
// specification, and two secrets give two signatures, newest first.
func TestSignWebhookStandardVector(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	if got := SignWebhook([]string{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body); got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %q", got)
	}
	two := SignWebhook([]string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("new-key")), secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	if parts := strings.Fields(two); len(parts) != 2 || parts[1] != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("two secrets: %q", two)
	}
	if !verifyWebhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", two, body) {
		t.Fatal("the receiver's check refuses the old secret during a rotation")
	}
}

// A delivery that keeps failing is tried exactly WebhookAttemptsMax times
// and is then failed for good (manual redelivery remains); fewer failures
// than WebhookFailuresToDisable leave the webhook active.
func TestWebhookDeliveryAttemptsAreBounded(t *testing.T) {
	rc := newReceiver(t)
	h := newHarness(t, true, loopbackTLS(rc))
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	ent := h.token(ledger.RoleEnterprise, "u", "wb-a", "")
	r := h.post("/v1/webhooks", ent, map[string]any{"url": rc.srv.URL + "/hook", "types": []string{ledger.EventTransaction}}).want(t, 201)
	hook := r.str("id")
	rc.set(r.str("secret"), http.StatusInternalServerError)
	h.openFunded(prov, "10.00", "wb-a")
	for i := 0; i < 3*ledger.WebhookAttemptsMax; i++ {
		h.pump()
		h.advance(ledger.WebhookBackoffMax)
	}
	log := h.get("/v1/webhooks/"+hook+"/deliveries", ent).want(t, 200).JSON["items"].([]any)
	if len(log) != 1 {
		t.Fatalf("delivery log %v", log)
	}
	d := log[0].(map[string]any)
	if d["status"] != ledger.DeliveryFailed || d["attempts"] != float64(ledger.WebhookAttemptsMax) {
		t.Fatalf("delivery after a run of failures: %v (want failed after %d attempts)", d, ledger.WebhookAttemptsMax)
	}
	if st := h.get("/v1/webhooks", ent).want(t, 200).JSON["items"].([]any)[0].(map[string]any)["status"]; st != "active" {
		t.Fatalf("webhook %v after %d failures (disables after %d)", st, ledger.WebhookAttemptsMax, ledger.WebhookFailuresToDisable)
	}
}
