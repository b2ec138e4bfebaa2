package api

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// Certified reductions registry (issue 4): HTTP over package
// ledger/registry, which authorizes every call again (verifier only on its
// assigned batches, holders only on their own units, province-only
// decisions). Request and response types carry a registry prefix so that
// their OpenAPI schemas do not collide with other domains' names.

type (
	registryCertificationRequest registry.CertificationRequest
	registryAssignRequest        registry.AssignInput
	registryVerificationRequest  registry.VerificationInput
	registryWithdrawRequest      registry.WithdrawInput
	registryVerifierRequest      registry.VerifierInput
	registryHolderRequest        registry.HolderInput
	registryTransferRequest      registry.TransferInput
	registryOfferRequest         registry.OfferInput
	registryDepositRequest       registry.DepositInput
	registryRetireRequest        registry.RetireInput
	registryOffsetRequest        registry.OffsetInput
	registryCancelRequest        registry.CancelInput
	registryPolicyRequest        registry.PolicyInput

	registryBatchView        registry.Batch
	registryVerifierView     registry.Verifier
	registryHolderView       registry.Holder
	registryDepositView      registry.Deposit
	registryCertificateView  registry.Certificate
	registryOffsetView       registry.Offset
	registryCancellationView registry.Cancellation
	registryPolicyView       registry.Policy
	registryBlockView        registry.Block
	registrySummaryView      registry.HoldingSummary
	registryStatsRowView     registry.StatsRow
	registryReportView       registry.Report
)

// registryFreezeRequest is the decision behind a freeze or unfreeze; the
// holder is in the path.
type registryFreezeRequest struct {
	DecisionRef string `json:"decision_ref"`
	Reason      string `json:"reason"`
}

type registryHoldingsView struct {
	Holder     string                `json:"holder"`
	Status     string                `json:"status"`
	Balance    string                `json:"balance"`
	Available  string                `json:"available"`
	Summary    []registrySummaryView `json:"summary"`
	Blocks     []registryBlockView   `json:"blocks"`
	NextCursor string                `json:"next_cursor"`
}

type registryTransferView struct {
	TransactionID uuid.UUID           `json:"transaction_id"`
	From          string              `json:"from"`
	To            string              `json:"to"`
	Units         string              `json:"units"`
	Blocks        []registryBlockView `json:"blocks"`
	At            time.Time           `json:"at"`
}

type registryTradeView struct {
	ID            uuid.UUID           `json:"id"`
	Seller        string              `json:"seller"`
	Buyer         string              `json:"buyer"`
	Units         string              `json:"units"`
	PricePerUnit  string              `json:"price_per_unit"`
	Amount        string              `json:"amount"`
	Status        string              `json:"status"`
	PendingTx     uuid.UUID           `json:"pending_transaction_id"`
	ResolutionTx  *uuid.UUID          `json:"resolution_transaction_id,omitempty"`
	PaymentTx     *uuid.UUID          `json:"payment_transaction_id,omitempty"`
	ExpiresAt     time.Time           `json:"expires_at"`
	CreatedAt     time.Time           `json:"created_at"`
	Blocks        []registryBlockView `json:"blocks"`
	StatusAsOfNow time.Time           `json:"status_as_of"`
}

type registryStatsView struct {
	Totals registryStatsRowView   `json:"totals"`
	Rows   []registryStatsRowView `json:"by_vintage_and_methodology"`
	AsOf   time.Time              `json:"as_of"`
}

func (s *Server) registryRoutes() []route {
	province := []string{RoleProvince}
	operator := []string{RoleOperator}
	holders := []string{RoleEnterprise, RoleOperator}
	return []route{
		{Method: "POST", Path: "/v1/certifications", Summary: "request certification of a pool period; captures its grams (operator)", Tag: "registry",
			Roles: operator, In: registryCertificationRequest{}, Out: registryBatchView{}, Handler: s.handleRegistryRequest},
		{Method: "GET", Path: "/v1/certifications/{id}", Summary: "read a certification batch (drafts: its operator, province, auditors)", Tag: "registry",
			Out: registryBatchView{}, Handler: s.handleRegistryGetBatch},
		{Method: "POST", Path: "/v1/certifications/{id}/notice", Summary: "start the public notice of a draft batch (operator)", Tag: "registry",
			Roles: operator, Out: registryBatchView{}, Handler: s.handleRegistryBatchStep(registry.PublishNotice)},
		{Method: "POST", Path: "/v1/certifications/{id}/submission", Summary: "submit a batch whose notice has ended (operator)", Tag: "registry",
			Roles: operator, Out: registryBatchView{}, Handler: s.handleRegistryBatchStep(registry.SubmitCertification)},
		{Method: "POST", Path: "/v1/certifications/{id}/assignment", Summary: "assign an accredited verifier, never of the requesting organisation", Tag: "registry",
			Roles: province, In: registryAssignRequest{}, Out: registryBatchView{}, Handler: s.handleRegistryAssign},
		{Method: "POST", Path: "/v1/certifications/{id}/verification", Summary: "approve and reject grams with a report (the assigned verifier)", Tag: "registry",
			Roles: []string{RoleVerifier}, In: registryVerificationRequest{}, Out: registryBatchView{}, Handler: s.handleRegistryVerify},
		{Method: "POST", Path: "/v1/certifications/{id}/issuance", Summary: "issue whole units as one serial block; certified grams move in the same transaction", Tag: "registry",
			Roles: province, Out: registryBatchView{}, Handler: s.handleRegistryBatchStep(registry.IssueCertification)},
		{Method: "POST", Path: "/v1/certifications/{id}/withdrawal", Summary: "withdraw a batch before issuance; its grams are released (operator)", Tag: "registry",
			Roles: operator, In: registryWithdrawRequest{}, Out: registryBatchView{}, Handler: s.handleRegistryWithdraw},
		{Method: "POST", Path: "/v1/verifiers", Summary: "accredit a verification body", Tag: "registry",
			Roles: province, In: registryVerifierRequest{}, Out: registryVerifierView{}, Handler: s.handleRegistryAccredit},

		{Method: "POST", Path: "/v1/holders", Summary: "open a unit holding and money account (own organisation; province: any)", Tag: "registry",
			Roles: []string{RoleEnterprise, RoleOperator, RoleProvince}, In: registryHolderRequest{}, Out: registryHolderView{}, Handler: s.handleRegistryOpenHolder},
		{Method: "POST", Path: "/v1/holders/{id}/freeze", Summary: "freeze a holding, citing a decision", Tag: "registry",
			Roles: province, In: registryFreezeRequest{}, Out: registryHolderView{}, Handler: s.handleRegistryFreeze(true)},
		{Method: "POST", Path: "/v1/holders/{id}/unfreeze", Summary: "unfreeze a holding, citing a decision", Tag: "registry",
			Roles: province, In: registryFreezeRequest{}, Out: registryHolderView{}, Handler: s.handleRegistryFreeze(false)},
		{Method: "GET", Path: "/v1/holdings", Summary: "a holder's units by block, vintage and methodology (holder=… for province and auditors)", Tag: "registry",
			Roles: []string{RoleEnterprise, RoleOperator, RoleProvince, RoleAuditor}, Paged: true, Out: registryHoldingsView{}, Handler: s.handleRegistryHoldings},
		{Method: "POST", Path: "/v1/transfers", Summary: "move own units to another holder (FIFO, or a named serial range)", Tag: "registry",
			Roles: holders, In: registryTransferRequest{}, Out: registryTransferView{}, Handler: s.handleRegistryTransfer},
		{Method: "POST", Path: "/v1/trades", Summary: "offer own units to a buyer at a price; reserves them until acceptance, cancellation or timeout", Tag: "registry",
			Roles: holders, In: registryOfferRequest{}, Out: registryTradeView{}, Handler: s.handleRegistryOffer},
		{Method: "GET", Path: "/v1/trades/{id}", Summary: "read a trade and its status (seller, buyer, province, auditors)", Tag: "registry",
			Out: registryTradeView{}, Handler: s.handleRegistryGetTrade},
		{Method: "POST", Path: "/v1/trades/{id}/acceptance", Summary: "accept: units and money settle together or not at all (buyer)", Tag: "registry",
			Roles: holders, Out: registryTradeView{}, Handler: s.handleRegistryTradeStep(registry.AcceptTrade)},
		{Method: "POST", Path: "/v1/trades/{id}/cancellation", Summary: "cancel an open offer (seller, buyer or province); the units are released", Tag: "registry",
			Roles: []string{RoleEnterprise, RoleOperator, RoleProvince}, Out: registryTradeView{}, Handler: s.handleRegistryTradeStep(registry.CancelTrade)},
		{Method: "POST", Path: "/v1/deposits", Summary: "record money received for an organisation (external:CNY → org:{id}:CNY)", Tag: "registry",
			Roles: province, In: registryDepositRequest{}, Out: registryDepositView{}, Handler: s.handleRegistryDeposit},
		{Method: "POST", Path: "/v1/retirements", Summary: "retire own units of one vintage for a purpose and beneficiary; returns the certificate", Tag: "registry",
			Roles: holders, In: registryRetireRequest{}, Out: registryCertificateView{}, Handler: s.handleRegistryRetire},
		{Method: "GET", Path: "/v1/retirements/{id}", Summary: "verify a retirement certificate (public)", Tag: "registry",
			Public: true, Out: registryCertificateView{}, Handler: s.handleRegistryCertificate},
		{Method: "POST", Path: "/v1/offsets", Summary: "surrender units against an ETS obligation, within the cap (enterprise)", Tag: "registry",
			Roles: []string{RoleEnterprise}, In: registryOffsetRequest{}, Out: registryOffsetView{}, Handler: s.handleRegistryOffset},
		{Method: "POST", Path: "/v1/cancellations", Summary: "cancel a holder's units administratively, citing a decision", Tag: "registry",
			Roles: province, In: registryCancelRequest{}, Out: registryCancellationView{}, Handler: s.handleRegistryCancel},
		{Method: "GET", Path: "/v1/registry/stats", Summary: "units issued, held, retired, cancelled and surrendered by vintage and methodology (public)", Tag: "registry",
			Public: true, Out: registryStatsView{}, Handler: s.handleRegistryStats},
		{Method: "GET", Path: "/v1/registry/policy", Summary: "the registry policy in force: notice days, offset cap share, trade timeout (public)", Tag: "registry",
			Public: true, Out: registryPolicyView{}, Handler: s.handleRegistryPolicy},
		{Method: "GET", Path: "/v1/registry/verify", Summary: "check the registry's invariants: serial blocks never overlap, blocks equal balances", Tag: "audit",
			Roles: []string{RoleProvince, RoleAuditor}, Heavy: true, Out: registryReportView{}, Handler: s.handleRegistryAudit},
		{Method: "POST", Path: "/v1/registry/policies", Summary: "publish a registry policy version from a future valid_from", Tag: "registry",
			Roles: province, In: registryPolicyRequest{}, Out: registryPolicyView{}, Handler: s.handleRegistryPublishPolicy},
	}
}

// registryJobs: none. Offers time out through the core void-expired-pending
// job: a trade's status and its blocks' reservation are derived from
// whether its pending transaction was resolved.
func registryJobs() []Job { return nil }

func (s *Server) handleRegistryRequest(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryCertificationRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	b, replayed, err := registry.RequestCertification(r.Context(), s.l, a, key, registry.CertificationRequest(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryBatchView(b))
}

func (s *Server) handleRegistryGetBatch(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := registry.GetCertification(r.Context(), s.l, a, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registryBatchView(b))
}

type registryBatchStep func(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID) (registry.Batch, bool, error)

func (s *Server) handleRegistryBatchStep(step registryBatchStep) func(http.ResponseWriter, *http.Request, ledger.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		key, err := readWrite(r, nil)
		if err != nil {
			return err
		}
		b, replayed, err := step(r.Context(), s.l, a, key, id)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, registryBatchView(b))
	}
}

func (s *Server) handleRegistryAssign(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req registryAssignRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	b, replayed, err := registry.AssignVerifier(r.Context(), s.l, a, key, id, registry.AssignInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryBatchView(b))
}

func (s *Server) handleRegistryVerify(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req registryVerificationRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	b, replayed, err := registry.VerifyCertification(r.Context(), s.l, a, key, id, registry.VerificationInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryBatchView(b))
}

func (s *Server) handleRegistryWithdraw(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req registryWithdrawRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	b, replayed, err := registry.WithdrawCertification(r.Context(), s.l, a, key, id, registry.WithdrawInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryBatchView(b))
}

func (s *Server) handleRegistryAccredit(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryVerifierRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	v, replayed, err := registry.AccreditVerifier(r.Context(), s.l, a, key, registry.VerifierInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryVerifierView(v))
}

func (s *Server) handleRegistryOpenHolder(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryHolderRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	h, replayed, err := registry.OpenHolder(r.Context(), s.l, a, key, registry.HolderInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryHolderView(h))
}

func (s *Server) handleRegistryFreeze(freeze bool) func(http.ResponseWriter, *http.Request, ledger.Actor) error {
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
		return writeResult(w, replayed, registryHolderView(h))
	}
}

func (s *Server) handleRegistryHoldings(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	h, err := registry.GetHoldings(r.Context(), s.l, a, r.URL.Query().Get("holder"), limit, cursor)
	if err != nil {
		return err
	}
	out := registryHoldingsView{Holder: h.Holder, Status: h.Status, Balance: h.Balance, Available: h.Available, NextCursor: h.NextCursor,
		Summary: make([]registrySummaryView, 0, len(h.Summary)), Blocks: registryBlocks(h.Blocks)}
	for _, x := range h.Summary {
		out.Summary = append(out.Summary, registrySummaryView(x))
	}
	return writeJSON(w, http.StatusOK, out)
}

func registryBlocks(bs []registry.Block) []registryBlockView {
	out := make([]registryBlockView, 0, len(bs))
	for _, b := range bs {
		out = append(out, registryBlockView(b))
	}
	return out
}

func (s *Server) handleRegistryTransfer(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryTransferRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	t, replayed, err := registry.TransferUnits(r.Context(), s.l, a, key, registry.TransferInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryTransferView{TransactionID: t.TransactionID, From: t.From, To: t.To, Units: t.Units,
		Blocks: registryBlocks(t.Blocks), At: t.At})
}

func viewRegistryTrade(t registry.Trade) registryTradeView {
	return registryTradeView{ID: t.ID, Seller: t.Seller, Buyer: t.Buyer, Units: t.Units, PricePerUnit: t.PricePerUnit, Amount: t.Amount,
		Status: t.Status, PendingTx: t.PendingTx, ResolutionTx: t.ResolutionTx, PaymentTx: t.PaymentTx, ExpiresAt: t.ExpiresAt,
		CreatedAt: t.CreatedAt, Blocks: registryBlocks(t.Blocks), StatusAsOfNow: t.StatusAsOfNow}
}

func (s *Server) handleRegistryOffer(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryOfferRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	t, replayed, err := registry.OfferTrade(r.Context(), s.l, a, key, registry.OfferInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, viewRegistryTrade(t))
}

func (s *Server) handleRegistryGetTrade(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := registry.GetTrade(r.Context(), s.l, a, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewRegistryTrade(t))
}

type registryTradeStep func(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID) (registry.Trade, bool, error)

func (s *Server) handleRegistryTradeStep(step registryTradeStep) func(http.ResponseWriter, *http.Request, ledger.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		key, err := readWrite(r, nil)
		if err != nil {
			return err
		}
		t, replayed, err := step(r.Context(), s.l, a, key, id)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, viewRegistryTrade(t))
	}
}

func (s *Server) handleRegistryDeposit(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryDepositRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	d, replayed, err := registry.RecordDeposit(r.Context(), s.l, a, key, registry.DepositInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryDepositView(d))
}

func (s *Server) handleRegistryRetire(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryRetireRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	c, replayed, err := registry.Retire(r.Context(), s.l, a, key, registry.RetireInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryCertificateView(c))
}

func (s *Server) handleRegistryCertificate(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := registry.GetCertificate(r.Context(), s.l, id)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	return writeJSON(w, http.StatusOK, registryCertificateView(c))
}

func (s *Server) handleRegistryOffset(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryOffsetRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	o, replayed, err := registry.Surrender(r.Context(), s.l, a, key, registry.OffsetInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryOffsetView(o))
}

func (s *Server) handleRegistryCancel(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryCancelRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	c, replayed, err := registry.CancelUnits(r.Context(), s.l, a, key, registry.CancelInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryCancellationView(c))
}

func (s *Server) handleRegistryStats(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	st, err := registry.GetStats(r.Context(), s.l)
	if err != nil {
		return err
	}
	out := registryStatsView{Totals: registryStatsRowView(st.Totals), Rows: make([]registryStatsRowView, 0, len(st.Rows)), AsOf: st.AsOf}
	for _, x := range st.Rows {
		out.Rows = append(out.Rows, registryStatsRowView(x))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRegistryPolicy(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	p, err := registry.CurrentPolicy(r.Context(), s.l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registryPolicyView(p))
}

func (s *Server) handleRegistryPublishPolicy(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req registryPolicyRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	p, replayed, err := registry.PublishPolicy(r.Context(), s.l, a, key, registry.PolicyInput(req))
	if err != nil {
		return err
	}
	return writeResult(w, replayed, registryPolicyView(p))
}

func (s *Server) handleRegistryAudit(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	// A full scan may outlive the default request timeout on a big registry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Minute)
	defer cancel()
	rep, err := registry.Verify(ctx, s.l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registryReportView(*rep))
}
