package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// verify exits non-zero with a precise report when a posting was edited.
func TestVerifyCommandReportsTampering(t *testing.T) {
	ctx := context.Background()
	url := ledgertest.FreshURL(t)
	if err := cmdSeed(ctx, []string{"-database-url", url, "-signing-key-file", t.TempDir() + "/k"}); err != nil {
		t.Fatal(err)
	}
	if err := cmdVerify(ctx, []string{"-database-url", url}); err != nil {
		t.Fatalf("clean ledger: %v", err)
	}
	pool, err := ledger.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `UPDATE postings SET amount = amount + 1 WHERE account_id = 'org:E1:CNY'`); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ctx, pool, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = printVerify(&out, rep, false)
	var ex exitError
	if !errors.As(err, &ex) || ex != 3 {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(out.String(), "PROBLEM chain_hash account=org:E1:CNY") {
		t.Fatalf("report does not name the account:\n%s", out.String())
	}
	_ = decimal.Zero
}

func TestTokenCommandRejectsBadClaims(t *testing.T) {
	dir := t.TempDir()
	if err := cmdToken(context.Background(), []string{"-signing-key-file", dir + "/k", "-role", "operator", "-sub", "x"}); err == nil {
		t.Fatal("operator token without org was minted")
	}
	if err := cmdToken(context.Background(), []string{"-signing-key-file", dir + "/k", "-role", "citizen", "-sub", "C1"}); err != nil {
		t.Fatal(err)
	}
}

func TestBenchRefusesNonLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "localhost:1": true, "[::1]:80": true, "10.0.0.1:80": false, "example.com:80": false} {
		if isLoopback(addr) != want {
			t.Errorf("%s: %v", addr, !want)
		}
	}
}
