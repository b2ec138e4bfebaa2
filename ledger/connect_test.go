package ledger_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/ledgertest"
)

// A read-only pool refuses writes whatever form its connection string
// takes: a URL with or without a query, or keyword=value pairs (which a
// suffix glued onto the string would have broken).
func TestConnectReadOnlyAnyForm(t *testing.T) {
	u, err := url.Parse(ledgertest.FreshURL(t))
	if err != nil {
		t.Fatal(err)
	}
	bare := *u
	bare.RawQuery = ""
	keywords := []string{"host=" + u.Hostname(), "port=" + u.Port(), "user=" + u.User.Username(), "dbname=" + strings.TrimPrefix(u.Path, "/")}
	if p, ok := u.User.Password(); ok {
		keywords = append(keywords, "password="+p)
	}
	if u.Query().Get("sslmode") != "" {
		keywords = append(keywords, "sslmode="+u.Query().Get("sslmode"))
	}
	for _, dsn := range []string{u.String(), bare.String(), strings.Join(keywords, " ")} {
		pool, err := ledger.ConnectReadOnly(ctx, dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		var ro string
		if err := pool.QueryRow(ctx, `SHOW default_transaction_read_only`).Scan(&ro); err != nil || ro != "on" {
			t.Errorf("%s: default_transaction_read_only = %q (%v)", dsn, ro, err)
		}
		if _, err := pool.Exec(ctx, `CREATE TABLE ro_probe (x INT)`); err == nil || !strings.Contains(err.Error(), "25006") {
			t.Errorf("%s: a write was not refused as read-only: %v", dsn, err)
		}
		pool.Close()
	}
}
