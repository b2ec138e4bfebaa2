package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/api"
	"github.com/shandong-carbon/carbonledger/ledger"
)

// seedCore opens the issuer accounts and a funded demo enterprise.
func seedCore(ctx context.Context, l *ledger.Ledger) error {
	if err := l.EnsureAccounts(ctx, "programme:CP:issuance", "registry:SDCER:issuance", "province:CEI:recognition",
		"external:CNY", "province:CNY:revenue", ledger.OrgMoneyAccount("E1"), ledger.OrgMoneyAccount("E2")); err != nil {
		return err
	}
	province := ledger.Actor{Sub: "seed", Role: "province"}
	for _, org := range []string{"E1", "E2"} {
		_, _, err := l.Post(ctx, province, "seed-deposit-"+org, ledger.TxInput{Kind: "deposit",
			Metadata: map[string]string{"reference": "demo opening deposit"},
			Postings: []ledger.PostingInput{
				{Account: "external:CNY", Amount: decimal.NewFromInt(-100000)},
				{Account: ledger.OrgMoneyAccount(org), Amount: decimal.NewFromInt(100000)},
			}})
		if err != nil {
			return err
		}
	}
	return nil
}

// seedEverything is what `seed` writes: the core accounts, every use
// case's seed and the demo data.
func seedEverything(ctx context.Context, l *ledger.Ledger) (demoRecords, error) {
	if err := seedCore(ctx, l); err != nil {
		return demoRecords{}, fmt.Errorf("seed core: %w", err)
	}
	if err := ledger.SeedAll(ctx, l, useCases()); err != nil {
		return demoRecords{}, err
	}
	return seedDemo(ctx, l)
}

func cmdSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	c := commonFlags(fs)
	_ = fs.Parse(args)
	l, closePool, err := c.ledger(ctx)
	if err != nil {
		return err
	}
	defer closePool()
	d, err := seedEverything(ctx, l)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "seeded core, every use case and the demo data")
	key, err := c.signingKey(nil, true)
	if err != nil {
		return err
	}
	if err := printTokens(os.Stdout, c, key); err != nil {
		return err
	}
	printDemo(os.Stdout, d)
	printExamples(os.Stdout, "http://"+c.addr, d, l.Now())
	fmt.Fprintf(os.Stdout, "\n# Console (sign in with a token above): http://%[1]s/console/\n# Public registry (no token):         http://%[1]s/registry/\n", c.addr)
	return nil
}

// printTokens prints a 12-hour token for each of the demo's people.
func printTokens(w io.Writer, c *config, key *api.SigningKey) error {
	demos := []struct {
		label string
		a     ledger.Actor
	}{
		{"CITIZEN", demoCitizen}, {"OPERATOR", demoOperator}, {"VERIFIER", demoVerifier}, {"ENTERPRISE", demoE1},
		{"ENTERPRISE_E2", demoE2}, {"CITY", demoCity}, {"PROVINCE", demoProvince}, {"PROVINCE_MAKER", demoMaker}, {"AUDITOR", demoAuditor},
	}
	fmt.Fprintln(w, "# Demo tokens (12 h). Paste into your shell, or sign in to the console with one.")
	fmt.Fprintln(w, "# ENTERPRISE is E1 (it offers a trade to E2); ENTERPRISE_E2 can accept it.")
	fmt.Fprintln(w, "# PROVINCE is p-li, the checker of p-zhao's correction; PROVINCE_MAKER is p-zhao, who may not approve it.")
	for _, d := range demos {
		tok, err := key.Mint(c.issuer, c.audience, api.TokenSpec{Role: d.a.Role, Sub: d.a.Sub, Org: d.a.Org, City: d.a.City, TTL: 12 * time.Hour}, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "export %s_TOKEN=%s\n", d.label, tok)
	}
	return nil
}

// printDemo lists what the demo seeded, by id.
func printDemo(w io.Writer, d demoRecords) {
	fmt.Fprintf(w, `
# Demo data (fixed keys and dates: running seed again changes nothing):
#   points    C1: a 12 km metro trip on %[1]s, claimed as lot %[2]s; %[3]d riders' trips fill %[4]s
#   registry  batch %[5]s issued %[6]s; E1 bought 3 (trade %[7]s),
#             retired 1 (certificate %[8]s), offers 1 to E2 (trade %[9]s, open until %[10]s)
#             (the registry's public notice was waived for one minute to issue at once: GET /v1/registry/policy)
#   quota     source %[11]s (closure in 3701, 200000 t) recognised and stockpiled;
#             allocation %[12]s (E1-KILN-2, 40000 t);
#             application %[13]s (E1-GLASS-1) awaits city 3701, %[14]s (E2-COKE-1) awaits the province;
#             correction %[15]s (-5000 t, made by province:p-zhao) awaits its checker (PROVINCE_TOKEN is p-li);
#             source %[16]s (production switch in 3701, 60000 t) awaits the province's recognition
`, cstDay(d.TripsAt), d.Lot, demoRiders, d.Pool, d.Batch.ID, d.Batch.Serial, d.Sale.ID, d.Certificate.ID, d.Offer.ID,
		d.Offer.ExpiresAt.Format(time.RFC3339), d.Source.ID, d.Allocated.Allocation.ID, d.AtCity.ID, d.AtProvince.ID, d.Correction.ID, d.Proposed.ID)
}

// printExamples prints example calls that keep working when pasted again
// and after seed runs again: each key goes with one body. The trip is
// yesterday's (CST) at 08:00 and its key and record id name that day, so a
// later day's seed prints a new trip rather than a conflicting body.
func printExamples(w io.Writer, base string, d demoRecords, now time.Time) {
	y, m, day := now.In(cst).Date()
	tripAt := time.Date(y, m, day-1, 8, 0, 0, 0, cst)
	tripDay := tripAt.Format("2006-01-02")
	fmt.Fprintf(w, `
# Example calls (the server listens on %[1]s). The same Idempotency-Key and body
# again is a replay (200, Idempotent-Replayed: true), never a second effect.
curl -s %[1]s/healthz
curl -s -H "Authorization: Bearer $CITIZEN_TOKEN" %[1]s/v1/me
curl -s -H "Authorization: Bearer $ENTERPRISE_TOKEN" %[1]s/v1/accounts/org:E1:CNY
curl -s -X POST -H "Authorization: Bearer $PROVINCE_TOKEN" -H "Idempotency-Key: demo-1" -H "Content-Type: application/json" \
  -d '{"kind":"transfer","postings":[{"account":"org:E1:CNY","amount":"-36.00"},{"account":"org:E2:CNY","amount":"36.00"}]}' \
  %[1]s/v1/transactions
curl -s -X POST -H "Authorization: Bearer $OPERATOR_TOKEN" -H "Idempotency-Key: demo-trip-%[2]s" -H "Content-Type: application/json" \
  -d '{"records":[{"record_id":"trip-%[2]s","citizen":"C1","kind":"metro","quantity":"12","unit":"km","occurred_at":"%[3]s"}]}' \
  %[1]s/v1/behaviours
curl -s -X POST -H "Authorization: Bearer $CITIZEN_TOKEN" -H "Idempotency-Key: demo-claim-%[2]s" -H "Content-Type: application/json" \\
  -d '{}' %[1]s/v1/me/claims
curl -s -H "Authorization: Bearer $ENTERPRISE_TOKEN" %[1]s/v1/holdings
curl -s %[1]s/v1/retirements/%[4]s
curl -s -H "Authorization: Bearer $CITY_TOKEN" "%[1]s/v1/quota/applications?status=submitted"
curl -s -X POST -H "Authorization: Bearer $PROVINCE_TOKEN" -H "Idempotency-Key: demo-check-1" -H "Content-Type: application/json" \
  -d '{"approve":true,"reason":"survey report checked"}' %[1]s/v1/quota/corrections/%[5]s/approval
curl -s -H "Authorization: Bearer $AUDITOR_TOKEN" %[1]s/v1/audit/verify
curl -s %[1]s/openapi.json | head -c 300
`, base, tripDay, tripAt.UTC().Format(time.RFC3339), d.Certificate.ID, d.Correction.ID)
}
