package api

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
)

// Two-high carbon emission indices (issue 5): HTTP over package
// ledger/quota, which authorizes every call again by role, city and org.
//
// The request and response types below are this package's own names for
// quota's types (defined types over the same structs, or small wrappers),
// so that the OpenAPI schemas do not collide with other domains' "Event",
// "Transfer" or "Source".

type quotaApplyRequest struct {
	Project            string                    `json:"project"`
	City               string                    `json:"city"`
	Sector             string                    `json:"sector"`
	Emissions          string                    `json:"emissions"`
	EmissionsBreakdown *quota.EmissionsBreakdown `json:"emissions_breakdown,omitempty"`
	OwnSources         string                    `json:"own_sources"`
	OwnSourcesRef      string                    `json:"own_sources_ref,omitempty"`
	Requested          string                    `json:"requested"`
	Reason             string                    `json:"reason,omitempty"`
}

type quotaDrawRequest struct {
	Reserve string `json:"reserve"` // "province" or a city code
	Tonnes  string `json:"tonnes"`
}

type quotaDecideRequest struct {
	Approve bool               `json:"approve"`
	Reason  string             `json:"reason"`
	Draws   []quotaDrawRequest `json:"draws,omitempty"`
	Paid    bool               `json:"paid"`
}

type quotaSourceDetailView struct {
	quota.Source
	Trail []quota.Event `json:"trail"`
}

type quotaCorrectionDetailView struct {
	quota.Correction
	Trail []quota.Event `json:"trail"`
}

// quotaReservesView answers GET /v1/quota/reserves (CEI; no index_kind,
// as before kinds) and GET /v1/indices/{kind}/reserves.
type quotaReservesView struct {
	IndexKind string             `json:"index_kind,omitempty"`
	AsOf      time.Time          `json:"as_of"`
	Rows      []quota.ReserveRow `json:"rows"`
	Total     quota.ReserveRow   `json:"total"`
}

// quotaReportView answers GET /v1/quota/report: flow rows (level=flows,
// the default) or lineage rows (level=lineage), never both.
type quotaReportView struct {
	Level   string             `json:"level"`
	Query   quota.ReportQuery  `json:"query"`
	Rows    []quota.FlowRow    `json:"rows,omitempty"`
	Lineage []quota.LineageRow `json:"lineage,omitempty"`
}

type quotaConfigListView struct {
	Items []quota.ConfigVersion `json:"items"`
}

func (s *Server) quotaRoutes() []route {
	province := []string{ledger.RoleProvince}
	readers := []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity, ledger.RoleEnterprise}
	reporters := []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity}
	csvToo := []string{"application/json", "text/csv"}
	// The routes of every index kind and the bundles follow CEI's.
	return append([]route{
		{Method: "POST", Path: "/v1/quota/sources", Summary: "propose an index source of the city's own city (city)", Tag: "quota",
			Roles: []string{ledger.RoleCity}, In: quota.ProposeSourceInput{}, Out: quota.Source{}, Handler: keyed(s, quota.ProposeSource)},
		{Method: "GET", Path: "/v1/quota/sources", Summary: "page the index sources the caller may see", Tag: "quota",
			Roles: readers, Paged: true, Query: quotaSourceQuery(), Out: pageView[quota.Source]{}, Handler: read(s, quotaSourceFilter, quota.ListSources, viewPage)},
		{Method: "GET", Path: "/v1/quota/sources/{id}", Summary: "read an index source with its trail", Tag: "quota",
			Roles: readers, Out: quotaSourceDetailView{}, Handler: read(s, pathUUID, quota.GetSource, viewQuotaSource)},
		{Method: "POST", Path: "/v1/quota/sources/{id}/approval", Summary: "recognise (recognition → enterprise source) or reject a proposed source", Tag: "quota",
			Roles: province, In: quota.DecisionInput{}, Out: quota.Source{}, Handler: keyedID(s, quota.DecideSource)},
		{Method: "POST", Path: "/v1/quota/stockpilings", Summary: "stockpile a recognised source into the province and city reserves", Tag: "quota",
			Roles: province, In: quota.StockpileInput{}, Out: quota.Stockpiling{}, Handler: keyed(s, quota.Stockpile)},
		{Method: "POST", Path: "/v1/quota/applications", Summary: "apply for indices for a two-high project (enterprise)", Tag: "quota",
			Roles: []string{ledger.RoleEnterprise}, In: quotaApplyRequest{}, Out: quota.ApplicationDetail{}, Handler: s.handleQuotaApply},
		{Method: "GET", Path: "/v1/quota/applications", Summary: "page the applications the caller may see (status, city, enterprise, project filters)", Tag: "quota",
			Roles: readers, Paged: true, Query: quotaApplicationQuery(), Out: pageView[quota.Application]{}, Handler: read(s, quotaApplicationFilter, quota.ListApplications, viewPage)},
		{Method: "GET", Path: "/v1/quota/applications/{id}", Summary: "read an application with its allocation, lineage and full trail", Tag: "quota",
			Roles: readers, Out: quota.ApplicationDetail{}, Handler: read(s, pathUUID, quota.GetApplication, viewQuotaApplication)},
		{Method: "POST", Path: "/v1/quota/applications/{id}/review", Summary: "review an application of the city's own city (city)", Tag: "quota",
			Roles: []string{ledger.RoleCity}, In: quota.DecisionInput{}, Out: quota.ApplicationDetail{}, Handler: s.handleQuotaReview},
		{Method: "POST", Path: "/v1/quota/applications/{id}/decision", Summary: "decide an application: allocate from named reserves, escalate above the threshold, or reject", Tag: "quota",
			Roles: province, In: quotaDecideRequest{}, Out: quota.ApplicationDetail{}, Handler: s.handleQuotaDecide},
		{Method: "POST", Path: "/v1/quota/applications/{id}/government-approval", Summary: "record the provincial government's decision on an escalated application", Tag: "quota",
			Roles: province, In: quota.GovernmentInput{}, Out: quota.ApplicationDetail{}, Handler: s.handleQuotaGovernment},
		{Method: "POST", Path: "/v1/quota/allocations/{id}/consumption", Summary: "consume an allocation when its project is commissioned", Tag: "quota",
			Roles: province, In: quota.ConsumeInput{}, Out: quota.ApplicationDetail{}, Handler: s.handleQuotaConsume},
		{Method: "POST", Path: "/v1/quota/allocations/{id}/recovery", Summary: "recover a cancelled or expired allocation to the reserves it came from", Tag: "quota",
			Roles: province, In: quota.RecoverInput{}, Out: quota.ApplicationDetail{}, Handler: s.handleQuotaRecover},
		{Method: "POST", Path: "/v1/quota/transfers", Summary: "move indices between reserves", Tag: "quota",
			Roles: province, In: quota.TransferInput{}, Out: quota.Transfer{}, Handler: keyed(s, quota.TransferReserves)},
		{Method: "POST", Path: "/v1/quota/corrections", Summary: "propose a correction of a recognised source (maker)", Tag: "quota",
			Roles: province, In: quota.ProposeCorrectionInput{}, Out: quota.Correction{}, Handler: keyed(s, quota.ProposeCorrection)},
		{Method: "GET", Path: "/v1/quota/corrections/{id}", Summary: "read a correction with its trail", Tag: "quota",
			Roles: []string{ledger.RoleProvince, ledger.RoleAuditor}, Out: quotaCorrectionDetailView{}, Handler: read(s, pathUUID, quota.GetCorrection, viewQuotaCorrection)},
		{Method: "POST", Path: "/v1/quota/corrections/{id}/approval", Summary: "approve or reject a correction (checker: another province user)", Tag: "quota",
			Roles: province, In: quota.DecisionInput{}, Out: quota.Correction{}, Handler: keyedID(s, quota.DecideCorrection)},
		{Method: "GET", Path: "/v1/quota/reserves", Summary: "province and city reserves: in reserve, allocated, consumed (JSON or CSV)", Tag: "quota",
			Roles: reporters, Heavy: true, Produces: csvToo, Out: quotaReservesView{}, Handler: s.handleQuotaReserves},
		{Method: "GET", Path: "/v1/quota/report", Summary: "flows by period, city, route and sector, or allocation lineage (level=lineage); JSON or CSV", Tag: "quota",
			Roles: reporters, Heavy: true, Produces: csvToo, Query: quotaReportQuery(), Out: quotaReportView{}, Handler: s.handleQuotaReport},
		{Method: "GET", Path: "/v1/quota/config", Summary: "configuration versions in force (all=true: every version)", Tag: "quota",
			Query: []queryParam{quotaAllParam()}, Out: quotaConfigListView{}, Handler: s.handleQuotaListConfig},
		{Method: "POST", Path: "/v1/quota/config", Summary: "publish a configuration version (split, coefficient, threshold, price)", Tag: "quota",
			Roles: province, In: quota.PublishConfigInput{}, Out: quota.ConfigVersion{}, Handler: keyed(s, quota.PublishConfig)},
	}, s.indexRoutes()...)
}

// indexRoutes are the routes of one index kind (measure 9: CEI, COD,
// NH3N, NOX, VOCS and any kind a migration adds), the kind in the path,
// and the bundles that cover several kinds for one project. The /v1/quota
// routes above stay CEI's.
func (s *Server) indexRoutes() []route {
	province := []string{ledger.RoleProvince}
	readers := []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity, ledger.RoleEnterprise}
	reporters := []string{ledger.RoleProvince, ledger.RoleAuditor, ledger.RoleCity}
	csvToo := []string{"application/json", "text/csv"}
	sourceKind := func(in *quota.ProposeSourceInput) *string { return &in.IndexKind }
	return []route{
		{Method: "GET", Path: "/v1/indices", Summary: "the index kinds: unit, scale, formula (coefficient or ratio), measure, source document", Tag: "quota",
			Out: pageView[quota.IndexKind]{}, Handler: readAll(s, quota.ListKinds, viewList[quota.IndexKind])},
		{Method: "POST", Path: "/v1/indices/{kind}/sources", Summary: "propose a source of the kind in the city's own city, e.g. a key emission-reduction work (city)", Tag: "quota",
			Roles: []string{ledger.RoleCity}, In: quota.ProposeSourceInput{}, Out: quota.Source{}, Handler: keyedKind(s, sourceKind, quota.ProposeSource)},
		{Method: "GET", Path: "/v1/indices/{kind}/sources", Summary: "page the sources of the kind the caller may see", Tag: "quota",
			Roles: readers, Paged: true, Query: quotaSourceQuery(), Out: pageView[quota.Source]{}, Handler: s.kindPath(read(s, quotaKindSourceFilter, quota.ListSources, viewPage))},
		{Method: "POST", Path: "/v1/indices/{kind}/stockpilings", Summary: "stockpile a recognised source of the kind into the province and city reserves", Tag: "quota",
			Roles: province, In: quota.StockpileInput{}, Out: quota.Stockpiling{}, Handler: keyedKind(s, func(in *quota.StockpileInput) *string { return &in.IndexKind }, quota.Stockpile)},
		{Method: "GET", Path: "/v1/indices/{kind}/reserves", Summary: "the kind's province and city reserves: in reserve, allocated, consumed (JSON or CSV)", Tag: "quota",
			Roles: reporters, Heavy: true, Produces: csvToo, Out: quotaReservesView{}, Handler: s.kindPath(s.handleQuotaReserves)},
		{Method: "GET", Path: "/v1/indices/{kind}/report", Summary: "the kind's flows by period, city, route and sector, or its allocation lineage (level=lineage); JSON or CSV", Tag: "quota",
			Roles: reporters, Heavy: true, Produces: csvToo, Query: quotaReportQuery(), Out: quotaReportView{}, Handler: s.kindPath(s.handleQuotaReport)},
		{Method: "POST", Path: "/v1/indices/{kind}/transfers", Summary: "move indices of the kind between reserves", Tag: "quota",
			Roles: province, In: quota.TransferInput{}, Out: quota.Transfer{}, Handler: keyedKind(s, func(in *quota.TransferInput) *string { return &in.IndexKind }, quota.TransferReserves)},
		{Method: "GET", Path: "/v1/indices/{kind}/config", Summary: "the kind's configuration versions in force (all=true: every version)", Tag: "quota",
			Query: []queryParam{quotaAllParam()}, Out: quotaConfigListView{}, Handler: s.kindPath(s.handleQuotaListConfig)},
		{Method: "POST", Path: "/v1/indices/{kind}/config", Summary: "publish a configuration version of the kind (split, coefficient or ratio, threshold, price, move_settles_reserve)", Tag: "quota",
			Roles: province, In: quota.PublishConfigInput{}, Out: quota.ConfigVersion{}, Handler: keyedKind(s, func(in *quota.PublishConfigInput) *string { return &in.IndexKind }, quota.PublishConfig)},
		{Method: "POST", Path: "/v1/quota/bundles", Summary: "apply for several index kinds for one project, one line per kind (enterprise)", Tag: "quota",
			Roles: []string{ledger.RoleEnterprise}, In: quota.ApplyBundleInput{}, Out: quota.Bundle{}, Handler: keyed(s, viewedWrite(quota.ApplyBundle, viewQuotaBundle))},
		{Method: "GET", Path: "/v1/quota/bundles/{id}", Summary: "read a bundle: every kind's application, allocation, lineage and trail", Tag: "quota",
			Roles: readers, Out: quota.Bundle{}, Handler: read(s, pathUUID, quota.GetBundle, viewQuotaBundle)},
		{Method: "POST", Path: "/v1/quota/bundles/{id}/review", Summary: "review every kind of a bundle of the city's own city (city)", Tag: "quota",
			Roles: []string{ledger.RoleCity}, In: quota.DecisionInput{}, Out: quota.Bundle{}, Handler: keyedID(s, viewedStep(quota.ReviewBundle, viewQuotaBundle))},
		{Method: "POST", Path: "/v1/quota/bundles/{id}/decision", Summary: "decide a bundle: allocate every kind from named reserves in one transaction or none, escalate, or reject", Tag: "quota",
			Roles: province, In: quota.DecideBundleInput{}, Out: quota.Bundle{}, Handler: keyedID(s, viewedStep(quota.DecideBundle, viewQuotaBundle))},
		{Method: "POST", Path: "/v1/quota/bundles/{id}/government-approval", Summary: "record the provincial government's decision on an escalated bundle, for every kind", Tag: "quota",
			Roles: province, In: quota.GovernmentInput{}, Out: quota.Bundle{}, Handler: keyedID(s, viewedStep(quota.RecordBundleGovernmentApproval, viewQuotaBundle))},
		{Method: "POST", Path: "/v1/quota/projects/{id}/move", Summary: "move a project, with its allocations of every kind, to another city; settles reserves where the rule says so", Tag: "quota",
			Roles: province, In: quota.MoveProjectInput{}, Out: quota.ProjectMove{}, Handler: s.handleQuotaMove},
	}
}

// kindPath serves a route of one index kind: a {kind} the ledger does
// not know is not_found, as any unknown path is.
func (s *Server) kindPath(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		if k := r.PathValue("kind"); !s.l.IndexKindLoaded(ledger.Asset(k)) {
			return ledger.Errf(ledger.CodeNotFound, "index kind %q is not configured (GET /v1/indices lists the kinds)", k)
		}
		return h(w, r, a)
	}
}

// keyedKind is keyed for a write of the path's {kind}: kindOf points at
// the input's index_kind, which the path sets; a body naming another kind
// is refused rather than silently overridden.
func keyedKind[In, Out any](s *Server, kindOf func(*In) *string, call func(context.Context, *ledger.Ledger, ledger.Actor, string, In) (Out, bool, error)) handler {
	return s.kindPath(func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		var in In
		key, err := readWrite(r, &in)
		if err != nil {
			return err
		}
		field, kind := kindOf(&in), r.PathValue("kind")
		if *field != "" && *field != kind {
			return ledger.Errf(ledger.CodeInvalidRequest, "index_kind %q differs from the path's %q", *field, kind).At("index_kind")
		}
		*field = kind
		out, replayed, err := call(r.Context(), s.l, a, key, in)
		if err != nil {
			return err
		}
		return writeResult(w, replayed, out)
	})
}

// quotaKindSourceFilter is quotaSourceFilter for the path's {kind}.
func quotaKindSourceFilter(r *http.Request, a ledger.Actor) (quota.SourceFilter, error) {
	f, err := quotaSourceFilter(r, a)
	f.IndexKind = r.PathValue("kind")
	return f, err
}

// viewedWrite renders a write's result with view, for keyed.
func viewedWrite[In, Out, View any](call func(context.Context, *ledger.Ledger, ledger.Actor, string, In) (Out, bool, error), view func(Out) View) func(context.Context, *ledger.Ledger, ledger.Actor, string, In) (View, bool, error) {
	return func(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, in In) (View, bool, error) {
		out, replayed, err := call(ctx, l, a, key, in)
		return view(out), replayed, err
	}
}

// viewedStep renders the result of a write on {id} with view, for keyedID.
func viewedStep[In, Out, View any](call func(context.Context, *ledger.Ledger, ledger.Actor, string, uuid.UUID, In) (Out, bool, error), view func(Out) View) func(context.Context, *ledger.Ledger, ledger.Actor, string, uuid.UUID, In) (View, bool, error) {
	return func(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID, in In) (View, bool, error) {
		out, replayed, err := call(ctx, l, a, key, id, in)
		return view(out), replayed, err
	}
}

// handleQuotaMove moves the project named by the path (a project id is
// the enterprise's identifier, not a UUID).
func (s *Server) handleQuotaMove(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var in quota.MoveProjectInput
	key, err := readWrite(r, &in)
	if err != nil {
		return err
	}
	mv, replayed, err := quota.MoveProject(r.Context(), s.l, a, key, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, mv)
}

// quotaSourceFilter reads GET /v1/quota/sources' page and filters.
func quotaSourceFilter(r *http.Request, _ ledger.Actor) (quota.SourceFilter, error) {
	limit, cursor, err := pageParams(r)
	return quota.SourceFilter{City: queryGet(r, "city"), Enterprise: queryGet(r, "enterprise"), Status: queryGet(r, "status"), Limit: limit, Cursor: cursor}, err
}

func (s *Server) handleQuotaApply(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	var req quotaApplyRequest
	key, err := readWrite(r, &req)
	if err != nil {
		return err
	}
	in := quota.ApplyInput{Project: req.Project, City: req.City, Sector: req.Sector, Emissions: req.Emissions, OwnSources: req.OwnSources,
		OwnSourcesRef: req.OwnSourcesRef, Requested: req.Requested, Reason: req.Reason}
	if req.EmissionsBreakdown != nil {
		b := quota.EmissionsBreakdown(*req.EmissionsBreakdown)
		in.EmissionsBreakdown = &b
	}
	d, replayed, err := quota.Apply(r.Context(), s.l, a, key, in)
	if err != nil {
		return err
	}
	return writeResult(w, replayed, viewQuotaApplication(d))
}

// quotaApplicationFilter reads GET /v1/quota/applications' page and filters.
func quotaApplicationFilter(r *http.Request, _ ledger.Actor) (quota.ApplicationFilter, error) {
	limit, cursor, err := pageParams(r)
	return quota.ApplicationFilter{Status: queryGet(r, "status"), City: queryGet(r, "city"), Enterprise: queryGet(r, "enterprise"), Project: queryGet(r, "project"),
		Limit: limit, Cursor: cursor}, err
}

// quotaStep is the shape of the application steps that take a path id.
type quotaStep[In any] func(ctx context.Context, l *ledger.Ledger, a ledger.Actor, key string, id uuid.UUID, in In) (quota.ApplicationDetail, bool, error)

func quotaApplicationStep[Req any, In any](s *Server, step quotaStep[In], convert func(Req) In) handler {
	return func(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		var req Req
		key, err := readWrite(r, &req)
		if err != nil {
			return err
		}
		d, replayed, err := step(r.Context(), s.l, a, key, id, convert(req))
		if err != nil {
			return err
		}
		return writeResult(w, replayed, viewQuotaApplication(d))
	}
}

func (s *Server) handleQuotaReview(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return quotaApplicationStep(s, quota.ReviewApplication, func(x quota.DecisionInput) quota.DecisionInput { return x })(w, r, a)
}

func (s *Server) handleQuotaDecide(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return quotaApplicationStep(s, quota.DecideApplication, func(x quotaDecideRequest) quota.DecideInput {
		in := quota.DecideInput{Approve: x.Approve, Reason: x.Reason, Paid: x.Paid}
		for _, d := range x.Draws {
			in.Draws = append(in.Draws, quota.DrawInput(d))
		}
		return in
	})(w, r, a)
}

func (s *Server) handleQuotaGovernment(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return quotaApplicationStep(s, quota.RecordGovernmentApproval, func(x quota.GovernmentInput) quota.GovernmentInput { return x })(w, r, a)
}

func (s *Server) handleQuotaConsume(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return quotaApplicationStep(s, quota.Consume, func(x quota.ConsumeInput) quota.ConsumeInput { return x })(w, r, a)
}

func (s *Server) handleQuotaRecover(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	return quotaApplicationStep(s, quota.Recover, func(x quota.RecoverInput) quota.RecoverInput { return x })(w, r, a)
}

// wantsCSV reports whether the Accept header asks for text/csv.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// kindFile names a CSV download of an index kind; CEI's route keeps its
// names.
func kindFile(name, kind string) string {
	if kind == "" {
		return name
	}
	return name + "-" + kind
}

func csvHeaders(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleQuotaReserves(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	kind := r.PathValue("kind") // "" on the CEI route
	rep, err := quota.ReservesOf(r.Context(), s.l, a, kind)
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		csvHeaders(w, kindFile("quota-reserves", kind))
		return quota.WriteReservesCSV(w, rep)
	}
	out := quotaReservesView{IndexKind: kind, AsOf: rep.AsOf, Rows: make([]quota.ReserveRow, 0, len(rep.Rows)), Total: rep.Total}
	out.Rows = append(out.Rows, rep.Rows...)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleQuotaReport(w http.ResponseWriter, r *http.Request, a ledger.Actor) error {
	q := func(name string) string { return queryGet(r, name) }
	rq := quota.ReportQuery{From: q("from"), To: q("to"), Period: q("period"), City: q("city"),
		Route: q("route"), Sector: q("sector"), Flow: q("flow")}
	rq.IndexKind = r.PathValue("kind") // "" on the CEI route
	switch level := q("level"); level {
	case "", "flows":
		if q("allocation_id") != "" {
			return ledger.Errf(ledger.CodeInvalidRequest, "allocation_id applies to level=lineage").At("allocation_id")
		}
		rep, err := quota.Report(r.Context(), s.l, a, rq)
		if err != nil {
			return err
		}
		if wantsCSV(r) {
			csvHeaders(w, kindFile("quota-flows", rq.IndexKind))
			return quota.WriteFlowsCSV(w, rep)
		}
		out := quotaReportView{Level: "flows", Query: rep.Query, Rows: make([]quota.FlowRow, 0, len(rep.Rows))}
		out.Rows = append(out.Rows, rep.Rows...)
		return writeJSON(w, http.StatusOK, out)
	case "lineage":
		if rq.Period != "" || rq.Flow != "" {
			return ledger.Errf(ledger.CodeInvalidRequest, "period and flow apply to level=flows").At("level")
		}
		lq := quota.LineageQuery{From: rq.From, To: rq.To, City: rq.City, Route: rq.Route, Sector: rq.Sector, IndexKind: rq.IndexKind}
		if v := q("allocation_id"); v != "" {
			id, err := uuid.Parse(v)
			if err != nil {
				return ledger.Errf(ledger.CodeInvalidRequest, "allocation_id must be a UUID").At("allocation_id")
			}
			lq.AllocationID = &id
		}
		rows, err := quota.Lineage(r.Context(), s.l, a, lq)
		if err != nil {
			return err
		}
		if wantsCSV(r) {
			csvHeaders(w, kindFile("quota-lineage", rq.IndexKind))
			return quota.WriteLineageCSV(w, rows)
		}
		out := quotaReportView{Level: "lineage", Query: rq, Lineage: make([]quota.LineageRow, 0, len(rows))}
		out.Lineage = append(out.Lineage, rows...)
		return writeJSON(w, http.StatusOK, out)
	default:
		return ledger.Errf(ledger.CodeInvalidRequest, "level must be flows or lineage").At("level")
	}
}

func (s *Server) handleQuotaListConfig(w http.ResponseWriter, r *http.Request, _ ledger.Actor) error {
	all, err := queryBoolValue(r, "all")
	if err != nil {
		return err
	}
	cs, err := quota.ListKindConfig(r.Context(), s.l, r.PathValue("kind"), all) // "" on the CEI route
	if err != nil {
		return err
	}
	out := quotaConfigListView{Items: make([]quota.ConfigVersion, 0, len(cs))}
	out.Items = append(out.Items, cs...)
	return writeJSON(w, http.StatusOK, out)
}

// Views.

func viewQuotaEvents(es []quota.Event) []quota.Event { return ledger.NonNil(es) }

func viewQuotaSource(d quota.SourceDetail) quotaSourceDetailView {
	return quotaSourceDetailView{Source: d.Source, Trail: viewQuotaEvents(d.Trail)}
}

func viewQuotaCorrection(c quota.CorrectionDetail) quotaCorrectionDetailView {
	return quotaCorrectionDetailView{Correction: c.Correction, Trail: viewQuotaEvents(c.Trail)}
}

func viewQuotaBundle(b quota.Bundle) quota.Bundle {
	apps := make([]quota.ApplicationDetail, 0, len(b.Applications))
	for _, d := range b.Applications {
		apps = append(apps, viewQuotaApplication(d))
	}
	b.Applications = apps
	return b
}

// viewQuotaApplication renders empty lists as [] rather than null.
func viewQuotaApplication(d quota.ApplicationDetail) quota.ApplicationDetail {
	if d.Trail != nil {
		d.Trail = viewQuotaEvents(d.Trail)
	}
	if al := d.Allocation; al != nil {
		c := *al
		c.Reserves, c.Lineage = ledger.NonNil(c.Reserves), ledger.NonNil(c.Lineage)
		d.Allocation = &c
	}
	return d
}

// Query parameters of the quota reads (params.go).

func quotaCityParam(desc string) queryParam {
	return paramEnum("city", desc, quota.Cities()...)
}

func quotaAllParam() queryParam {
	return paramBool("all", "true: every version, superseded ones too")
}

func quotaSourceQuery() []queryParam {
	return []queryParam{
		quotaCityParam("sources of this city (a city sees only its own)"),
		paramString("enterprise", "sources of this enterprise (an enterprise sees only its own)"),
		paramEnum("status", "sources in this status", quota.SourceStatuses()...),
	}
}

func quotaApplicationQuery() []queryParam {
	return []queryParam{
		paramEnum("status", "applications in this status", quota.ApplicationStatuses()...),
		quotaCityParam("applications of this city (a city sees only its own)"),
		paramString("enterprise", "applications of this enterprise (an enterprise sees only its own)"),
		paramString("project", "applications of this project"),
	}
}

func quotaReportQuery() []queryParam {
	return []queryParam{
		paramEnum("level", "flows (default) or the allocation lineage", "flows", "lineage"),
		paramDate("from", "first China calendar day, inclusive"),
		paramDate("to", "last China calendar day, inclusive"),
		paramEnum("period", "level=flows: group by day, month (default), quarter or year", quota.Periods()...),
		paramEnum("city", "the reserve, the source's city or the project's city", quota.ReserveNames()...),
		paramEnum("route", "the route that freed the source", quota.Routes()...),
		paramString("sector", "the project's sector"),
		paramEnum("flow", "level=flows: one flow only", quota.Flows()...),
		paramUUID("allocation_id", "level=lineage: one allocation only"),
	}
}
