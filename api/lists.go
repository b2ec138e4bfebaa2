package api

import (
	"context"
	"net/http"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// The lists users need (issue 9): every one cursor-paged (limit, cursor;
// newest first), filtered by the query parameters its route declares, and
// scoped by the use case exactly as the single read of the same record.

// Registry lists.
var (
	certificationQuery = []queryParam{
		paramEnum("status", "the batch's state", registry.BatchStates...),
		paramString("operator", "the requesting operator (an operator always sees only its own)"),
		paramString("verifier", "the assigned verifier (a verifier always sees only its own)"),
		paramString("period", "the pool period, e.g. 2025 or 2025-06"),
	}
	tradeQuery = []queryParam{
		paramEnum("as", "the caller's own side (an enterprise or operator): as=buyer&status=offered are the offers awaiting my acceptance", registry.TradeSides...),
		paramString("seller", "the selling holder (seller=<own org>: my offers)"),
		paramString("buyer", "the buying holder (buyer=<own org>&status=offered: the offers awaiting my acceptance)"),
		paramEnum("status", "the status the journal gives the trade", registry.TradeStatuses...),
	}
	retirementQuery = []queryParam{
		paramString("holder", "the retiring holder"),
		paramBool("mine", "true: the caller's own retirements (an enterprise or operator token is required)"),
		paramString("beneficiary", "the beneficiary, exactly as recorded"),
		paramInt("vintage", "the vintage year"),
		paramEnum("purpose", "the purpose of the retirement", registry.Purposes...),
		paramString("serial", "a serial number (a one-unit block such as CN37-SDCER-07-0001-5-5-2026, or a range): the retirements that retired any of its units"),
		qSince, qUntil,
	}
	transferQuery = []queryParam{
		paramString("from", "the sending holder"),
		paramString("to", "the receiving holder"),
		qSince, qUntil,
	}
	offsetQuery = []queryParam{
		paramString("enterprise", "the surrendering enterprise (an enterprise always sees only its own)"),
		paramInt("compliance_year", "the compliance year"),
		qSince, qUntil,
	}
	cancellationQuery = []queryParam{
		paramString("holder", "the holding the units were cancelled from (a holder always sees only its own)"),
		qSince, qUntil,
	}
	verifierQuery = []queryParam{paramEnum("status", "the accreditation's status", registry.VerifierStatuses...)}
)

// Two-high lists: every index kind unless index_kind says which.
var (
	qIndexKind      = paramString("index_kind", "the index kind (GET /v1/indices lists them); all kinds when absent")
	correctionQuery = []queryParam{
		paramEnum("status", "proposed, applied or rejected; pending: the checker's inbox, proposed by another province user", quota.CorrectionFilterStatuses...),
		paramUUID("source_id", "the corrected source (UUID)"),
		paramString("proposed_by", "the proposer as recorded (role:sub)"),
	}
	allocationQuery = []queryParam{
		qIndexKind,
		paramEnum("status", "the allocation's status", quota.AllocationStatuses()...),
		paramString("project", "the project"),
		paramString("enterprise", "the applying enterprise (an enterprise always sees only its own)"),
		paramString("city", "the application's city code (a city always sees only its own)"),
		paramUUID("application_id", "the application (UUID)"),
	}
	stockpilingQuery = []queryParam{
		qIndexKind,
		paramUUID("source_id", "the stockpiled source (UUID)"),
		paramString("city", "the source's city code (a city always sees only its own)"),
		paramString("enterprise", "the source's enterprise (an enterprise always sees only its own)"),
		qSince, qUntil,
	}
	quotaTransferQuery = []queryParam{
		qIndexKind,
		paramString("from", "the reserve moved from: province or a city code"),
		paramString("to", "the reserve moved to: province or a city code"),
		qSince, qUntil,
	}
)

// Points and engine lists.
var (
	recordQuery = []queryParam{
		paramString("operator", "the reporting operator (an operator always sees only its own)"),
		paramString("record_id", "the operator's own record id"),
		paramString("citizen", "the citizen"),
		paramString("kind", "the behaviour kind, e.g. metro"),
		paramEnum("status", "the record's result", points.StoredRecordStatuses...),
		paramDateTime("since", "only behaviours that occurred at or after this time (RFC 3339)"),
		paramDateTime("until", "only behaviours that occurred before this time (RFC 3339)"),
	}
	statsQuery = []queryParam{
		paramEnum("group", "day (default) or month, in China Standard Time", points.StatsGroups...),
		paramDate("from", "the first day, YYYY-MM-DD (default: 29 days before to)"),
		paramDate("to", "the last day, YYYY-MM-DD (default: today)"),
		paramString("operator", "the operator (an operator always sees only its own)"),
		paramString("kind", "the behaviour kind"),
		paramString("methodology", "the methodology version, e.g. metro-km.v1"),
	}
	transactionQuery = []queryParam{
		paramString("kind", "the transaction kind, e.g. registry.transfer"),
		paramString("account", "transactions that posted to or held on this account (others than province and auditors: one they may read)"),
		paramString("actor", "the actor as recorded (province and auditors only)"),
		qSince, qUntil,
	}
	accountQuery = []queryParam{
		paramEnum("owner_type", "the kind of owner", ledger.OwnerTypes...),
		paramString("owner", "the owner exactly, e.g. org:E1 or citizen:C1"),
		paramString("asset", "the asset, e.g. SDCER"),
		paramEnum("status", "the account's status", ledger.AccountStatuses...),
		paramString("type", "the chart's account type, e.g. available, pool, reserve"),
	}
)

func (s *Server) listRoutes() []route {
	return append(append(s.registryListRoutes(), s.quotaListRoutes()...), s.pointsAndEngineListRoutes()...)
}

func (s *Server) pointsAndEngineListRoutes() []route {
	statsRoles := []string{ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor}
	return []route{
		{Method: "GET", Path: "/v1/behaviours", Summary: "page behaviour records with each one's result (an operator its own: by record_id or time range)", Tag: "points",
			Roles: statsRoles, Paged: true, Query: recordQuery, Out: pageView[points.OperatorRecord]{},
			Handler: listOf(s, recordQuery, recordFilter, points.ListRecords)},
		{Method: "GET", Path: "/v1/points/stats", Summary: "points credited, claimed, lapsed, clawed back by operator, kind, methodology and day or month; expired, redeemed, donated by day or month (JSON or CSV)", Tag: "points",
			Roles: statsRoles, Heavy: true, Query: statsQuery, Produces: []string{"application/json", "text/csv"}, Out: points.Stats{},
			Handler: s.handlePointsStats},
		{Method: "GET", Path: "/v1/transactions", Summary: "page journal transactions, newest first (others than province and auditors: those on their own accounts, with only those postings)", Tag: "ledger",
			Paged: true, Query: transactionQuery, Out: pageView[transactionView]{},
			Handler: listOf(s, transactionQuery, transactionFilter, s.listTransactions)},
		{Method: "GET", Path: "/v1/accounts", Summary: "page accounts by id with their balances (others than province and auditors: their own)", Tag: "ledger",
			Paged: true, Query: accountQuery, Out: pageView[accountView]{},
			Handler: listOf(s, accountQuery, accountFilter, s.listAccounts)},
	}
}

func recordFilter(q query, _ ledger.Actor) (points.RecordFilter, error) {
	f := points.RecordFilter{Operator: q.get("operator"), RecordID: q.get("record_id"), Citizen: q.get("citizen"), Kind: q.get("kind"), Status: q.get("status")}
	var err error
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func (s *Server) handlePointsStats(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	q, err := readQuery(r, statsQuery, false)
	if err != nil {
		return err
	}
	st, err := points.GetStats(r.Context(), s.l, a, points.StatsQuery{Group: q.get("group"), From: q.get("from"), To: q.get("to"),
		Operator: q.get("operator"), Kind: q.get("kind"), Methodology: q.get("methodology")})
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		csvHeaders(w, "points-stats")
		return points.WriteStatsCSV(w, st)
	}
	return writeJSON(w, http.StatusOK, st)
}

func transactionFilter(q query, _ ledger.Actor) (ledger.TransactionFilter, error) {
	f := ledger.TransactionFilter{Kind: q.get("kind"), Account: q.get("account"), Actor: q.get("actor")}
	var err error
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

// listTransactions renders the engine's page as the single read does.
func (s *Server) listTransactions(ctx context.Context, l *ledger.Ledger, a ledger.Actor, f ledger.TransactionFilter) (ledger.Page[transactionView], error) {
	p, err := l.ListTransactions(ctx, a, f)
	out := ledger.Page[transactionView]{Items: make([]transactionView, 0, len(p.Items)), NextCursor: p.NextCursor}
	for _, t := range p.Items {
		out.Items = append(out.Items, viewTransaction(t))
	}
	return out, err
}

func accountFilter(q query, _ ledger.Actor) (ledger.AccountListFilter, error) {
	f := ledger.AccountListFilter{OwnerType: q.get("owner_type"), Owner: q.get("owner"), Asset: q.get("asset"), Status: q.get("status"), Type: q.get("type")}
	var err error
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func (s *Server) listAccounts(ctx context.Context, l *ledger.Ledger, a ledger.Actor, f ledger.AccountListFilter) (ledger.Page[accountView], error) {
	p, err := l.ListAccounts(ctx, a, f)
	out := ledger.Page[accountView]{Items: make([]accountView, 0, len(p.Items)), NextCursor: p.NextCursor}
	for _, v := range p.Items {
		out.Items = append(out.Items, viewAccount(v))
	}
	return out, err
}

func (s *Server) quotaListRoutes() []route {
	readers := []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity, ledger.RoleEnterprise}
	return []route{
		{Method: "GET", Path: "/v1/quota/corrections", Summary: "page corrections of index sources; status=pending is the checker's inbox", Tag: "quota",
			Roles: []string{ledger.RoleProvince, ledger.RoleAuditor}, Paged: true, Query: correctionQuery, Out: pageView[quota.Correction]{},
			Handler: listOf(s, correctionQuery, quotaCorrectionFilter, quota.ListCorrections)},
		{Method: "GET", Path: "/v1/quota/allocations", Summary: "page allocations with their reserves and lineage (a city its city's, an enterprise its own)", Tag: "quota",
			Roles: readers, Paged: true, Query: allocationQuery, Out: pageView[quota.Allocation]{},
			Handler: listOf(s, allocationQuery, quotaAllocationFilter, quota.ListAllocations)},
		{Method: "GET", Path: "/v1/quota/stockpilings", Summary: "page stockpilings into the province and city reserves (a city its city's, an enterprise its sources')", Tag: "quota",
			Roles: readers, Paged: true, Query: stockpilingQuery, Out: pageView[quota.Stockpiling]{},
			Handler: listOf(s, stockpilingQuery, quotaStockpilingFilter, quota.ListStockpilings)},
		{Method: "GET", Path: "/v1/quota/transfers", Summary: "page moves between reserves (a city those from or to its own)", Tag: "quota",
			Roles: []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity}, Paged: true, Query: quotaTransferQuery, Out: pageView[quota.Transfer]{},
			Handler: listOf(s, quotaTransferQuery, quotaTransferFilter, quota.ListTransfers)},
	}
}

func quotaCorrectionFilter(q query, _ ledger.Actor) (quota.CorrectionFilter, error) {
	f := quota.CorrectionFilter{Status: q.get("status"), ProposedBy: q.get("proposed_by")}
	var err error
	if f.SourceID, err = q.uuid("source_id"); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func quotaAllocationFilter(q query, _ ledger.Actor) (quota.AllocationFilter, error) {
	f := quota.AllocationFilter{IndexKind: q.get("index_kind"), Status: q.get("status"), Project: q.get("project"),
		Enterprise: q.get("enterprise"), City: q.get("city")}
	var err error
	if f.ApplicationID, err = q.uuid("application_id"); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func quotaStockpilingFilter(q query, _ ledger.Actor) (quota.StockpilingFilter, error) {
	f := quota.StockpilingFilter{IndexKind: q.get("index_kind"), City: q.get("city"), Enterprise: q.get("enterprise")}
	var err error
	if f.SourceID, err = q.uuid("source_id"); err != nil {
		return f, err
	}
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func quotaTransferFilter(q query, _ ledger.Actor) (quota.TransferFilter, error) {
	f := quota.TransferFilter{IndexKind: q.get("index_kind"), From: q.get("from"), To: q.get("to")}
	var err error
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func (s *Server) registryListRoutes() []route {
	holdersAndOversight := []string{ledger.RoleEnterprise, ledger.RoleOperator, ledger.RoleProvince, ledger.RoleAuditor}
	return []route{
		{Method: "GET", Path: "/v1/certifications", Summary: "page certification batches: without a token those under public notice (公示); an operator its own, a verifier those assigned to it, province and auditors all, others those past their draft", Tag: "registry",
			Public: true, Replica: true, TokenOptional: true, Paged: true, Query: certificationQuery, Out: pageView[registry.Batch]{},
			Handler: listOf(s, certificationQuery, certificationFilter, registry.ListCertifications)},
		{Method: "GET", Path: "/v1/trades", Summary: "page the trades the caller sells or buys (province, auditors: all)", Tag: "registry",
			Roles: holdersAndOversight, Paged: true, Query: tradeQuery, Out: pageView[registry.TradeSummary]{},
			Handler: listOf(s, tradeQuery, tradeFilter, registry.ListTrades)},
		{Method: "GET", Path: "/v1/retirements", Summary: "page the public register of retirements (mine=true: the caller's own)", Tag: "registry",
			Public: true, Replica: true, TokenOptional: true, Paged: true, Query: retirementQuery, Out: pageView[registry.Certificate]{},
			Handler: listOf(s, retirementQuery, retirementFilter, publicList(registry.ListRetirements))},
		{Method: "GET", Path: "/v1/transfers", Summary: "page the transfers the caller sent or received (province, auditors: all)", Tag: "registry",
			Roles: holdersAndOversight, Paged: true, Query: transferQuery, Out: pageView[registry.TransferRecord]{},
			Handler: listOf(s, transferQuery, transferFilter, registry.ListTransfers)},
		{Method: "GET", Path: "/v1/offsets", Summary: "page surrenders against ETS obligations (an enterprise its own; province, auditors: all)", Tag: "registry",
			Roles: []string{ledger.RoleEnterprise, ledger.RoleProvince, ledger.RoleAuditor}, Paged: true, Query: offsetQuery, Out: pageView[registry.OffsetRecord]{},
			Handler: listOf(s, offsetQuery, offsetFilter, registry.ListOffsets)},
		{Method: "GET", Path: "/v1/cancellations", Summary: "page administrative cancellations (a holder those of its own holding; province, auditors: all)", Tag: "registry",
			Roles: holdersAndOversight, Paged: true, Query: cancellationQuery, Out: pageView[registry.Cancellation]{},
			Handler: listOf(s, cancellationQuery, cancellationFilter, registry.ListCancellations)},
		{Method: "GET", Path: "/v1/registry/policies", Summary: "page every registry policy version, the latest valid_from first (public)", Tag: "registry",
			Public: true, Replica: true, Paged: true, Out: pageView[registry.Policy]{},
			Handler: listOf(s, nil, policyFilter, publicList(registry.ListPolicies))},
		{Method: "GET", Path: "/v1/verifiers", Summary: "page the accredited verification bodies (public)", Tag: "registry",
			Public: true, Replica: true, Paged: true, Query: verifierQuery, Out: pageView[registry.Verifier]{},
			Handler: listOf(s, verifierQuery, verifierFilter, publicList(registry.ListVerifiers))},
	}
}

func certificationFilter(q query, _ ledger.Actor) (registry.BatchFilter, error) {
	limit, cursor, err := q.page()
	return registry.BatchFilter{Status: q.get("status"), Operator: q.get("operator"), Verifier: q.get("verifier"), Period: q.get("period"),
		Limit: limit, Cursor: cursor}, err
}

func tradeFilter(q query, _ ledger.Actor) (registry.TradeFilter, error) {
	limit, cursor, err := q.page()
	return registry.TradeFilter{As: q.get("as"), Seller: q.get("seller"), Buyer: q.get("buyer"), Status: q.get("status"), Limit: limit, Cursor: cursor}, err
}

// retirementFilter reads the register's filters; mine=true is the
// caller's own organisation, and needs a holder's token.
func retirementFilter(q query, a ledger.Actor) (registry.RetirementFilter, error) {
	f := registry.RetirementFilter{Holder: q.get("holder"), Beneficiary: q.get("beneficiary"), Purpose: q.get("purpose"), Serial: q.get("serial")}
	var err error
	if f.Vintage, err = q.integer("vintage"); err != nil {
		return f, err
	}
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	mine, err := q.boolean("mine")
	if err != nil {
		return f, err
	}
	if mine {
		if a.Role == "" {
			return f, errorf(codeUnauthorized, "mine=true needs a bearer token")
		}
		if err := a.Require(ledger.RoleEnterprise, ledger.RoleOperator); err != nil {
			return f, err
		}
		if f.Holder != "" && f.Holder != a.Org {
			return f, ledger.Errf(ledger.CodeInvalidRequest, "holder and mine=true name different holders").At("holder")
		}
		f.Holder = a.Org
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func transferFilter(q query, _ ledger.Actor) (registry.TransferFilter, error) {
	f := registry.TransferFilter{From: q.get("from"), To: q.get("to")}
	var err error
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func offsetFilter(q query, _ ledger.Actor) (registry.OffsetFilter, error) {
	f := registry.OffsetFilter{Enterprise: q.get("enterprise")}
	var err error
	if f.ComplianceYear, err = q.integer("compliance_year"); err != nil {
		return f, err
	}
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func cancellationFilter(q query, _ ledger.Actor) (registry.CancellationFilter, error) {
	f := registry.CancellationFilter{Holder: q.get("holder")}
	var err error
	if f.Since, f.Until, err = q.timeRange(); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = q.page()
	return f, err
}

func policyFilter(q query, _ ledger.Actor) (registry.PolicyFilter, error) {
	limit, cursor, err := q.page()
	return registry.PolicyFilter{Limit: limit, Cursor: cursor}, err
}

func verifierFilter(q query, _ ledger.Actor) (registry.VerifierFilter, error) {
	limit, cursor, err := q.page()
	return registry.VerifierFilter{Status: q.get("status"), Limit: limit, Cursor: cursor}, err
}
