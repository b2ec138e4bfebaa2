package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// to certFile and keyFile, and returns the certificate.
func selfSigned(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "carbonledger test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// trusting is an HTTPS client that trusts exactly these certificates.
func trusting(certs ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The TLS listener serves the certificate from the files to a client that
// trusts it, refuses one that does not, and serves a renewed pair from
// the next handshake without a restart.
func TestTLSFromFilesAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := selfSigned(t, certFile, keyFile, 1)
	if _, err := tlsConfig(certFile, "", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
	cfg, err := tlsConfig(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	old := certCheckEvery
	certCheckEvery = 0
	t.Cleanup(func() { certCheckEvery = old })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{TLSConfig: cfg, ReadHeaderTimeout: time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = serveHTTP(hs, ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	url := "https://" + ln.Addr().String() + "/"

	get := func(c *http.Client) (*http.Response, error) {
		res, err := c.Get(url)
		if err == nil {
			defer res.Body.Close()
			_, _ = io.ReadAll(res.Body)
		}
		return res, err
	}
	res, err := get(trusting(first))
	if err != nil {
		t.Fatalf("trusting client: %v", err)
	}
	if res.TLS == nil || res.TLS.PeerCertificates[0].SerialNumber.Int64() != 1 {
		t.Fatalf("served %v, want the certificate with serial 1", res.TLS)
	}
	if _, err := get(&http.Client{Timeout: 5 * time.Second}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust the certificate: %v, want a certificate error", err)
	}

	// A renewal: new files (a later mtime), picked up by the next handshake.
	time.Sleep(10 * time.Millisecond)
	second := selfSigned(t, certFile, keyFile, 2)
	future := time.Now().Add(time.Second)
	_ = os.Chtimes(certFile, future, future)
	_ = os.Chtimes(keyFile, future, future)
	res, err = get(trusting(second))
	if err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	if got := res.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Fatalf("after renewal served serial %d, want 2", got)
	}
	// A half-written renewal keeps the previous pair in service.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(keyFile, later, later)
	if _, err := get(trusting(second)); err != nil {
		t.Fatalf("after a broken renewal: %v, want the previous certificate served", err)
	}
}

// serve with --tls-cert/--tls-key answers HTTPS to a client that trusts
// the certificate, and --admin-addr serves /metrics over plain HTTP.
func TestServeTLSAndAdminListener(t *testing.T) {
	url := ledgertest.FreshURL(t)
	if err := cmdMigrate(context.Background(), []string{"-database-url", url}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert := selfSigned(t, certFile, keyFile, 7)
	addr, admin := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cmdServe(ctx, []string{"-database-url", url, "-signing-key-file", filepath.Join(dir, "signing.key"), "-dev", "-no-jobs",
			"-addr", addr, "-tls-cert", certFile, "-tls-key", keyFile, "-admin-addr", admin, "-log-level", "warn"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	client := trusting(cert)
	deadline := time.Now().Add(15 * time.Second)
	var res *http.Response
	var err error
	for {
		res, err = client.Get("https://" + addr + "/healthz")
		if err == nil || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("https healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.TLS == nil {
		t.Fatalf("https healthz: %d, tls %v", res.StatusCode, res.TLS != nil)
	}
	// Plain HTTP to the TLS port is not served.
	if r, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain http on the TLS port: %d, want 400 or a refusal", r.StatusCode)
		}
	}
	m, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("admin metrics: %v", err)
	}
	body, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if m.StatusCode != http.StatusOK || !strings.Contains(string(body), "carbonledger_build_info{") || !strings.Contains(string(body), "carbonledger_db_pool_max_conns") {
		t.Fatalf("admin metrics: %d\n%.500s", m.StatusCode, body)
	}
}

// CARBONLEDGER_EXTERNAL_ISSUERS is a JSON list; the single provider of
// CARBONLEDGER_EXTERNAL_JWKS_URL/_ISSUER/_AUDIENCE is added to it.
func TestExternalIssuersConfig(t *testing.T) {
	got, err := externalIssuers(`[{"issuer":"https://a","audience":"x","jwks_url":"https://a/jwks"},{"issuer":"https://b","audience":"y","jwks_url":"https://b/jwks"}]`,
		"https://c/jwks", "https://c", "z")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Issuer != "https://a" || got[1].JWKSURL != "https://b/jwks" || got[2].Audience != "z" {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{`{"issuer":"x"}`, `[{"issuer":"x","jwks":"typo"}]`, `[`} {
		if _, err := externalIssuers(bad, "", "", ""); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if got, err := externalIssuers("", "", "", ""); err != nil || len(got) != 0 {
		t.Fatalf("none configured: %v %v", got, err)
	}
}

// The deployment's example environment names only variables the command
// reads, and the unit runs commands it has.
func TestDeployFilesNameWhatExists(t *testing.T) {
	env, err := os.ReadFile("../../scripts/deploy/carbonledger.env.example")
	if err != nil {
		t.Fatal(err)
	}
	var names int
	for _, line := range strings.Split(string(env), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		name, _, ok := strings.Cut(line, "=")
		if !ok || name == "" || strings.ContainsAny(name, " :/") || strings.ToUpper(name) != name {
			continue
		}
		names++
		if name != "DATABASE_URL" && !strings.Contains(usage, name) {
			t.Errorf("carbonledger.env.example sets %s, which the usage text does not list", name)
		}
	}
	if names < 10 {
		t.Fatalf("read only %d variables from the example", names)
	}
	unit, err := os.ReadFile("../../scripts/deploy/carbonledger.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStartPre=/usr/local/bin/carbonledger migrate\n", "ExecStart=/usr/local/bin/carbonledger serve\n", "EnvironmentFile=/etc/carbonledger/carbonledger.env\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("carbonledger.service lacks %q", want)
		}
	}
}
