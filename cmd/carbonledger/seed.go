package main

import (
	"context"
	"flag"
	"fmt"
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

func cmdSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	c := commonFlags(fs)
	_ = fs.Parse(args)
	l, closePool, err := c.ledger(ctx)
	if err != nil {
		return err
	}
	defer closePool()
	if err := seedCore(ctx, l); err != nil {
		return fmt.Errorf("seed core: %w", err)
	}
	if err := ledger.SeedAll(ctx, l, useCases()); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "seeded core and every use case")
	key, err := c.signingKey(nil)
	if err != nil {
		return err
	}
	type demo struct{ label, role, sub, org, city string }
	demos := []demo{
		{"CITIZEN", "citizen", "C1", "", ""},
		{"OPERATOR", "operator", "metro-ops", "metro-jinan", ""},
		{"VERIFIER", "verifier", "v-zhang", "verifier-sd1", ""},
		{"ENTERPRISE", "enterprise", "e1-admin", "E1", ""},
		{"CITY", "city", "jinan-bureau", "", "3701"},
		{"PROVINCE", "province", "p-li", "", ""},
		{"AUDITOR", "auditor", "a-wang", "", ""},
	}
	fmt.Println("# Demo tokens (12 h). Paste into your shell:")
	for _, d := range demos {
		tok, err := key.Mint(c.issuer, c.audience, api.TokenSpec{Role: d.role, Sub: d.sub, Org: d.org, City: d.city, TTL: 12 * time.Hour}, time.Now())
		if err != nil {
			return err
		}
		fmt.Printf("export %s_TOKEN=%s\n", d.label, tok)
	}
	base := "http://" + c.addr
	fmt.Printf(`
# Example calls (the server listens on %[1]s):
curl -s %[1]s/healthz
curl -s -H "Authorization: Bearer $CITIZEN_TOKEN" %[1]s/v1/accounts/citizen:C1:CP:available
curl -s -H "Authorization: Bearer $ENTERPRISE_TOKEN" %[1]s/v1/accounts/org:E1:CNY
curl -s -X POST -H "Authorization: Bearer $PROVINCE_TOKEN" -H "Idempotency-Key: demo-1" -H "Content-Type: application/json" \
  -d '{"kind":"transfer","postings":[{"account":"org:E1:CNY","amount":"-36.00"},{"account":"org:E2:CNY","amount":"36.00"}]}' \
  %[1]s/v1/transactions
curl -s -X POST -H "Authorization: Bearer $OPERATOR_TOKEN" -H "Idempotency-Key: demo-trip-1" -H "Content-Type: application/json" \
  -d '{"records":[{"record_id":"trip-1","citizen":"C1","kind":"metro","quantity":"12","unit":"km","occurred_at":"%[2]s"}]}' \
  %[1]s/v1/behaviours
curl -s -H "Authorization: Bearer $CITIZEN_TOKEN" %[1]s/v1/me
curl -s -H "Authorization: Bearer $AUDITOR_TOKEN" %[1]s/v1/audit/verify
curl -s %[1]s/openapi.json | head -c 300
`, base, time.Now().UTC().Add(-time.Hour).Truncate(time.Minute).Format(time.RFC3339))
	return nil
}
