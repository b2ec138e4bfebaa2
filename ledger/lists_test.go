package ledger_test

import (
	"slices"
	"testing"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// OwnersOf is CanRead as a set: the lists of accounts and transactions
// show exactly what the single reads let the actor see.
func TestOwnersOfAgreesWithCanRead(t *testing.T) {
	accounts := []string{
		"citizen:C1:CP:pending", "citizen:C2:CP:available", "programme:CP:issuance", "pool:trees:CP",
		"operator:metro:CO2E:pool:metro-km.v1:2025-06", "operator:bike:CO2E:certified", "holder:E1:SDCER", "holder:metro:SDCER",
		"org:E1:CNY", "org:metro:CNY", "org:V1:CNY", "enterprise:E1:CEI:source", "city:3701:CEI:reserve", "city:3709:NOX:reserve",
		"province:CEI:reserve", "project:P1:CEI:allocated", "registry:SDCER:retired", "external:CNY",
	}
	actors := []ledger.Actor{
		{Role: ledger.RoleCitizen, Sub: "C1"}, {Role: ledger.RoleOperator, Sub: "o", Org: "metro"}, {Role: ledger.RoleEnterprise, Sub: "e", Org: "E1"},
		{Role: ledger.RoleVerifier, Sub: "v", Org: "V1"}, {Role: ledger.RoleCity, Sub: "c", City: "3701"},
		{Role: ledger.RoleOperator, Sub: "o"}, {Role: ledger.RoleCity, Sub: "c"}, {Role: "stranger", Sub: "x", Org: "E1"},
	}
	for _, a := range actors {
		owners := ledger.OwnersOf(a)
		for _, id := range accounts {
			spec, err := ledger.ClassifyAccount(id)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if got, want := slices.Contains(owners, spec.Owner), ledger.CanRead(a, id); got != want {
				t.Errorf("%+v on %s: OwnersOf says %v, CanRead %v", a, id, got, want)
			}
		}
	}
}

// A filter value that cannot match is invalid_request at its parameter.
func TestFilterChecks(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	later := at.Add(time.Hour)
	for _, c := range []struct {
		name  string
		err   error
		field string
	}{
		{"enum", ledger.FilterOneOf("status", "done", "open", "closed"), "status"},
		{"ident", ledger.FilterIdent("holder", "a b"), "holder"},
		{"range", ledger.FilterRange(&later, &at), "until"},
		{"empty range", ledger.FilterRange(&at, &at), "until"},
	} {
		e, ok := ledger.AsError(c.err)
		if !ok || e.Code != ledger.CodeInvalidRequest || e.Field != c.field {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
	for _, err := range []error{ledger.FilterOneOf("status", "", "open"), ledger.FilterOneOf("status", "open", "open"), ledger.FilterIdent("holder", ""),
		ledger.FilterRange(nil, &at), ledger.FilterRange(&at, &later)} {
		if err != nil {
			t.Errorf("refused: %v", err)
		}
	}
	if _, err := ledger.IDCursor("not-a-cursor"); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Errorf("bad cursor: %v", err)
	}
	if id, err := ledger.IDCursor(""); id != nil || err != nil {
		t.Errorf("first page: %v %v", id, err)
	}
}
