// Command carbonledger runs the Shandong carbon-inclusion ledger: the HTTP
// service and its operational subcommands. Process wiring only; the rules
// live in package ledger.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof-addr on loopback
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shandong-carbon/carbonledger/api"
	"github.com/shandong-carbon/carbonledger/console"
	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/migrations"
)

const usage = `carbonledger — Shandong carbon-inclusion ledger

usage: carbonledger <command> [flags]

commands:
  version   print the build (also --version): module version, VCS revision, Go version
  serve     run the HTTP API (and its background jobs)
  migrate   apply database migrations
  seed      load demo data and print a token per role with example calls
  token     mint a development token: token --role R --sub S [--org O] [--city C]
  verify    recompute balances and hash chains; non-zero exit on any mismatch. By default
            only what was written since the last clean verification; -full reads the
            whole journal in chunks (-resume continues an interrupted one)
  job       run one background job once: job NAME (job -list lists them)
  checkpoint  take a signed checkpoint now; checkpoint export prints all as JSON
            lines, checkpoint verify checks them against the journal
  bench     drive a running API with a workload and print a RESULT line

environment (flags override):
  DATABASE_URL                   PostgreSQL or CockroachDB URL
  CARBONLEDGER_ADDR              listen / target address (default 127.0.0.1:8080)
  CARBONLEDGER_SIGNING_KEY       base64 Ed25519 seeds of the token signing keys, comma-
                                 separated: the first signs, the others (previous keys
                                 after a rotation) still verify and are in the JWKS
  CARBONLEDGER_SIGNING_KEY_FILE  file holding them (default .data/signing.key); serve
                                 refuses to start without a key unless given --dev,
                                 which creates one in the file (development only)
  CARBONLEDGER_ISSUER, CARBONLEDGER_AUDIENCE      token issuer and audience
  CARBONLEDGER_EXTERNAL_JWKS_URL, CARBONLEDGER_EXTERNAL_ISSUER,
  CARBONLEDGER_EXTERNAL_AUDIENCE                  trust an external identity provider
  CARBONLEDGER_EXTERNAL_ISSUERS  trust several: a JSON list of {"issuer","audience","jwks_url"}
  CARBONLEDGER_CONSOLE_OIDC_AUTHORIZATION_ENDPOINT, CARBONLEDGER_CONSOLE_OIDC_TOKEN_ENDPOINT,
  CARBONLEDGER_CONSOLE_OIDC_CLIENT_ID, CARBONLEDGER_CONSOLE_OIDC_SCOPE (default openid),
  CARBONLEDGER_CONSOLE_OIDC_NAME  the console's sign-in through a trusted identity provider
                                 (OIDC code flow with PKCE; docs/console.md)
  CARBONLEDGER_RATE_LIMIT        requests per second per principal, burst twice that (default 2000)
  CARBONLEDGER_PUBLIC_RATE_LIMIT requests per second per client address without a token (default 100)
  CARBONLEDGER_TRUSTED_PROXIES   comma-separated proxy addresses or CIDRs whose X-Forwarded-For
                                 names the client (default none)
  CARBONLEDGER_CHECKPOINT_INTERVAL  how often serve takes a signed checkpoint (default 10m)
  CARBONLEDGER_IDEMPOTENCY_RETENTION  how long an idempotency key is kept (default 2160h);
                                 past it, the same key is a new request
  CARBONLEDGER_LOG_LEVEL         debug, info, warn, error (default info)
  CARBONLEDGER_TLS_CERT_FILE, CARBONLEDGER_TLS_KEY_FILE  serve HTTPS from these PEM files
                                 (reloaded when they change); plain HTTP without them
  CARBONLEDGER_ADMIN_ADDR        also serve /metrics and /healthz on this address
  CARBONLEDGER_FEED_RETENTION    how long the change feed keeps events every publisher passed (default 168h)
  CARBONLEDGER_NATS_URL          publish the change feed to NATS JetStream (docs/events.md)
  CARBONLEDGER_PPROF_ADDR        serve net/http/pprof on this loopback address
  CARBONLEDGER_READ_DATABASE_URL serve: a standby's URL; public registry reads without a
                                 token are served from it (they may lag the primary)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if a := os.Args[1]; a == "--version" || a == "-version" || a == "version" {
		printVersion(os.Stdout)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string) error{
		"serve": cmdServe, "migrate": cmdMigrate, "seed": cmdSeed, "token": cmdToken,
		"verify": cmdVerify, "job": cmdJob, "bench": cmdBench, "checkpoint": cmdCheckpoint,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err := cmd(ctx, os.Args[2:]); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		fmt.Fprintln(os.Stderr, "carbonledger:", err)
		os.Exit(1)
	}
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// config is what the environment and flags say.
type config struct {
	databaseURL, addr          string
	keyValue, keyFile          string
	issuer, audience           string
	extJWKS, extIssuer, extAud string
	rateLimit                  float64
	logLevel                   string
}

// parsePrefixes reads a comma-separated list of addresses (one host each)
// and CIDR prefixes.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func commonFlags(fs *flag.FlagSet) *config {
	c := &config{}
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", ""), "database URL")
	fs.StringVar(&c.addr, "addr", env("CARBONLEDGER_ADDR", "127.0.0.1:8080"), "listen or target address")
	fs.StringVar(&c.keyFile, "signing-key-file", env("CARBONLEDGER_SIGNING_KEY_FILE", ".data/signing.key"), "signing key file")
	fs.StringVar(&c.issuer, "issuer", env("CARBONLEDGER_ISSUER", "carbonledger"), "token issuer")
	fs.StringVar(&c.audience, "audience", env("CARBONLEDGER_AUDIENCE", "carbonledger-api"), "token audience")
	fs.StringVar(&c.logLevel, "log-level", env("CARBONLEDGER_LOG_LEVEL", "info"), "log level")
	c.keyValue = os.Getenv("CARBONLEDGER_SIGNING_KEY")
	c.extJWKS, c.extIssuer, c.extAud = os.Getenv("CARBONLEDGER_EXTERNAL_JWKS_URL"), os.Getenv("CARBONLEDGER_EXTERNAL_ISSUER"), os.Getenv("CARBONLEDGER_EXTERNAL_AUDIENCE")
	return c
}

func (c *config) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func (c *config) pool(ctx context.Context) (*pgxpool.Pool, error) {
	if c.databaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set (make run sets it up for you)")
	}
	return ledger.Connect(ctx, c.databaseURL)
}

func (c *config) ledger(ctx context.Context) (*ledger.Ledger, func(), error) {
	pool, err := c.pool(ctx)
	if err != nil {
		return nil, nil, err
	}
	retention, err := feedRetention()
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	keep, err := idempotencyRetention()
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	l, err := ledger.New(ctx, pool, ledger.Options{FeedRetention: retention, IdempotencyRetention: keep})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return l, pool.Close, nil
}

// readReplica is a read-only ledger on a standby's URL (serve's
// CARBONLEDGER_READ_DATABASE_URL). Its sessions are read-only whatever
// server they reach, so a URL that lands on the primary cannot write.
func readReplica(ctx context.Context, url string) (*ledger.Ledger, func(), error) {
	pool, err := ledger.ConnectReadOnly(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	l, err := ledger.New(ctx, pool, ledger.Options{ReadOnly: true})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return l, pool.Close, nil
}

// signingKey loads the service keys (LoadSigningKey). create makes a
// development key when none is configured: the tools that mint tokens for
// a local server do; serve does only with --dev, so two replicas, or one
// started from another directory, never sign with keys of their own.
func (c *config) signingKey(log *slog.Logger, create bool) (*api.SigningKey, error) {
	k, created, err := api.LoadSigningKey(c.keyValue, c.keyFile, create)
	if created && log != nil {
		log.Warn("generated a new development signing key", "file", c.keyFile)
	}
	return k, err
}

func cmdServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	c := commonFlags(fs)
	fs.Float64Var(&c.rateLimit, "rate-limit", 0, "requests per second per principal (default from CARBONLEDGER_RATE_LIMIT or 2000)")
	publicRate := fs.Float64("public-rate-limit", 0, "requests per second per client address without a token (default from CARBONLEDGER_PUBLIC_RATE_LIMIT or 100)")
	proxies := fs.String("trusted-proxies", env("CARBONLEDGER_TRUSTED_PROXIES", ""), "comma-separated proxy addresses or CIDRs whose X-Forwarded-For names the client")
	noJobs := fs.Bool("no-jobs", false, "do not run background jobs in this replica")
	dev := fs.Bool("dev", false, "development: create a signing key in the key file when none is configured (make run)")
	pprofAddr := fs.String("pprof-addr", env("CARBONLEDGER_PPROF_ADDR", ""), "serve net/http/pprof on this loopback address (profiling)")
	tlsCert := fs.String("tls-cert", env("CARBONLEDGER_TLS_CERT_FILE", ""), "serve HTTPS with this PEM certificate (chain) file; reloaded when it changes")
	tlsKey := fs.String("tls-key", env("CARBONLEDGER_TLS_KEY_FILE", ""), "the PEM private key of --tls-cert")
	externals := fs.String("external-issuers", env("CARBONLEDGER_EXTERNAL_ISSUERS", ""), `external identity providers to trust, JSON: [{"issuer":…,"audience":…,"jwks_url":…}, …]`)
	adminAddr := fs.String("admin-addr", env("CARBONLEDGER_ADMIN_ADDR", ""), "also serve /metrics and /healthz on this address (plain HTTP; an internal address)")
	readURL := fs.String("read-database-url", env("CARBONLEDGER_READ_DATABASE_URL", ""), "a standby's URL: public registry reads without a token are served from it")
	_ = fs.Parse(args)
	if c.rateLimit == 0 {
		fmt.Sscan(env("CARBONLEDGER_RATE_LIMIT", "0"), &c.rateLimit)
	}
	if *publicRate == 0 {
		fmt.Sscan(env("CARBONLEDGER_PUBLIC_RATE_LIMIT", "0"), publicRate)
	}
	trusted, err := parsePrefixes(*proxies)
	if err != nil {
		return fmt.Errorf("trusted proxies: %w", err)
	}
	log := c.logger()
	tlsCfg, err := tlsConfig(*tlsCert, *tlsKey, log)
	if err != nil {
		return err
	}
	l, closePool, err := c.ledger(ctx)
	if err != nil {
		return err
	}
	defer closePool()
	var readLedger *ledger.Ledger
	if *readURL != "" {
		rl, closeRead, err := readReplica(ctx, *readURL)
		if err != nil {
			// The primary serves everything meanwhile; a replica that is
			// down must not keep the service from starting.
			log.Warn("read replica not used: serving every read from the primary", "error", err)
		} else {
			defer closeRead()
			readLedger = rl
		}
	}
	key, err := c.signingKey(log, *dev)
	if err != nil {
		return err
	}
	exts, err := externalIssuers(*externals, c.extJWKS, c.extIssuer, c.extAud)
	if err != nil {
		return err
	}
	every, err := checkpointInterval()
	if err != nil {
		return err
	}
	// Webhook destinations: public https only, unless development asks
	// for loopback and private addresses over http too.
	var hooks api.WebhookPolicy
	if env("CARBONLEDGER_WEBHOOK_ALLOW_PRIVATE", "") == "1" {
		hooks = api.WebhookPolicy{AllowHTTP: true, AllowLoopback: true, AllowPrivate: true}
	}
	srv, err := api.New(ctx, api.Config{Ledger: l, ReadLedger: readLedger, Logger: log, SigningKey: key, Issuer: c.issuer, Audience: c.audience,
		Externals: exts, Console: consoleOptions(), RatePerSecond: c.rateLimit, PublicRatePerSecond: *publicRate, TrustedProxies: trusted, UseCases: useCases(), Webhooks: hooks})
	if err != nil {
		return err
	}
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	if !*noJobs {
		jobs := append(ledger.AllJobs(useCases()), api.CheckpointJob(key, every))
		jobs = append(jobs, srv.FeedJobs()...)
		// The change feed to NATS JetStream, when configured (docs/events.md).
		if u := os.Getenv("CARBONLEDGER_NATS_URL"); u != "" {
			p, closeNATS, err := api.DialNATS(ctx, u)
			if err != nil {
				return err
			}
			defer closeNATS()
			jobs = append(jobs, p.Job())
		}
		srv.RunJobs(jobsCtx, jobs)
	}
	hs := &http.Server{
		Addr: c.addr, Handler: srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 11 * time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), TLSConfig: tlsCfg,
	}
	if *adminAddr != "" {
		as, err := startAdmin(ctx, *adminAddr, srv, log)
		if err != nil {
			return err
		}
		defer as.Close()
	}
	if *pprofAddr != "" {
		if !isLoopback(*pprofAddr) {
			return errors.New("pprof-addr must be a loopback address")
		}
		go func() { log.Warn("pprof", "err", http.ListenAndServe(*pprofAddr, nil)) }() //nolint:gosec // loopback only, profiling
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil)
	errc := make(chan error, 1)
	go func() { errc <- serveHTTP(hs, ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish in-flight requests, then stop the jobs.
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	stopJobs()
	return err
}

// consoleOptions reads the console's OIDC sign-in from the environment:
// set the authorization endpoint to turn it on (docs/console.md).
func consoleOptions() console.Options {
	authz := os.Getenv("CARBONLEDGER_CONSOLE_OIDC_AUTHORIZATION_ENDPOINT")
	if authz == "" {
		return console.Options{}
	}
	return console.Options{OIDC: &console.OIDC{AuthorizationEndpoint: authz,
		TokenEndpoint: os.Getenv("CARBONLEDGER_CONSOLE_OIDC_TOKEN_ENDPOINT"), ClientID: os.Getenv("CARBONLEDGER_CONSOLE_OIDC_CLIENT_ID"),
		Scope: env("CARBONLEDGER_CONSOLE_OIDC_SCOPE", "openid"), Name: os.Getenv("CARBONLEDGER_CONSOLE_OIDC_NAME")}}
}

func cmdMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ExitOnError)
	c := commonFlags(fs)
	_ = fs.Parse(args)
	pool, err := c.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	done, err := migrations.Up(ctx, pool)
	for _, v := range done {
		fmt.Fprintln(os.Stderr, "applied", v)
	}
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(os.Stderr, "schema is up to date")
	}
	// Then what SQL cannot do portably: each use case's data migration.
	l, err := ledger.New(ctx, pool, ledger.Options{NoCoalesce: true})
	if err != nil {
		return err
	}
	defer l.Close()
	return ledger.MigrateAll(ctx, l, useCases())
}

func cmdToken(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("token", flag.ExitOnError)
	c := commonFlags(fs)
	role := fs.String("role", "", "role: citizen, operator, verifier, enterprise, city, province, auditor")
	sub := fs.String("sub", "", "subject (user id)")
	org := fs.String("org", "", "organisation (operator, verifier, enterprise)")
	city := fs.String("city", "", "city code (city role), e.g. 3701")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime")
	_ = fs.Parse(args)
	key, err := c.signingKey(nil, true)
	if err != nil {
		return err
	}
	tok, err := key.Mint(c.issuer, c.audience, api.TokenSpec{Role: *role, Sub: *sub, Org: *org, City: *city, TTL: *ttl}, time.Now())
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func cmdVerify(ctx context.Context, args []string) error { return runVerify(ctx, args, os.Stdout) }

// runVerify is verify writing its report to w (tests read it).
func runVerify(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	c := commonFlags(fs)
	asJSON := fs.Bool("json", false, "print the full report as JSON")
	full := fs.Bool("full", false, "read the whole journal (in chunks), not only what was written since the last clean verification")
	resume := fs.Bool("resume", false, "with -full: continue the newest unfinished full verification where it stopped")
	chunk := fs.Int("chunk", ledger.VerifyChunkRowsDefault, "rows per statement and snapshot")
	noRecord := fs.Bool("no-record", false, "write nothing (a read-only standby): no progress to resume, no new starting point")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	_ = fs.Parse(args)
	opts := ledger.VerifyOptions{Mode: ledger.VerifyIncremental, ChunkRows: *chunk, Resume: *resume, NoRecord: *noRecord}
	if *full || *resume {
		opts.Mode = ledger.VerifyFull
	}
	if !*quiet {
		opts.Progress = verifyProgress(os.Stderr)
	}
	key, err := c.signingKey(nil, true)
	if err != nil {
		return err
	}
	pool, err := c.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	l, err := ledger.New(ctx, pool, ledger.Options{NoCoalesce: true, CheckpointKeys: key.CheckpointKeys()})
	if err != nil {
		return err
	}
	defer l.Close()
	rep, err := l.VerifyAllWith(ctx, useCases(), opts)
	if err != nil {
		return err
	}
	return printVerify(w, rep, *asJSON)
}

// verifyProgress prints a line at most every two seconds while the
// journal is read, with the rate, so a long full run shows it is moving.
func verifyProgress(w io.Writer) func(ledger.VerifyProgress) {
	var last time.Time
	return func(p ledger.VerifyProgress) {
		if time.Since(last) < 2*time.Second && p.Stage != "done" {
			return
		}
		last = time.Now()
		rate := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rate = float64(p.Postings) / s
		}
		fmt.Fprintf(w, "verify %s run %s: stage %s, %d transactions, %d postings, %d accounts, %d problems, %s (%.0f postings/s)\n",
			p.Mode, p.Run, p.Stage, p.Transactions, p.Postings, p.Accounts, p.Problems, p.Elapsed.Round(time.Millisecond), rate)
	}
}

func printVerify(w io.Writer, rep *ledger.VerifyReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "transactions %d, postings %d, chains %d, problems %d, root %s (%s)\n",
			rep.Transactions, rep.Postings, rep.Chains, rep.ProblemsTotal, rep.Root, rep.Duration)
		if rep.Mode == ledger.VerifyIncremental {
			fmt.Fprintf(w, "incremental: the journal since %s\n", rep.Since)
		}
		for _, p := range rep.Problems {
			if p.Table != "" { // a use case's row, or the trail's
				fmt.Fprintf(w, "PROBLEM %s use_case=%s table=%s row=%s: %s\n", p.Kind, p.UseCase, p.Table, p.Row, p.Detail)
				continue
			}
			fmt.Fprintf(w, "PROBLEM %s account=%s shard=%d seq=%d tx=%s: %s\n", p.Kind, p.Account, p.Shard, p.Seq, p.TxID, p.Detail)
		}
	}
	if !rep.OK {
		return exitError(3)
	}
	if !asJSON {
		fmt.Fprintln(w, "OK: every transaction balances, every chain and balance matches the journal, every trail chain and every use case's check holds")
	}
	return nil
}

func cmdJob(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("job", flag.ExitOnError)
	c := commonFlags(fs)
	list := fs.Bool("list", false, "list the jobs")
	_ = fs.Parse(args)
	if *list || fs.NArg() != 1 {
		for _, j := range ledger.AllJobs(useCases()) {
			fmt.Printf("%-28s every %s\n", j.Name, j.Every)
		}
		if *list {
			return nil
		}
		return errors.New("usage: carbonledger job NAME")
	}
	name := fs.Arg(0)
	for _, j := range ledger.AllJobs(useCases()) {
		if j.Name != name {
			continue
		}
		l, closePool, err := c.ledger(ctx)
		if err != nil {
			return err
		}
		defer closePool()
		total := 0
		for {
			n, err := j.Run(ctx, l)
			total += n
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		fmt.Printf("%s: %d items\n", name, total)
		return nil
	}
	return fmt.Errorf("no job %q (job -list)", name)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// printVersion prints the build, one line.
func printVersion(w io.Writer) {
	b := api.BuildInfo()
	rev := b.Revision
	if b.Modified {
		rev += "+modified"
	}
	built := ""
	if b.Time != "" {
		built = " built " + b.Time
	}
	fmt.Fprintf(w, "carbonledger %s revision %s%s with %s\n", b.Version, rev, built, b.GoVersion)
}
