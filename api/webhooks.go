package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Webhooks over HTTP (docs/events.md): subscriptions, and their delivery
// signed as the Standard Webhooks specification describes. The ledger
// keeps the subscriptions, the queue and the log; this file checks
// destinations against SSRF, signs and sends.

// Named limits of webhook delivery.
const (
	webhookTimeout         = 10 * time.Second
	webhookLease           = 3 * webhookTimeout // a claimed delivery is due again after this
	webhookPerRunMax       = 64
	webhookSendersMax      = 8
	webhookResponseMax     = 4 << 10
	webhookDeliverEvery    = 500 * time.Millisecond
	webhookFanOutEvery     = 200 * time.Millisecond
	codeWebhookURLRefused  = ledger.Code("webhook_url_refused")
	webhookUserAgent       = "carbonledger-webhooks/1"
	webhookSignatureScheme = "v1"
)

// WebhookPolicy says which destinations webhooks may have. The zero value
// is the production rule: https only, to public addresses.
type WebhookPolicy struct {
	AllowHTTP     bool           // plain http (development)
	AllowLoopback bool           // 127.0.0.0/8, ::1 (tests)
	AllowPrivate  bool           // private, link-local and metadata addresses
	RootCAs       *x509.CertPool // nil: the system's
}

// cgnat is 100.64.0.0/10, shared address space, not public either.
var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

// checkIP refuses the addresses a webhook must not reach.
func (p WebhookPolicy) checkIP(ip net.IP) error {
	switch {
	case ip == nil:
		return errorf(codeWebhookURLRefused, "not an IP address")
	case ip.IsLoopback():
		if !p.AllowLoopback {
			return errorf(codeWebhookURLRefused, "%s is a loopback address", ip)
		}
	case ip.IsUnspecified(), ip.IsMulticast():
		return errorf(codeWebhookURLRefused, "%s is not a unicast address", ip)
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), cgnat.Contains(ip), ip.To4() != nil && ip.To4()[0] == 0:
		// Link-local covers the cloud metadata address 169.254.169.254.
		if !p.AllowPrivate {
			return errorf(codeWebhookURLRefused, "%s is a private, link-local or metadata address", ip)
		}
	}
	return nil
}

// checkURL checks a destination: absolute https (or http when allowed),
// no credentials, and every address its host resolves to allowed. The
// dialer checks the address again at connection time (DNS may change).
func (p WebhookPolicy) checkURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return ledger.Errf(codeWebhookURLRefused, "url must be an absolute https URL").At("url")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && p.AllowHTTP) {
		return ledger.Errf(codeWebhookURLRefused, "url must use https").At("url")
	}
	if u.User != nil || u.Fragment != "" {
		return ledger.Errf(codeWebhookURLRefused, "url must not carry credentials or a fragment").At("url")
	}
	host := u.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
		if err != nil || len(addrs) == 0 {
			return ledger.Errf(codeWebhookURLRefused, "the url's host %q does not resolve", host).At("url")
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	for _, ip := range ips {
		if err := p.checkIP(ip); err != nil {
			return ledger.Errf(codeWebhookURLRefused, "the url's host %s: %s", host, strings.TrimPrefix(err.Error(), string(codeWebhookURLRefused)+": ")).At("url")
		}
	}
	return nil
}

// client is the HTTP client of deliveries: no proxy, no redirects, a
// timeout, and the policy checked on the address actually dialled.
func (p WebhookPolicy) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		return p.checkIP(net.ParseIP(host))
	}}
	return &http.Client{
		Timeout: webhookTimeout,
		Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: webhookTimeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SignWebhook is the Standard Webhooks signature header value: for each
// secret ("whsec_" + base64 key), "v1," + base64(HMAC-SHA256(key,
// id "." timestamp "." body)), separated by spaces.
func SignWebhook(secrets []string, id string, timestamp int64, body []byte) string {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			continue
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
		mac.Write(body)
		sigs = append(sigs, webhookSignatureScheme+","+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

func (s *Server) webhookRoutes() []route {
	owners := []string{ledger.RoleOperator, ledger.RoleEnterprise, ledger.RoleVerifier, ledger.RoleCity, ledger.RoleProvince}
	return []route{
		{Method: "POST", Path: "/v1/webhooks", Summary: "subscribe a webhook to the events I may see (types: a filter; the secret is shown once)", Tag: "events",
			Roles: owners, In: ledger.WebhookInput{}, Out: ledger.Webhook{}, Handler: s.handleCreateWebhook},
		{Method: "GET", Path: "/v1/webhooks", Summary: "list my webhooks (province: all)", Tag: "events",
			Roles: owners, Out: webhooksView{}, Handler: s.handleListWebhooks},
		{Method: "DELETE", Path: "/v1/webhooks/{id}", Summary: "delete a webhook; its pending deliveries are dropped", Tag: "events",
			Roles: owners, Out: ledger.Webhook{}, Handler: s.handleDeleteWebhook},
		{Method: "POST", Path: "/v1/webhooks/{id}/rotate-secret", Summary: "add a new signing secret; deliveries are signed with it and the previous one", Tag: "events",
			Roles: owners, Out: ledger.Webhook{}, Handler: s.webhookStep((*ledger.Ledger).RotateWebhookSecret)},
		{Method: "POST", Path: "/v1/webhooks/{id}/enable", Summary: "enable a webhook disabled after a run of failures", Tag: "events",
			Roles: owners, Out: ledger.Webhook{}, Handler: s.webhookStep((*ledger.Ledger).EnableWebhook)},
		{Method: "GET", Path: "/v1/webhooks/{id}/deliveries", Summary: "a webhook's delivery log, newest first", Tag: "events",
			Roles: owners, Out: deliveriesView{}, Handler: s.handleWebhookDeliveries},
		{Method: "POST", Path: "/v1/webhooks/{id}/deliveries/{delivery}/redeliver", Summary: "deliver an event again", Tag: "events",
			Roles: owners, Out: ledger.Delivery{}, Handler: s.handleRedeliver},
	}
}

type webhooksView struct {
	Items []ledger.Webhook `json:"items"`
}

type deliveriesView struct {
	Items []ledger.Delivery `json:"items"`
}

func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var in ledger.WebhookInput
	key, err := readWrite(r, &in)
	if err != nil {
		return err
	}
	for i, t := range in.Types {
		if !validEventType(t) {
			return ledger.Errf(ledger.CodeInvalidRequest, "%q is not an event type", truncateText(t, 64)).At(fmt.Sprintf("types[%d]", i))
		}
	}
	if len(in.URL) > ledger.WebhookURLBytesMax {
		return ledger.Errf(ledger.CodeInvalidRequest, "url exceeds %d bytes", ledger.WebhookURLBytesMax).At("url")
	}
	if err := s.cfg.Webhooks.checkURL(r.Context(), in.URL); err != nil {
		return err
	}
	hook, replayed, err := s.l.CreateWebhook(r.Context(), a, key, in)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, hook)
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	hooks, err := s.l.Webhooks(r.Context(), a)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhooksView{Items: hooks})
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	hook, err := s.l.DeleteWebhook(r.Context(), a, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, hook)
}

// webhookStep adapts a keyed step of the ledger on the webhook {id}
// (rotate the secret, enable): the body is empty, the answer the webhook.
func (s *Server) webhookStep(step func(*ledger.Ledger, context.Context, ledger.Actor, string, uuid.UUID) (ledger.Webhook, bool, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		key, err := readWrite(r, nil)
		if err != nil {
			return err
		}
		hook, replayed, err := step(s.l, r.Context(), a, key, id)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, hook)
	}
}

func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ds, err := s.l.WebhookDeliveries(r.Context(), a, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deliveriesView{Items: ds})
}

func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	delivery, err := uuid.Parse(r.PathValue("delivery"))
	if err != nil {
		return errorf(ledger.CodeNotFound, "no such delivery %q", r.PathValue("delivery"))
	}
	key, err := readWrite(r, nil)
	if err != nil {
		return err
	}
	d, replayed, err := s.l.Redeliver(r.Context(), a, key, id, delivery)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, d)
}

// FeedJobs are the webhooks' jobs: the fan-out from the feed to the
// delivery queue, and the deliverer. Every replica may run both.
func (s *Server) FeedJobs() []ledger.Job {
	return []ledger.Job{
		{Name: "fan-out-webhooks", Every: webhookFanOutEvery, Quiet: true, Run: func(ctx context.Context, l *ledger.Ledger) (int, error) {
			return l.FanOutWebhooks(ctx, ledger.JobBatchMax)
		}},
		{Name: "deliver-webhooks", Every: webhookDeliverEvery, Quiet: true, Run: s.DeliverWebhooks,
			Lag: func(ctx context.Context, l *ledger.Ledger) (time.Duration, error) { return l.OverdueDeliveries(ctx) }},
	}
}

// DeliverWebhooks sends the due deliveries, a few at a time, each
// outside any database transaction, and records each outcome. A write
// never waits for it: deliveries are queued by the fan-out from the feed.
func (s *Server) DeliverWebhooks(ctx context.Context, l *ledger.Ledger) (int, error) {
	ds, err := l.ClaimDeliveries(ctx, webhookPerRunMax, webhookLease)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	sem := make(chan struct{}, webhookSendersMax)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, d := range ds {
		wg.Add(1)
		sem <- struct{}{}
		go func(d ledger.Delivery) {
			defer wg.Done()
			defer func() { <-sem }()
			out := s.sendWebhook(ctx, d)
			if err := l.RecordDelivery(ctx, d.ID, out); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(d)
	}
	wg.Wait()
	return len(ds), firstErr
}

// sendWebhook makes one attempt: POST the event with the Standard
// Webhooks headers; a 2xx answer is delivered.
func (s *Server) sendWebhook(ctx context.Context, d ledger.Delivery) ledger.DeliveryOutcome {
	if err := s.cfg.Webhooks.checkURL(ctx, d.URL); err != nil {
		return ledger.DeliveryOutcome{Error: err.Error()}
	}
	s.webhookOnce.Do(func() { s.webhookClient = s.cfg.Webhooks.client() })
	ts := s.l.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return ledger.DeliveryOutcome{Error: err.Error()}
	}
	id := d.EventID.String()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", SignWebhook(d.Secrets, id, ts, d.Payload))
	res, err := s.webhookClient.Do(req)
	if err != nil {
		return ledger.DeliveryOutcome{Error: err.Error()}
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, webhookResponseMax))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return ledger.DeliveryOutcome{HTTPStatus: res.StatusCode, Error: "the receiver answered " + res.Status}
	}
	return ledger.DeliveryOutcome{OK: true, HTTPStatus: res.StatusCode}
}
