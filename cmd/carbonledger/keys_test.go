package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// serve refuses to start without a configured signing key unless --dev,
// and makes no key file of its own; with --dev it makes one and starts.
func TestServeNeedsAKeyOutsideDev(t *testing.T) {
	url := ledgertest.FreshURL(t)
	if err := cmdMigrate(context.Background(), []string{"-database-url", url}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CARBONLEDGER_SIGNING_KEY", "")
	file := filepath.Join(t.TempDir(), "signing.key")
	err := cmdServe(context.Background(), []string{"-database-url", url, "-signing-key-file", file, "-addr", "127.0.0.1:0", "-no-jobs"})
	if err == nil || !strings.Contains(err.Error(), "no signing key") || !strings.Contains(err.Error(), "--dev") {
		t.Fatalf("serve without a key: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("serve made a key file without --dev: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := cmdServe(ctx, []string{"-database-url", url, "-signing-key-file", file, "-addr", "127.0.0.1:0", "-no-jobs", "-dev"}); err != nil {
		t.Fatalf("serve --dev: %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("serve --dev made no key: %v", err)
	}
}

// --version names the build.
func TestVersion(t *testing.T) {
	var b strings.Builder
	printVersion(&b)
	if !strings.HasPrefix(b.String(), "carbonledger ") || !strings.Contains(b.String(), " with go") {
		t.Fatalf("version line %q", b.String())
	}
}
