package api

import (
	"fmt"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// The wire types that reflection alone cannot see: which string fields
// carry amounts (and of which asset's scale), which take one of a closed
// set of values, which are UUIDs or dates. TestOpenAPIExact checks that
// each rule names a field that exists, and the harness validates every
// response of the HTTP suite against the result.

const (
	patternInteger = `^-?[0-9]+$`
	patternDecimal = `^-?[0-9]+(\.[0-9]+)?$`
	patternAsset   = `^[A-Z][A-Z0-9]{1,15}$`
	// The same, or "" where an optional value is rendered empty.
	patternAssetOrEmpty = `^([A-Z][A-Z0-9]{1,15})?$`
	patternWholeOrEmpty = `^(-?[0-9]+)?$`
	patternHash         = `^[0-9a-f]{64}$`
)

// amountPattern is the pattern of an amount of the given scale: exactly
// that many decimals as the server renders it (ledger.FormatAmount), and
// at most that many as a client may send it (ledger.ParseAmount).
func amountPattern(scale int32, in bool) string {
	if scale == 0 {
		return patternInteger
	}
	if in {
		return fmt.Sprintf(`^-?[0-9]+(\.[0-9]{1,%d})?$`, scale)
	}
	return fmt.Sprintf(`^-?[0-9]+\.[0-9]{%d}$`, scale)
}

// wire describes one string field (or the items of a string list).
type wire struct {
	asset    ledger.Asset // an amount of this asset, at its scale
	anyAsset bool         // an amount of the asset named beside it (any scale)
	whole    bool         // a whole number as a string (index tonnes: every kind's scale is 0)
	decimal  bool         // a plain decimal (a coefficient, a ratio, a price per tonne)
	enum     []string
	format   string // uuid, date-time, date
	pattern  string
}

func (w wire) apply(s map[string]any, in bool) {
	switch {
	case w.asset != "":
		scale, _ := w.asset.Scale()
		s["pattern"] = amountPattern(scale, in)
		s["description"] = fmt.Sprintf("an amount of %s (scale %d), as a decimal string", w.asset, scale)
	case w.anyAsset:
		s["pattern"] = patternDecimal
		s["description"] = "an amount at the scale of its asset (CP, CO2E, SDCER and index kinds whole; CNY 2 decimals), as a decimal string"
	case w.whole:
		s["pattern"] = patternInteger
		s["description"] = "a whole number, as a decimal string"
	case w.decimal:
		s["pattern"] = patternDecimal
		s["description"] = "a plain decimal string"
	}
	if len(w.enum) > 0 {
		s["enum"] = w.enum
	}
	if w.format != "" {
		s["format"] = w.format
	}
	if w.pattern != "" {
		s["pattern"] = w.pattern
	}
}

// refine applies the rules of a field (by schema and field, else by field
// name) to its string schema, or to the items of a list of strings.
func refine(parent, field string, s map[string]any, in bool) map[string]any {
	w, ok := fieldWire[parent+"."+field]
	if !ok {
		w, ok = nameWire[field]
	}
	if !ok {
		return s
	}
	target := s
	if s["type"] == "array" {
		items, _ := s["items"].(map[string]any)
		if items == nil {
			return s
		}
		target = items
	}
	if target["type"] != "string" {
		return s
	}
	w.apply(target, in)
	return s
}

var (
	accountStatuses = []string{"active", "frozen", "closed"}
	phases          = []string{string(ledger.PhasePosted), string(ledger.PhaseHold), string(ledger.PhaseRelease)}
)

// nameWire are the rules by field name, for every schema.
var nameWire = map[string]wire{
	"role":  {enum: allRoles()},
	"roles": {enum: allRoles()},
	"phase": {enum: phases},
	"asset": {pattern: patternAsset},

	// Index tonnes (every kind's scale is 0: NUMERIC(30,0)).
	"tonnes": {whole: true}, "province_tonnes": {whole: true}, "city_tonnes": {whole: true},
	"in_reserve": {whole: true}, "allocated": {whole: true}, "consumed": {whole: true}, "stockpiled": {whole: true},
	"transferred_in": {whole: true}, "transferred_out": {whole: true}, "recovered": {whole: true},
	"corrected_up": {whole: true}, "corrected_down": {whole: true}, "unstockpiled": {whole: true}, "corrected": {whole: true},
	"delta": {whole: true}, "required": {whole: true}, "gap": {whole: true},

	// Registry units (SDCER: whole units).
	"units": {asset: ledger.AssetSDCER}, "reserved": {asset: ledger.AssetSDCER},
	"issued_units": {asset: ledger.AssetSDCER}, "cap_units": {asset: ledger.AssetSDCER},
	"surrendered_units": {asset: ledger.AssetSDCER}, "remaining_units": {asset: ledger.AssetSDCER},
	"issued": {asset: ledger.AssetSDCER}, "held": {asset: ledger.AssetSDCER}, "retired": {asset: ledger.AssetSDCER},
	"cancelled": {asset: ledger.AssetSDCER}, "surrendered": {asset: ledger.AssetSDCER},
	"cap_share": {decimal: true}, "offset_cap_share": {decimal: true},
	"obligation_tonnes": {decimal: true}, "verified_emissions_tonnes": {decimal: true},

	// Reductions (CO2E: whole grams) and points (CP: whole points).
	"captured_grams": {asset: ledger.AssetCO2E}, "approved_grams": {asset: ledger.AssetCO2E},
	"rejected_grams": {asset: ledger.AssetCO2E}, "remainder_grams": {asset: ledger.AssetCO2E},
	"record_cap_grams": {asset: ledger.AssetCO2E}, "daily_cap_grams": {asset: ledger.AssetCO2E},
	"price_points": {asset: ledger.AssetCP}, "stock": {whole: true},
	"factor_grams_per_unit": {decimal: true}, "quantity_max": {decimal: true}, "daily_cap_quantity": {decimal: true},
	"quantity": {decimal: true}, "points": {asset: ledger.AssetCP},

	// Money.
	"price_per_unit": {asset: ledger.AssetCNY},
	"amount_cny":     {asset: ledger.AssetCNY}, "refunded_cny": {asset: ledger.AssetCNY},
	"price_yuan_per_tonne": {asset: ledger.AssetCNY},

	// Other decimals.
	"coefficient": {decimal: true}, "threshold": {decimal: true},

	// Index quantities of an application: whole tonnes; a breakdown
	// line or own sources may be "" (none).
	"emissions": {whole: true}, "requested": {whole: true},
	"own_sources": {pattern: patternWholeOrEmpty}, "fuel_combustion": {pattern: patternWholeOrEmpty},
	"industrial_process": {pattern: patternWholeOrEmpty}, "net_purchased_power_heat": {pattern: patternWholeOrEmpty},
	"co2_recovered": {pattern: patternWholeOrEmpty}, "split_province_percent": {decimal: true},
	"reserve":           {enum: quota.ReserveNames()},
	"city":              {enum: quota.ReserveNames()},
	"source_city":       {enum: append([]string{""}, quota.Cities()...)}, // "": none (a flow of the reserve alone)
	"project_city":      {enum: append([]string{""}, quota.Cities()...)}, // "": none (a flow of the reserve alone)
	"from_city":         {enum: quota.Cities()},
	"to_city":           {enum: quota.Cities()},
	"index_kind":        {pattern: patternAssetOrEmpty},
	"subject_kind":      {enum: quota.SubjectKinds()},
	"allocation_status": {enum: quota.AllocationStatuses()},
	"hash":              {pattern: patternHash},

	"formed_on":       {format: "date"},
	"commissioned_on": {format: "date"},
	"route":           {enum: quota.Routes()},
	"flow":            {enum: quota.Flows()},
	"purpose":         {enum: []string{registry.PurposeVoluntaryNeutrality, registry.PurposeEventNeutrality, registry.PurposePublicInstitution, registry.PurposeOther}},
	"transaction_id":  {format: "uuid"},
}

// fieldWire are the rules of one schema's field; they win over nameWire.
var fieldWire = map[string]wire{
	"Problem.code":    {enum: problemCodes()},
	"Problem.outcome": {enum: []string{ledger.OutcomeNotCommitted, ledger.OutcomeUnknown}},

	"accountView.status":               {enum: accountStatuses},
	"accountView.balance":              {anyAsset: true},
	"accountView.pending":              {anyAsset: true},
	"accountView.available":            {anyAsset: true},
	"postingView.amount":               {anyAsset: true},
	"postingView.balance_after":        {anyAsset: true},
	"accountPostingView.amount":        {anyAsset: true},
	"accountPostingView.balance_after": {anyAsset: true},
	"accountPostingView.pending_after": {anyAsset: true},
	"postingRequest.amount":            {anyAsset: true},
	"ledger_PostingEventData.amount":   {anyAsset: true},
	"accountStatusRequest.status":      {enum: accountStatuses},
	"transactionView.id":               {format: "uuid"},
	"transactionView.corrects":         {format: "uuid"},
	"transactionView.resolves":         {format: "uuid"},
	"transactionRequest.corrects":      {format: "uuid"},
	"batchItemView.status":             {enum: []string{"posted", "replayed", "failed"}},
	"healthView.status":                {enum: []string{"ok", "ready"}},

	"points_BehaviourView.status":         {enum: points.RecordStatuses()},
	"points_RecordResult.status":          {enum: points.RecordStatuses()},
	"points_ActivityItem.type":            {enum: points.ActivityTypes()},
	"points_Operator.status":              {enum: []string{"active", "suspended"}},
	"points_OperatorInput.status":         {enum: []string{"active", "suspended"}},
	"registry_Holder.status":              {enum: []string{"active", "frozen"}},
	"registryHoldingsView.status":         {enum: []string{"active", "frozen"}},
	"quota_RecoverInput.cause":            {enum: []string{"cancelled", "expired"}},
	"quota_ReportQuery.period":            {enum: quota.Periods()},
	"quota_FlowRow.reserve":               {enum: append([]string{""}, quota.ReserveNames()...)}, // "": a flow outside the reserves (consumption)
	"quota_ReserveRow.reserve":            {enum: append(quota.ReserveNames(), "total")},
	"quota_ReportQuery.from":              {format: "date"},
	"quota_ReportQuery.to":                {format: "date"},
	"quota_Transfer.from":                 {enum: quota.ReserveNames()},
	"quota_Transfer.to":                   {enum: quota.ReserveNames()},
	"quota_TransferInput.from":            {enum: quota.ReserveNames()},
	"quota_TransferInput.to":              {enum: quota.ReserveNames()},
	"quotaReportView.level":               {enum: []string{"flows", "lineage"}},
	"ledger_CheckpointStatement.id":       {format: "uuid"},
	"ledger_CheckpointStatement.taken_at": {format: "date-time"},

	"registryHoldingsView.balance":   {asset: ledger.AssetSDCER},
	"registryHoldingsView.available": {asset: ledger.AssetSDCER},
	"registry_Trade.amount":          {asset: ledger.AssetCNY},
	"registry_Deposit.amount":        {asset: ledger.AssetCNY},
	"registry_DepositInput.amount":   {asset: ledger.AssetCNY},
	"registry_Batch.state":           {enum: []string{registry.StateDraft, registry.StateNotice, registry.StateSubmitted, registry.StateVerified, registry.StateIssued, registry.StateRejected, registry.StateWithdrawn}},
	"registry_Trade.status":          {enum: []string{registry.TradeOffered, registry.TradeExpired, registry.TradeSettled, registry.TradeCancelled}},
	"registry_Block.status":          {enum: []string{registry.StatusHeld, registry.StatusRetired, registry.StatusCancelled, registry.StatusSurrendered}},

	// The lists (lists.go).
	"registry_TradeSummary.amount":      {asset: ledger.AssetCNY},
	"registry_TradeSummary.status":      {enum: registry.TradeStatuses},
	"registry_Verifier.status":          {enum: registry.VerifierStatuses},
	"points_OperatorRecord.status":      {enum: points.StoredRecordStatuses},
	"points_OperatorRecord.claim_state": {enum: []string{"pending", "claimed", "lapsed", "reversed"}},
	"points_OperatorRecord.day":         {format: "date"},
	"points_StatsRow.measure":           {enum: points.Measures},
	"points_StatsRow.period":            {pattern: `^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$`},
	"points_StatsQuery.group":           {enum: points.StatsGroups},
	"points_StatsQuery.from":            {format: "date"},
	"points_StatsQuery.to":              {format: "date"},

	"quota_Source.status":      {enum: quota.SourceStatuses()},
	"quota_Application.status": {enum: quota.ApplicationStatuses()},
	"quota_Allocation.status":  {enum: quota.AllocationStatuses()},
	"quota_Correction.status":  {enum: quota.CorrectionStatuses()},
}

// optionalInputs are request fields without omitempty that a client may
// leave out (the handler takes the zero value as the default).
var optionalInputs = map[string]bool{
	"batchRequest.atomic":           true, // false: independent items
	"quota_BundleLine.own_sources":  true, // "": none
	"quotaDecideRequest.paid":       true, // false: not yet paid
	"quota_DecideBundleInput.paid":  true,
	"quota_RecoverInput.refund":     true, // false: no refund
	"quotaApplyRequest.own_sources": true,
	// A breakdown line left out is 0 t.
	"quota_EmissionsBreakdown.fuel_combustion":          true,
	"quota_EmissionsBreakdown.industrial_process":       true,
	"quota_EmissionsBreakdown.net_purchased_power_heat": true,
	"quota_EmissionsBreakdown.co2_recovered":            true,
}

// nullableFields are fields that are present and may be null although
// their Go type is not a pointer (a nil list or map).
var nullableFields = map[string]bool{}

// schemaDescriptions describe component schemas.
var schemaDescriptions = map[string]string{
	"Problem": "an RFC 9457 problem document; code is the stable machine-readable reason",
}

// journeyExample is an example request of a main journey's step.
type journeyExample struct {
	note    string
	request any
}

// journeyExamples are the main journeys' steps, by "METHOD /path"; both
// validators check each example against its schema.
var journeyExamples = map[string]journeyExample{
	"POST /v1/me/entrustments": {note: "Citizen journey, step 0: the citizen entrusts an operator.",
		request: map[string]any{"operator": "metro-jinan"}},
	"POST /v1/behaviours": {note: "Citizen journey, step 1: the operator reports trips of citizens who entrusted it; each record gets a result.",
		request: map[string]any{"records": []any{map[string]any{"record_id": "trip-20261201-0001", "citizen": "C1", "kind": "metro",
			"quantity": "12", "unit": "km", "occurred_at": "2026-12-01T08:30:00+08:00"}}}},
	"GET /v1/me":              {note: "Citizen journey, step 2: the citizen reads pending and available points."},
	"POST /v1/me/claims":      {note: "Citizen journey, step 3: the citizen claims pending points inside the claim window.", request: map[string]any{}},
	"GET /v1/me/activity":     {note: "Citizen journey, step 4: the citizen reads the activity, each credit with its behaviour."},
	"POST /v1/me/redemptions": {note: "Citizen journey, step 5: the citizen redeems points for a reward.", request: map[string]any{"reward": "metro-day-pass"}},
	"GET /v1/holdings":        {note: "Enterprise journey, step 1: a holder reads its units by block."},
	"POST /v1/trades": {note: "Enterprise journey, step 2: the seller offers units to a buyer at a price per unit (CNY).",
		request: map[string]any{"buyer": "E1", "units": "500", "price_per_unit": "36.00", "timeout_seconds": 3600}},
	"POST /v1/trades/{id}/acceptance": {note: "Enterprise journey, step 3: the buyer accepts; units and money settle together."},
	"POST /v1/retirements": {note: "Enterprise journey, step 4: the holder retires units for a beneficiary and gets the certificate.",
		request: map[string]any{"units": "100", "vintage": 2025, "purpose": registry.PurposeVoluntaryNeutrality, "beneficiary": "Jinan Iron and Steel Co."}},
	"POST /v1/transactions": {note: "Example: an administrative CNY transfer between two organisations' money accounts.",
		request: map[string]any{"kind": "transfer", "postings": []any{map[string]any{"account": "org:E1:CNY", "amount": "-30.50"},
			map[string]any{"account": "org:E2:CNY", "amount": "30.50"}}}},
}
