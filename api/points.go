package api

import (
	"context"
	"net/http"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// Personal carbon accounts (issue 3): HTTP over package ledger/points,
// which authorizes every call again by role (an operator reports only for
// citizens who entrusted it; a citizen acts on and reads only their own
// account; the province configures). Every handler is one of the shared
// adapters (server.go) over a points function.

func (s *Server) pointsRoutes() []route {
	province := []string{ledger.RoleProvince}
	citizen := []string{ledger.RoleCitizen}
	citizenReaders := []string{ledger.RoleCitizen, ledger.RoleProvince, ledger.RoleAuditor}
	return []route{
		{Method: "POST", Path: "/v1/methodologies", Summary: "publish a methodology version (takes effect at valid_from, never edited)", Tag: "points",
			Roles: province, In: points.MethodologyInput{}, Out: points.Methodology{}, Handler: keyed(s, points.CreateMethodology)},
		{Method: "GET", Path: "/v1/methodologies", Summary: "list the methodology versions in effect (all=true: every version)", Tag: "points",
			Query: []queryParam{paramBool("all", "true: every version, superseded ones too")}, Out: pageView[points.Methodology]{}, Handler: read(s, queryBool("all"), anyActor(points.ListMethodologies), viewList)},
		{Method: "GET", Path: "/v1/methodologies/{id}", Summary: "read a methodology version", Tag: "points",
			Out: points.Methodology{}, Handler: read(s, pathValue("id"), anyActor(points.GetMethodology), nonView)},
		{Method: "POST", Path: "/v1/programme-rules", Summary: "publish a version of the programme-wide rules (daily cap, reporting window, overlap tolerance, exclusivity groups, per-day total kinds)", Tag: "points",
			Roles: province, In: points.RulesInput{}, Out: points.ProgrammeRules{}, Handler: keyed(s, points.CreateProgrammeRules)},
		{Method: "GET", Path: "/v1/programme-rules", Summary: "list every version of the programme-wide rules", Tag: "points",
			Out: pageView[points.ProgrammeRules]{}, Handler: readAll(s, points.ListProgrammeRules, viewList)},
		{Method: "POST", Path: "/v1/operators", Summary: "register an operator and the behaviour kinds it may report, or change them", Tag: "points",
			Roles: province, In: points.OperatorInput{}, Out: points.Operator{}, Handler: keyed(s, points.RegisterOperator)},
		{Method: "GET", Path: "/v1/operators", Summary: "list the registered operators", Tag: "points",
			Out: pageView[points.Operator]{}, Handler: readAll(s, points.ListOperators, viewList)},
		{Method: "POST", Path: "/v1/donation-pools", Summary: "approve a donation pool (pool:{id}:CP)", Tag: "points",
			Roles: province, In: points.PoolInput{}, Out: points.DonationPool{}, Handler: keyed(s, points.CreateDonationPool)},
		{Method: "GET", Path: "/v1/donation-pools", Summary: "list the approved donation pools", Tag: "points",
			Out: pageView[points.DonationPool]{}, Handler: readAll(s, points.ListDonationPools, viewList)},
		{Method: "POST", Path: "/v1/rewards", Summary: "publish a reward with a point price and a stock (province or merchant)", Tag: "points",
			Roles: []string{ledger.RoleProvince, ledger.RoleEnterprise}, In: points.RewardInput{}, Out: points.Reward{}, Handler: keyed(s, points.CreateReward)},
		{Method: "GET", Path: "/v1/rewards", Summary: "list the rewards on offer", Tag: "points",
			Out: pageView[points.Reward]{}, Handler: readAll(s, points.ListRewards, viewList)},
		{Method: "POST", Path: "/v1/behaviours", Summary: "report up to 1,000 behaviour records of entrusting citizens; one result per record (a duplicate names the record it duplicates)", Tag: "points",
			Roles: []string{ledger.RoleOperator}, BodyMax: bodyBytesBatch, In: points.IngestInput{}, Out: points.IngestResult{}, Handler: keyed(s, points.Ingest)},
		{Method: "POST", Path: "/v1/clawbacks", Summary: "claw back fraudulent credits of a citizen: reverse what remains, never below zero", Tag: "points",
			Roles: province, In: points.ClawbackInput{}, Out: points.Clawback{}, Handler: keyed(s, points.ClawBack)},
		{Method: "GET", Path: "/v1/citizens/{id}", Summary: "a citizen's carbon account summary (the citizen themself, province, auditor)", Tag: "points",
			Roles: citizenReaders, Out: points.Summary{}, Handler: read(s, pathValue("id"), points.GetSummary, nonView)},
		{Method: "GET", Path: "/v1/citizens/{id}/activity", Summary: "page a citizen's activity (the citizen themself, province, auditor)", Tag: "points",
			Roles: citizenReaders, Paged: true, Out: pageView[points.ActivityItem]{}, Handler: readPage(s, pathValue("id"), points.ListActivity, viewPage)},

		{Method: "POST", Path: "/v1/me/account", Summary: "open my carbon account (idempotent)", Tag: "points",
			Roles: citizen, In: emptyRequest{}, Out: points.Citizen{}, Handler: keyedArg(s, tokenSub, points.RegisterCitizen)},
		{Method: "GET", Path: "/v1/me", Summary: "my carbon account: pending, available, lifetime grams, expiring soon", Tag: "points",
			Roles: citizen, Out: points.Summary{}, Handler: read(s, tokenSub, points.GetSummary, nonView)},
		{Method: "GET", Path: "/v1/me/activity", Summary: "page my activity in plain terms, with the behaviour behind each credit and the reports that duplicated it", Tag: "points",
			Roles: citizen, Paged: true, Out: pageView[points.ActivityItem]{}, Handler: readPage(s, tokenSub, points.ListActivity, viewPage)},
		{Method: "POST", Path: "/v1/me/entrustments", Summary: "entrust an operator to report my behaviour", Tag: "points",
			Roles: citizen, In: points.EntrustInput{}, Out: points.Entrustment{}, Handler: keyed(s, points.Entrust)},
		{Method: "GET", Path: "/v1/me/entrustments", Summary: "list my entrustments", Tag: "points",
			Roles: citizen, Out: pageView[points.Entrustment]{}, Handler: read(s, tokenSub, points.ListEntrustments, viewList)},
		{Method: "POST", Path: "/v1/me/entrustments/{operator}/withdrawal", Summary: "withdraw an entrustment", Tag: "points",
			Roles: citizen, In: emptyRequest{}, Out: points.Entrustment{}, Handler: keyedArg(s, pointsOperator, points.Withdraw)},
		{Method: "POST", Path: "/v1/me/claims", Summary: "claim my pending points inside the claim window", Tag: "points",
			Roles: citizen, In: emptyRequest{}, Out: points.ClaimResult{}, Handler: keyed(s, pointsClaim)},
		{Method: "POST", Path: "/v1/me/redemptions", Summary: "redeem points for a reward (oldest points first)", Tag: "points",
			Roles: citizen, In: points.RedeemInput{}, Out: points.Redemption{}, Handler: keyed(s, points.Redeem)},
		{Method: "POST", Path: "/v1/me/donations", Summary: "donate points to an approved pool (oldest points first)", Tag: "points",
			Roles: citizen, In: points.DonateInput{}, Out: points.Donation{}, Handler: keyed(s, points.Donate)},
	}
}

// pointsOperator is the entrustment named by the path's {operator}.
func pointsOperator(r *http.Request, _ ledger.Actor) (points.EntrustInput, error) {
	return points.EntrustInput{Operator: r.PathValue("operator")}, nil
}

// pointsClaim is points.Claim with the body ({}) keyed decodes.
func pointsClaim(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, _ emptyRequest) (points.ClaimResult, bool, error) {
	return points.Claim(ctx, l, a, key)
}
