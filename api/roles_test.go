package api

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
)

// Who may use each route: the roles whose requests get past the
// authorization check (what a request then finds depends on its own
// organisation, city or account, which the use cases check). public means
// no token is needed. Every route of the server must have an entry, so a
// new route is a decision about who may use it, written down here.
var (
	roleAll        = ledger.Roles
	roleProvince   = []string{ledger.RoleProvince}
	roleOversight  = []string{ledger.RoleProvince, ledger.RoleAuditor}
	roleCitizen    = []string{ledger.RoleCitizen}
	roleOperator   = []string{ledger.RoleOperator}
	roleHolders    = []string{ledger.RoleEnterprise, ledger.RoleOperator}
	roleQuotaRead  = []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity, ledger.RoleEnterprise}
	roleQuotaRep   = []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity}
	roleCity       = []string{ledger.RoleCity}
	roleEnterprise = []string{ledger.RoleEnterprise}
	rolePublic     = []string{"public"}
)

var whoMay = map[string][]string{
	"GET /healthz":               rolePublic,
	"GET /readyz":                rolePublic,
	"GET /metrics":               rolePublic,
	"GET /openapi.json":          rolePublic,
	"GET /.well-known/jwks.json": rolePublic,

	"POST /v1/accounts":                              roleProvince,
	"GET /v1/accounts/{id}":                          roleAll, // each its own accounts (ledger.CanRead)
	"GET /v1/accounts/{id}/postings":                 roleAll,
	"POST /v1/accounts/{id}/status":                  roleProvince,
	"GET /v1/transactions/{id}":                      roleAll, // others see their own postings only
	"POST /v1/transactions":                          roleProvince,
	"POST /v1/transactions/batch":                    roleProvince,
	"POST /v1/transactions/{id}/reversal":            roleProvince,
	"POST /v1/transactions/{id}/post":                roleProvince,
	"POST /v1/transactions/{id}/void":                roleProvince,
	"GET /v1/audit/verify":                           roleOversight,
	"GET /v1/public/checkpoints":                     rolePublic,
	"GET /v1/public/checkpoints/latest":              rolePublic,
	"POST /v1/methodologies":                         roleProvince,
	"GET /v1/methodologies":                          roleAll,
	"GET /v1/methodologies/{id}":                     roleAll,
	"POST /v1/programme-rules":                       roleProvince,
	"GET /v1/programme-rules":                        roleAll,
	"POST /v1/operators":                             roleProvince,
	"GET /v1/operators":                              roleAll,
	"POST /v1/donation-pools":                        roleProvince,
	"GET /v1/donation-pools":                         roleAll,
	"POST /v1/rewards":                               {ledger.RoleProvince, ledger.RoleEnterprise},
	"GET /v1/rewards":                                roleAll,
	"POST /v1/behaviours":                            roleOperator,
	"POST /v1/clawbacks":                             roleProvince,
	"GET /v1/citizens/{id}":                          {ledger.RoleCitizen, ledger.RoleProvince, ledger.RoleAuditor},
	"GET /v1/citizens/{id}/activity":                 {ledger.RoleCitizen, ledger.RoleProvince, ledger.RoleAuditor},
	"POST /v1/me/account":                            roleCitizen,
	"GET /v1/me":                                     roleCitizen,
	"GET /v1/me/activity":                            roleCitizen,
	"POST /v1/me/entrustments":                       roleCitizen,
	"GET /v1/me/entrustments":                        roleCitizen,
	"POST /v1/me/entrustments/{operator}/withdrawal": roleCitizen,
	"POST /v1/me/claims":                             roleCitizen,
	"POST /v1/me/redemptions":                        roleCitizen,
	"POST /v1/me/donations":                          roleCitizen,

	"POST /v1/certifications":                          roleOperator,
	"GET /v1/certifications/{id}":                      rolePublic, // without a token: under public notice; drafts: its operator, province, auditors
	"POST /v1/certifications/{id}/notice":              roleOperator,
	"POST /v1/certifications/{id}/submission":          roleOperator,
	"POST /v1/certifications/{id}/assignment":          roleProvince,
	"POST /v1/certifications/{id}/verification":        {ledger.RoleVerifier},
	"POST /v1/certifications/{id}/issuance":            roleProvince,
	"POST /v1/certifications/{id}/withdrawal":          roleOperator,
	"POST /v1/verifiers":                               roleProvince,
	"POST /v1/holders":                                 {ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince},
	"POST /v1/holders/{id}/freeze":                     roleProvince,
	"POST /v1/holders/{id}/unfreeze":                   roleProvince,
	"GET /v1/holdings":                                 {ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor},
	"POST /v1/transfers":                               roleHolders,
	"POST /v1/trades":                                  roleHolders,
	"GET /v1/trades/{id}":                              {ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor},
	"POST /v1/trades/{id}/acceptance":                  roleHolders,
	"POST /v1/trades/{id}/cancellation":                {ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince},
	"POST /v1/deposits":                                roleProvince,
	"POST /v1/retirements":                             roleHolders,
	"GET /v1/retirements/{id}":                         rolePublic,
	"POST /v1/offsets":                                 roleEnterprise,
	"POST /v1/registry/obligations":                    roleProvince,
	"GET /v1/registry/obligations/{enterprise}/{year}": {ledger.RoleEnterprise, ledger.RoleProvince, ledger.RoleAuditor},
	"POST /v1/cancellations":                           roleProvince,
	"GET /v1/registry/stats":                           rolePublic,
	"GET /v1/registry/policy":                          rolePublic,
	"GET /v1/registry/verify":                          roleOversight,
	"POST /v1/registry/policies":                       roleProvince,

	"POST /v1/quota/sources":                               roleCity,
	"GET /v1/quota/sources":                                roleQuotaRead,
	"GET /v1/quota/sources/{id}":                           roleQuotaRead,
	"POST /v1/quota/sources/{id}/approval":                 roleProvince,
	"POST /v1/quota/stockpilings":                          roleProvince,
	"POST /v1/quota/applications":                          roleEnterprise,
	"GET /v1/quota/applications":                           roleQuotaRead,
	"GET /v1/quota/applications/{id}":                      roleQuotaRead,
	"POST /v1/quota/applications/{id}/review":              roleCity,
	"POST /v1/quota/applications/{id}/decision":            roleProvince,
	"POST /v1/quota/applications/{id}/government-approval": roleProvince,
	"POST /v1/quota/allocations/{id}/consumption":          roleProvince,
	"POST /v1/quota/allocations/{id}/recovery":             roleProvince,
	"POST /v1/quota/transfers":                             roleProvince,
	"POST /v1/quota/corrections":                           roleProvince,
	"GET /v1/quota/corrections/{id}":                       roleOversight,
	"POST /v1/quota/corrections/{id}/approval":             roleProvince,
	"GET /v1/quota/reserves":                               roleQuotaRep,
	"GET /v1/quota/report":                                 roleQuotaRep,
	"GET /v1/quota/config":                                 roleAll,
	"POST /v1/quota/config":                                roleProvince,
	"GET /v1/indices":                                      roleAll,
	"POST /v1/indices/{kind}/sources":                      roleCity,
	"GET /v1/indices/{kind}/sources":                       roleQuotaRead,
	"POST /v1/indices/{kind}/stockpilings":                 roleProvince,
	"GET /v1/indices/{kind}/reserves":                      roleQuotaRep,
	"GET /v1/indices/{kind}/report":                        roleQuotaRep,
	"POST /v1/indices/{kind}/transfers":                    roleProvince,
	"GET /v1/indices/{kind}/config":                        roleAll,
	"POST /v1/indices/{kind}/config":                       roleProvince,
	"POST /v1/quota/bundles":                               roleEnterprise,
	"GET /v1/quota/bundles/{id}":                           roleQuotaRead,
	"POST /v1/quota/bundles/{id}/review":                   roleCity,
	"POST /v1/quota/bundles/{id}/decision":                 roleProvince,
	"POST /v1/quota/bundles/{id}/government-approval":      roleProvince,
	"POST /v1/quota/projects/{id}/move":                    roleProvince,

	// The lists (lists.go): scoped further by the use cases.
	"GET /v1/certifications":     rolePublic, // without a token: under public notice
	"GET /v1/trades":             {ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor},
	"GET /v1/retirements":        rolePublic, // the public register; mine=true with a holder's token
	"GET /v1/transfers":          {ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor},
	"GET /v1/offsets":            {ledger.RoleEnterprise, ledger.RoleProvince, ledger.RoleAuditor},
	"GET /v1/cancellations":      {ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor},
	"GET /v1/registry/policies":  rolePublic,
	"GET /v1/verifiers":          rolePublic,
	"GET /v1/quota/corrections":  roleOversight,
	"GET /v1/quota/allocations":  roleQuotaRead,
	"GET /v1/quota/stockpilings": roleQuotaRead,
	"GET /v1/quota/transfers":    roleQuotaRep,
	"GET /v1/behaviours":         {ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor},
	"GET /v1/points/stats":       {ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor},
	"GET /v1/transactions":       roleAll, // others: the transactions on their own accounts
	"GET /v1/accounts":           roleAll, // others: their own accounts
}

// principalVariant is one token: a role, with or without an organisation
// and a city beyond what the role needs.
type principalVariant struct{ role, org, city string }

func (v principalVariant) String() string {
	return v.role + "(org=" + v.org + ",city=" + v.city + ")"
}

// principalVariants: every role with what it needs, and with the other
// claims too (a citizen that carries org=E2 is still only a citizen).
func principalVariants() []principalVariant {
	var out []principalVariant
	for _, role := range ledger.Roles {
		switch role {
		case ledger.RoleOperator, ledger.RoleVerifier, ledger.RoleEnterprise:
			out = append(out, principalVariant{role, "E2", ""}, principalVariant{role, "E2", "3701"})
		case ledger.RoleCity:
			out = append(out, principalVariant{role, "", "3701"}, principalVariant{role, "E2", "3701"})
		default:
			out = append(out, principalVariant{role, "", ""}, principalVariant{role, "E2", ""}, principalVariant{role, "", "3701"})
		}
	}
	return out
}

// routePath fills a route's path parameters with values that name
// nothing that exists.
func routePath(pattern string) string {
	var b strings.Builder
	for rest := pattern; rest != ""; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest, '}')
		b.WriteString(rest[:i])
		switch rest[i+1 : j] {
		case "kind":
			b.WriteString("CEI")
		case "year":
			b.WriteString("2025")
		case "id":
			b.WriteString(uuid.NewString())
		default:
			b.WriteString("E2")
		}
		rest = rest[j+1:]
	}
	return b.String()
}

// TestEveryRouteChecksTheRole sends every route a request as every role,
// with and without an organisation and a city, and checks the answer
// against whoMay: a role that may not use the route is refused (403
// forbidden) before anything else; a role that may is never refused for
// its role (its request, naming nothing that exists, fails later, if at
// all, for what it names).
func TestEveryRouteChecksTheRole(t *testing.T) {
	h := newHarness(t, true)
	seen := map[string]bool{}
	for _, rt := range h.server.routes {
		name := rt.Method + " " + rt.Path
		seen[name] = true
		may, ok := whoMay[name]
		if !ok {
			t.Errorf("route %s is not in whoMay: add who may use it", name)
			continue
		}
		if slices.Equal(may, rolePublic) != rt.Public {
			t.Errorf("route %s: public=%v, whoMay says %v", name, rt.Public, may)
			continue
		}
		path := routePath(rt.Path)
		var body any
		if rt.Method == "POST" {
			body = map[string]any{}
		}
		if rt.Public {
			if r := h.do(rt.Method, path, "", body); r.Status == 401 || r.Status == 403 {
				t.Errorf("public route %s refused a request without a token: %d %s", name, r.Status, r.Body)
			}
			continue
		}
		if r := h.do(rt.Method, path, "", body); r.Status != 401 || r.code() != "unauthorized" {
			t.Errorf("%s without a token: %d %s, want 401 unauthorized", name, r.Status, r.Body)
		}
		for _, v := range principalVariants() {
			tok := h.token(v.role, "rt-"+v.role, v.org, v.city)
			r := h.do(rt.Method, path, tok, body)
			refused := r.Status == 403 && r.code() == "forbidden"
			// The route's check and actor.Require refuse a role in words
			// that start so; a role that passes may still be refused for
			// what its request names (not its own city, an unregistered
			// operator), which is not this test's business.
			forRole := refused && strings.HasPrefix(r.str("detail"), "role ")
			switch allowed := slices.Contains(may, v.role); {
			case !allowed && !refused:
				t.Errorf("%s as %s: %d %s, want 403 forbidden", name, v, r.Status, r.Body)
			case allowed && (forRole || r.Status == 401):
				t.Errorf("%s as %s: %d %s, want past the role check", name, v, r.Status, r.Body)
			}
		}
	}
	var stale []string
	for name := range whoMay {
		if !seen[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		t.Errorf("whoMay names %s, which the server does not serve", name)
	}
}
