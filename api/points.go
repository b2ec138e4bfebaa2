package api

import (
	"context"
	"net/http"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
)

// Personal carbon accounts (issue 3): HTTP over package ledger/points,
// which authorizes every call again by role (an operator reports only for
// citizens who entrusted it; a citizen acts on and reads only their own
// account; the province configures).
//
// The request and response types are this package's own names for the
// points types, so the OpenAPI schemas do not collide with other domains'.

type (
	pointsMethodologyRequest points.MethodologyInput
	pointsRulesRequest       points.RulesInput
	pointsOperatorRequest    points.OperatorInput
	pointsPoolRequest        points.PoolInput
	pointsRewardRequest      points.RewardInput
	pointsEntrustRequest     points.EntrustInput
	pointsBehavioursRequest  points.IngestInput
	pointsRedeemRequest      points.RedeemInput
	pointsDonateRequest      points.DonateInput
	pointsClawbackRequest    points.ClawbackInput

	pointsMethodologyView points.Methodology
	pointsRulesView       points.ProgrammeRules
	pointsOperatorView    points.Operator
	pointsPoolView        points.DonationPool
	pointsRewardView      points.Reward
	pointsCitizenView     points.Citizen
	pointsEntrustmentView points.Entrustment
	pointsBehavioursView  points.IngestResult
	pointsClaimView       points.ClaimResult
	pointsRedemptionView  points.Redemption
	pointsDonationView    points.Donation
	pointsClawbackView    points.Clawback
	pointsSummaryView     points.Summary
	pointsActivityView    points.ActivityItem
)

// pointsEmptyRequest is the body of actions that take no input: {}.
type pointsEmptyRequest struct{}

func (s *Server) pointsRoutes() []route {
	province := []string{RoleProvince}
	citizen := []string{RoleCitizen}
	citizenReaders := []string{RoleCitizen, RoleProvince, RoleAuditor}
	return []route{
		{Method: "POST", Path: "/v1/methodologies", Summary: "publish a methodology version (takes effect at valid_from, never edited)", Tag: "points",
			Roles: province, In: pointsMethodologyRequest{}, Out: pointsMethodologyView{}, Handler: s.handlePointsCreateMethodology},
		{Method: "GET", Path: "/v1/methodologies", Summary: "list the methodology versions in effect (all=true: every version)", Tag: "points",
			Out: pageView[pointsMethodologyView]{}, Handler: s.handlePointsListMethodologies},
		{Method: "GET", Path: "/v1/methodologies/{id}", Summary: "read a methodology version", Tag: "points",
			Out: pointsMethodologyView{}, Handler: s.handlePointsGetMethodology},
		{Method: "POST", Path: "/v1/programme-rules", Summary: "publish a version of the programme-wide rules (daily cap, reporting window)", Tag: "points",
			Roles: province, In: pointsRulesRequest{}, Out: pointsRulesView{}, Handler: s.handlePointsCreateRules},
		{Method: "GET", Path: "/v1/programme-rules", Summary: "list every version of the programme-wide rules", Tag: "points",
			Out: pageView[pointsRulesView]{}, Handler: s.handlePointsListRules},
		{Method: "POST", Path: "/v1/operators", Summary: "register an operator and the behaviour kinds it may report, or change them", Tag: "points",
			Roles: province, In: pointsOperatorRequest{}, Out: pointsOperatorView{}, Handler: s.handlePointsRegisterOperator},
		{Method: "GET", Path: "/v1/operators", Summary: "list the registered operators", Tag: "points",
			Out: pageView[pointsOperatorView]{}, Handler: s.handlePointsListOperators},
		{Method: "POST", Path: "/v1/donation-pools", Summary: "approve a donation pool (pool:{id}:CP)", Tag: "points",
			Roles: province, In: pointsPoolRequest{}, Out: pointsPoolView{}, Handler: s.handlePointsCreatePool},
		{Method: "GET", Path: "/v1/donation-pools", Summary: "list the approved donation pools", Tag: "points",
			Out: pageView[pointsPoolView]{}, Handler: s.handlePointsListPools},
		{Method: "POST", Path: "/v1/rewards", Summary: "publish a reward with a point price and a stock (province or merchant)", Tag: "points",
			Roles: []string{RoleProvince, RoleEnterprise}, In: pointsRewardRequest{}, Out: pointsRewardView{}, Handler: s.handlePointsCreateReward},
		{Method: "GET", Path: "/v1/rewards", Summary: "list the rewards on offer", Tag: "points",
			Out: pageView[pointsRewardView]{}, Handler: s.handlePointsListRewards},
		{Method: "POST", Path: "/v1/behaviours", Summary: "report up to 1,000 behaviour records of entrusting citizens; one result per record", Tag: "points",
			Roles: []string{RoleOperator}, BodyMax: bodyBytesBatch, In: pointsBehavioursRequest{}, Out: pointsBehavioursView{}, Handler: s.handlePointsReport},
		{Method: "POST", Path: "/v1/clawbacks", Summary: "claw back fraudulent credits of a citizen: reverse what remains, never below zero", Tag: "points",
			Roles: province, In: pointsClawbackRequest{}, Out: pointsClawbackView{}, Handler: s.handlePointsClawback},
		{Method: "GET", Path: "/v1/citizens/{id}", Summary: "a citizen's carbon account summary (the citizen themself, province, auditor)", Tag: "points",
			Roles: citizenReaders, Out: pointsSummaryView{}, Handler: s.handlePointsCitizenSummary},
		{Method: "GET", Path: "/v1/citizens/{id}/activity", Summary: "page a citizen's activity (the citizen themself, province, auditor)", Tag: "points",
			Roles: citizenReaders, Paged: true, Out: pageView[pointsActivityView]{}, Handler: s.handlePointsCitizenActivity},

		{Method: "POST", Path: "/v1/me/account", Summary: "open my carbon account (idempotent)", Tag: "points",
			Roles: citizen, In: pointsEmptyRequest{}, Out: pointsCitizenView{}, Handler: s.handlePointsRegister},
		{Method: "GET", Path: "/v1/me", Summary: "my carbon account: pending, available, lifetime grams, expiring soon", Tag: "points",
			Roles: citizen, Out: pointsSummaryView{}, Handler: s.handlePointsMe},
		{Method: "GET", Path: "/v1/me/activity", Summary: "page my activity in plain terms, with the behaviour behind each credit", Tag: "points",
			Roles: citizen, Paged: true, Out: pageView[pointsActivityView]{}, Handler: s.handlePointsMyActivity},
		{Method: "POST", Path: "/v1/me/entrustments", Summary: "entrust an operator to report my behaviour", Tag: "points",
			Roles: citizen, In: pointsEntrustRequest{}, Out: pointsEntrustmentView{}, Handler: s.handlePointsEntrust},
		{Method: "GET", Path: "/v1/me/entrustments", Summary: "list my entrustments", Tag: "points",
			Roles: citizen, Out: pageView[pointsEntrustmentView]{}, Handler: s.handlePointsListEntrustments},
		{Method: "POST", Path: "/v1/me/entrustments/{operator}/withdrawal", Summary: "withdraw an entrustment", Tag: "points",
			Roles: citizen, In: pointsEmptyRequest{}, Out: pointsEntrustmentView{}, Handler: s.handlePointsWithdraw},
		{Method: "POST", Path: "/v1/me/claims", Summary: "claim my pending points inside the claim window", Tag: "points",
			Roles: citizen, In: pointsEmptyRequest{}, Out: pointsClaimView{}, Handler: s.handlePointsClaim},
		{Method: "POST", Path: "/v1/me/redemptions", Summary: "redeem points for a reward (oldest points first)", Tag: "points",
			Roles: citizen, In: pointsRedeemRequest{}, Out: pointsRedemptionView{}, Handler: s.handlePointsRedeem},
		{Method: "POST", Path: "/v1/me/donations", Summary: "donate points to an approved pool (oldest points first)", Tag: "points",
			Roles: citizen, In: pointsDonateRequest{}, Out: pointsDonationView{}, Handler: s.handlePointsDonate},
	}
}

// pointsJobs: lapse unclaimed credits and expire lots. Safe on every
// replica at once (see points.ExpireDue).
func pointsJobs() []Job {
	return []Job{{Name: "expire-points", Every: time.Minute, Run: func(ctx context.Context, l *ledger.Ledger) (int, error) {
		return points.ExpireDue(ctx, l, jobBatchMax)
	}}}
}

func pointsConvert[T, V any](in []T, conv func(T) V) []V {
	out := make([]V, 0, len(in))
	for _, x := range in {
		out = append(out, conv(x))
	}
	return out
}

func (s *Server) handlePointsCreateMethodology(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsMethodologyRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	m, replayed, err := points.CreateMethodology(r.Context(), s.l, a, key, points.MethodologyInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsMethodologyView(m))
}

func (s *Server) handlePointsListMethodologies(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	all := false
	switch r.URL.Query().Get("all") {
	case "", "false":
	case "true":
		all = true
	default:
		return ledger.Errf(ledger.CodeInvalidRequest, "all must be true or false").At("all")
	}
	ms, err := points.ListMethodologies(r.Context(), s.l, all)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageView[pointsMethodologyView]{Items: pointsConvert(ms, func(m points.Methodology) pointsMethodologyView { return pointsMethodologyView(m) })})
}

func (s *Server) handlePointsGetMethodology(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	m, err := points.GetMethodology(r.Context(), s.l, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pointsMethodologyView(m))
}

func (s *Server) handlePointsCreateRules(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsRulesRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	v, replayed, err := points.CreateProgrammeRules(r.Context(), s.l, a, key, points.RulesInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsRulesView(v))
}

func (s *Server) handlePointsListRules(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	rs, err := points.ListProgrammeRules(r.Context(), s.l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageView[pointsRulesView]{Items: pointsConvert(rs, func(x points.ProgrammeRules) pointsRulesView { return pointsRulesView(x) })})
}

func (s *Server) handlePointsRegisterOperator(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsOperatorRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	o, replayed, err := points.RegisterOperator(r.Context(), s.l, a, key, points.OperatorInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsOperatorView(o))
}

func (s *Server) handlePointsListOperators(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	ops, err := points.ListOperators(r.Context(), s.l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageView[pointsOperatorView]{Items: pointsConvert(ops, func(x points.Operator) pointsOperatorView { return pointsOperatorView(x) })})
}

func (s *Server) handlePointsCreatePool(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsPoolRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	p, replayed, err := points.CreateDonationPool(r.Context(), s.l, a, key, points.PoolInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsPoolView(p))
}

func (s *Server) handlePointsListPools(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	ps, err := points.ListDonationPools(r.Context(), s.l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageView[pointsPoolView]{Items: pointsConvert(ps, func(x points.DonationPool) pointsPoolView { return pointsPoolView(x) })})
}

func (s *Server) handlePointsCreateReward(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsRewardRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	rw, replayed, err := points.CreateReward(r.Context(), s.l, a, key, points.RewardInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsRewardView(rw))
}

func (s *Server) handlePointsListRewards(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	rs, err := points.ListRewards(r.Context(), s.l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageView[pointsRewardView]{Items: pointsConvert(rs, func(x points.Reward) pointsRewardView { return pointsRewardView(x) })})
}

func (s *Server) handlePointsReport(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsBehavioursRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	res, replayed, err := points.Ingest(r.Context(), s.l, a, key, points.IngestInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsBehavioursView(res))
}

func (s *Server) handlePointsClawback(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsClawbackRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	c, replayed, err := points.ClawBack(r.Context(), s.l, a, key, points.ClawbackInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsClawbackView(c))
}

func (s *Server) pointsSummary(w http.ResponseWriter, r *http.Request, a ledger.Actor, citizen string) error {
	sum, err := points.GetSummary(r.Context(), s.l, a, citizen)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pointsSummaryView(sum))
}

func (s *Server) pointsActivity(w http.ResponseWriter, r *http.Request, a ledger.Actor, citizen string) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	page, err := points.ListActivity(r.Context(), s.l, a, citizen, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageView[pointsActivityView]{NextCursor: page.NextCursor,
		Items: pointsConvert(page.Items, func(x points.ActivityItem) pointsActivityView { return pointsActivityView(x) })})
}

func (s *Server) handlePointsCitizenSummary(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return s.pointsSummary(w, r, a, r.PathValue("id"))
}

func (s *Server) handlePointsCitizenActivity(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return s.pointsActivity(w, r, a, r.PathValue("id"))
}

func (s *Server) handlePointsMe(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return s.pointsSummary(w, r, a, a.Sub)
}

func (s *Server) handlePointsMyActivity(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return s.pointsActivity(w, r, a, a.Sub)
}

func (s *Server) handlePointsRegister(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsEmptyRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	c, replayed, err := points.RegisterCitizen(r.Context(), s.l, a, key, a.Sub)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsCitizenView(c))
}

func (s *Server) handlePointsEntrust(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsEntrustRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	e, replayed, err := points.Entrust(r.Context(), s.l, a, key, points.EntrustInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsEntrustmentView(e))
}

func (s *Server) handlePointsListEntrustments(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	es, err := points.ListEntrustments(r.Context(), s.l, a, a.Sub)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageView[pointsEntrustmentView]{Items: pointsConvert(es, func(x points.Entrustment) pointsEntrustmentView { return pointsEntrustmentView(x) })})
}

func (s *Server) handlePointsWithdraw(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsEmptyRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	e, replayed, err := points.Withdraw(r.Context(), s.l, a, key, points.EntrustInput{Operator: r.PathValue("operator")})
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsEntrustmentView(e))
}

func (s *Server) handlePointsClaim(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsEmptyRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	c, replayed, err := points.Claim(r.Context(), s.l, a, key)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsClaimView(c))
}

func (s *Server) handlePointsRedeem(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsRedeemRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	red, replayed, err := points.Redeem(r.Context(), s.l, a, key, points.RedeemInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsRedemptionView(red))
}

func (s *Server) handlePointsDonate(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req pointsDonateRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	d, replayed, err := points.Donate(r.Context(), s.l, a, key, points.DonateInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, pointsDonationView(d))
}
