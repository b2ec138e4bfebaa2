package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shandong-carbon/carbonledger/api"
)

// certCheckEvery is how often, at most, a TLS handshake looks whether the
// certificate or key file changed (a renewal by certbot or a secret
// mount): a renewed pair is served from the next handshake after it,
// without a restart.
var certCheckEvery = 5 * time.Second

// certReloader serves a certificate and key pair from files, and loads
// them again when either file's modification time changes. A pair that
// fails to load (a renewal half written) keeps the previous one in
// service and is logged; it is tried again at the next check.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
	checked         time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	cm, km, err := r.mods()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	r.cert, r.certMod, r.keyMod, r.checked = &cert, cm, km, time.Now()
	return nil
}

func (r *certReloader) mods() (cert, key time.Time, err error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return cert, key, fmt.Errorf("tls certificate: %w", err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return cert, key, fmt.Errorf("tls key: %w", err)
	}
	return ci.ModTime(), ki.ModTime(), nil
}

// GetCertificate is tls.Config's hook.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= certCheckEvery {
		r.checked = time.Now()
		cm, km, err := r.mods()
		if err == nil && (!cm.Equal(r.certMod) || !km.Equal(r.keyMod)) {
			err = r.load()
			if err == nil {
				r.log.Info("tls certificate reloaded", "cert", r.certFile)
			}
		}
		if err != nil {
			r.log.Warn("tls certificate not reloaded; serving the previous one", "err", err)
		}
	}
	return r.cert, nil
}

// tlsConfig is the server's TLS: TLS 1.2 or later, the certificate from
// the files (reloaded when they change).
func tlsConfig(certFile, keyFile string, log *slog.Logger) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tls: both --tls-cert and --tls-key (CARBONLEDGER_TLS_CERT_FILE, CARBONLEDGER_TLS_KEY_FILE) are needed, or neither")
	}
	if certFile == "" {
		return nil, nil
	}
	r, err := newCertReloader(certFile, keyFile, log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}, nil
}

// serveHTTP serves hs on ln, over TLS when hs.TLSConfig is set.
func serveHTTP(hs *http.Server, ln net.Listener) error {
	if hs.TLSConfig != nil {
		return hs.ServeTLS(ln, "", "")
	}
	return hs.Serve(ln)
}

// adminServer serves /metrics (and /healthz) on a listener of its own, so
// the scrape can be kept on an internal address while the API's listener
// faces clients.
func adminServer(addr string, srv *api.Server, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", srv.MetricsHandler())
	mux.Handle("GET /healthz", srv.HealthHandler())
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// startAdmin listens on the admin address and serves until shutdown.
func startAdmin(ctx context.Context, addr string, srv *api.Server, log *slog.Logger) (*http.Server, error) {
	as := adminServer(addr, srv, log)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	log.Info("admin listening", "addr", ln.Addr().String())
	go func() {
		if err := as.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin listener", "err", err)
		}
	}()
	return as, nil
}

// externalIssuers is the list of external identity providers to trust:
// the JSON list (CARBONLEDGER_EXTERNAL_ISSUERS) and the single provider
// of CARBONLEDGER_EXTERNAL_JWKS_URL/_ISSUER/_AUDIENCE when set.
func externalIssuers(list, jwksURL, issuer, audience string) ([]api.ExternalIdP, error) {
	var out []api.ExternalIdP
	if strings.TrimSpace(list) != "" {
		dec := json.NewDecoder(strings.NewReader(list))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf(`external issuers: want a JSON list of {"issuer","audience","jwks_url"}: %w`, err)
		}
	}
	if jwksURL != "" {
		out = append(out, api.ExternalIdP{JWKSURL: jwksURL, Issuer: issuer, Audience: audience})
	}
	return out, nil
}
