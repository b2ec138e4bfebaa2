package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// Certified reductions registry (issue 4): HTTP over package
// ledger/registry, which authorizes every call again (verifier only on its
// assigned batches, holders only on their own units, province-only
// decisions). Request and response types carry a registry prefix so that
// their OpenAPI schemas do not collide with other domains' names.

// registryFreezeRequest is the decision behind a freeze or unfreeze; the
// holder is in the path.
type registryFreezeRequest struct {
	DecisionRef string `json:"decision_ref"`
	Reason      string `json:"reason"`
}

type registryHoldingsView struct {
	Holder     string                    `json:"holder"`
	Status     string                    `json:"status"`
	Balance    string                    `json:"balance"`
	Available  string                    `json:"available"`
	Summary    []registry.HoldingSummary `json:"summary"`
	Blocks     []registry.Block          `json:"blocks"`
	NextCursor string                    `json:"next_cursor"`
}

type registryStatsView struct {
	Totals registry.StatsRow   `json:"totals"`
	Rows   []registry.StatsRow `json:"by_vintage_and_methodology"`
	AsOf   time.Time           `json:"as_of"`
}

func (s *Server) registryRoutes() []route {
	province := []string{ledger.RoleProvince}
	operator := []string{ledger.RoleOperator}
	holders := []string{ledger.RoleEnterprise, ledger.RoleOperator}
	return []route{
		{Method: "POST", Path: "/v1/certifications", Summary: "request certification of a pool period; captures its grams (operator)", Tag: "registry",
			Roles: operator, In: registry.CertificationRequest{}, Out: registry.Batch{}, Handler: keyed(s, registry.RequestCertification)},
		{Method: "GET", Path: "/v1/certifications/{id}", Summary: "read a certification batch (drafts: its operator, province, auditors; without a token: a batch under public notice)", Tag: "registry",
			Public: true, Replica: true, TokenOptional: true, Out: registry.Batch{}, Handler: read(s, pathUUID, registry.GetCertification, nonView)},
		{Method: "POST", Path: "/v1/certifications/{id}/notice", Summary: "start the public notice of a draft batch (operator)", Tag: "registry",
			Roles: operator, Out: registry.Batch{}, Handler: keyedStep(s, registry.PublishNotice, nonView[registry.Batch])},
		{Method: "POST", Path: "/v1/certifications/{id}/submission", Summary: "submit a batch whose notice has ended (operator)", Tag: "registry",
			Roles: operator, Out: registry.Batch{}, Handler: keyedStep(s, registry.SubmitCertification, nonView[registry.Batch])},
		{Method: "POST", Path: "/v1/certifications/{id}/assignment", Summary: "assign an accredited verifier, never of the requesting organisation", Tag: "registry",
			Roles: province, In: registry.AssignInput{}, Out: registry.Batch{}, Handler: keyedID(s, registry.AssignVerifier)},
		{Method: "POST", Path: "/v1/certifications/{id}/verification", Summary: "approve and reject grams with a report (the assigned verifier)", Tag: "registry",
			Roles: []string{ledger.RoleVerifier}, In: registry.VerificationInput{}, Out: registry.Batch{}, Handler: keyedID(s, registry.VerifyCertification)},
		{Method: "POST", Path: "/v1/certifications/{id}/issuance", Summary: "issue whole units as one serial block; certified grams move in the same transaction", Tag: "registry",
			Roles: province, Out: registry.Batch{}, Handler: keyedStep(s, registry.IssueCertification, nonView[registry.Batch])},
		{Method: "POST", Path: "/v1/certifications/{id}/withdrawal", Summary: "withdraw a batch before issuance; its grams are released (operator)", Tag: "registry",
			Roles: operator, In: registry.WithdrawInput{}, Out: registry.Batch{}, Handler: keyedID(s, registry.WithdrawCertification)},
		{Method: "POST", Path: "/v1/verifiers", Summary: "accredit a verification body", Tag: "registry",
			Roles: province, In: registry.VerifierInput{}, Out: registry.Verifier{}, Handler: keyed(s, registry.AccreditVerifier)},

		{Method: "POST", Path: "/v1/holders", Summary: "open a unit holding and money account (own organisation; province: any)", Tag: "registry",
			Roles: []string{ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince}, In: registry.HolderInput{}, Out: registry.Holder{}, Handler: keyed(s, registry.OpenHolder)},
		{Method: "POST", Path: "/v1/holders/{id}/freeze", Summary: "freeze a holding, citing a decision", Tag: "registry",
			Roles: province, In: registryFreezeRequest{}, Out: registry.Holder{}, Handler: s.handleRegistryFreeze(true)},
		{Method: "POST", Path: "/v1/holders/{id}/unfreeze", Summary: "unfreeze a holding, citing a decision", Tag: "registry",
			Roles: province, In: registryFreezeRequest{}, Out: registry.Holder{}, Handler: s.handleRegistryFreeze(false)},
		{Method: "GET", Path: "/v1/holdings", Summary: "a holder's units by block, vintage and methodology (holder=… for province and auditors)", Tag: "registry",
			Roles: []string{ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor}, Paged: true,
			Query: []queryParam{paramString("holder", "the holder (organisation) whose units to show; province and auditors only, others see their own")},
			Out:   registryHoldingsView{}, Handler: readPage(s, queryValue("holder"), registry.GetHoldings, viewRegistryHoldings)},
		{Method: "POST", Path: "/v1/transfers", Summary: "move own units to another holder (FIFO, or a named serial range)", Tag: "registry",
			Roles: holders, In: registry.TransferInput{}, Out: registry.Transfer{}, Handler: s.handleRegistryTransfer},
		{Method: "POST", Path: "/v1/trades", Summary: "offer own units to a buyer at a price; reserves them until acceptance, cancellation or timeout", Tag: "registry",
			Roles: holders, In: registry.OfferInput{}, Out: registry.Trade{}, Handler: s.handleRegistryOffer},
		{Method: "GET", Path: "/v1/trades/{id}", Summary: "read a trade and its status (seller, buyer, province, auditors)", Tag: "registry",
			Roles: registry.TradeReaders, Out: registry.Trade{}, Handler: read(s, pathUUID, registry.GetTrade, viewRegistryTrade)},
		{Method: "POST", Path: "/v1/trades/{id}/acceptance", Summary: "accept: units and money settle together or not at all (buyer)", Tag: "registry",
			Roles: holders, Out: registry.Trade{}, Handler: keyedStep(s, registry.AcceptTrade, viewRegistryTrade)},
		{Method: "POST", Path: "/v1/trades/{id}/cancellation", Summary: "cancel an open offer (seller, buyer or province); the units are released", Tag: "registry",
			Roles: []string{ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince}, Out: registry.Trade{}, Handler: keyedStep(s, registry.CancelTrade, viewRegistryTrade)},
		{Method: "POST", Path: "/v1/deposits", Summary: "record money received for an organisation (external:CNY → org:{id}:CNY)", Tag: "registry",
			Roles: province, In: registry.DepositInput{}, Out: registry.Deposit{}, Handler: keyed(s, registry.RecordDeposit)},
		{Method: "POST", Path: "/v1/retirements", Summary: "retire own units of one vintage for a purpose and beneficiary; returns the certificate", Tag: "registry",
			Roles: holders, In: registry.RetireInput{}, Out: registry.Certificate{}, Handler: keyed(s, registry.Retire)},
		{Method: "GET", Path: "/v1/retirements/{id}", Summary: "verify a retirement certificate (public)", Tag: "registry",
			Public: true, Replica: true, Out: registry.Certificate{}, Handler: s.handleRegistryCertificate},
		{Method: "POST", Path: "/v1/offsets", Summary: "surrender units against the ETS obligation the province recorded, within its cap (enterprise)", Tag: "registry",
			Roles: []string{ledger.RoleEnterprise}, In: registry.OffsetInput{}, Out: registry.Offset{}, Handler: keyed(s, registry.Surrender)},
		{Method: "POST", Path: "/v1/registry/obligations", Summary: "record (revises 0) or revise an enterprise's ETS obligation for a compliance year; offsets are capped against it", Tag: "registry",
			Roles: province, In: registry.ObligationInput{}, Out: registry.Obligation{}, Handler: keyed(s, registry.RecordObligation)},
		{Method: "GET", Path: "/v1/registry/obligations/{enterprise}/{year}", Summary: "an obligation in force, with every revision (the enterprise itself, province, auditors)", Tag: "registry",
			Roles: []string{ledger.RoleEnterprise, ledger.RoleProvince, ledger.RoleAuditor}, Out: registry.Obligation{}, Handler: read(s, obligationKey, registry.GetObligation, nonView)},
		{Method: "POST", Path: "/v1/cancellations", Summary: "cancel a holder's units administratively, citing a decision; a frozen holding stays frozen", Tag: "registry",
			Roles: province, In: registry.CancelInput{}, Out: registry.Cancellation{}, Handler: keyed(s, registry.CancelUnits)},
		{Method: "GET", Path: "/v1/registry/stats", Summary: "units issued, held, retired, cancelled and surrendered by vintage and methodology (public)", Tag: "registry",
			Public: true, Replica: true, Out: registryStatsView{}, Handler: readAll(s, registry.GetStats, viewRegistryStats)},
		{Method: "GET", Path: "/v1/registry/policy", Summary: "the registry policy in force: notice days, offset cap share, trade timeout (public)", Tag: "registry",
			Public: true, Replica: true, Out: registry.Policy{}, Handler: readAll(s, registry.CurrentPolicy, nonView)},
		{Method: "GET", Path: "/v1/registry/verify", Summary: "check the registry's invariants: serial blocks never overlap, blocks equal balances", Tag: "audit",
			Roles: []string{ledger.RoleProvince, ledger.RoleAuditor}, Heavy: true, Out: registry.Report{}, Handler: s.handleRegistryAudit},
		{Method: "POST", Path: "/v1/registry/policies", Summary: "publish a registry policy version from a future valid_from", Tag: "registry",
			Roles: province, In: registry.PolicyInput{}, Out: registry.Policy{}, Handler: keyed(s, registry.PublishPolicy)},
	}
}

// obligationKey is the path's {enterprise}/{year}; a year that is not a
// number names no obligation (404).
func obligationKey(r *http.Request, _ ledger.Actor) (registry.ObligationKey, error) {
	k := registry.ObligationKey{Enterprise: r.PathValue("enterprise")}
	y, err := strconv.Atoi(r.PathValue("year"))
	if err != nil {
		return k, ledger.Errf(ledger.CodeNotFound, "no obligation for year %q", r.PathValue("year"))
	}
	k.ComplianceYear = y
	return k, nil
}

func (s *Server) handleRegistryFreeze(freeze bool) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		var req registryFreezeRequest
		key, err := readWrite(r, &req)
		if err != nil {
			return err
		}
		in := registry.FreezeInput{Holder: r.PathValue("id"), DecisionRef: req.DecisionRef, Reason: req.Reason}
		op := registry.Unfreeze
		if freeze {
			op = registry.Freeze
		}
		h, replayed, err := op(r.Context(), s.l, a, key, in)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, h)
	}
}

func viewRegistryHoldings(h registry.Holdings) registryHoldingsView {
	return registryHoldingsView{Holder: h.Holder, Status: h.Status, Balance: h.Balance, Available: h.Available, NextCursor: h.NextCursor,
		Summary: ledger.NonNil(h.Summary), Blocks: ledger.NonNil(h.Blocks)}
}

func (s *Server) handleRegistryTransfer(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registry.TransferInput
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	t, replayed, err := registry.TransferUnits(r.Context(), s.l, a, key, req)
	if err != nil {
		return err
	}
	t.Blocks = ledger.NonNil(t.Blocks)
	return writeResult(w, replayed, t)
}

func viewRegistryTrade(t registry.Trade) registry.Trade {
	t.Blocks = ledger.NonNil(t.Blocks)
	return t
}

func (s *Server) handleRegistryOffer(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registry.OfferInput
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	t, replayed, err := registry.OfferTrade(r.Context(), s.l, a, key, req)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, viewRegistryTrade(t))
}

func (s *Server) handleRegistryCertificate(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := registry.GetCertificate(r.Context(), s.ledgerFor(r.Context()), id)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	return writeJSON(w, http.StatusOK, c)
}

func viewRegistryStats(st registry.Stats) registryStatsView {
	return registryStatsView{Totals: st.Totals, Rows: ledger.NonNil(st.Rows), AsOf: st.AsOf}
}

func (s *Server) handleRegistryAudit(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	// A full scan may outlive the default request timeout on a big registry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Minute)
	defer cancel()
	rep, err := registry.Verify(ctx, s.l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, *rep)
}
