package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shandong-carbon/carbonledger/api/client"
	"github.com/shandong-carbon/carbonledger/ledger"
)

// The generated Go client (api/client, oapi-codegen over api/openapi.json)
// runs the main journeys against a real server on a real database. Its
// HTTP client is the harness's, so every exchange is validated against the
// document as well.

// apiClient is a generated client acting with token.
func (h *harness) apiClient(token string) *client.ClientWithResponses {
	h.t.Helper()
	c, err := client.NewClientWithResponses(h.srv.URL, client.WithHTTPClient(h.client),
		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func wantStatus(t *testing.T, what string, got, want int, body []byte) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d: %s", what, got, want, body)
	}
}

// TestGeneratedClientCitizenJourney: an operator reports a trip, the
// citizen reads /v1/me, claims, reads the activity and redeems — every
// step decoded by the generated client into its types (points are
// strings on the wire and in the client).
func TestGeneratedClientCitizenJourney(t *testing.T) {
	e := newPointsEnv(t)
	ctx := context.Background()
	e.h.post("/v1/rewards", e.prov, map[string]any{"id": "sticker", "title": "Sticker", "price_points": "1", "stock": "10"}).want(t, http.StatusCreated)
	op := e.h.apiClient(e.operator("metro-jinan"))
	me := e.h.apiClient(e.citizen("C1"))

	trip := e.start.Add(-time.Hour).Truncate(time.Minute)
	rep, err := op.PostV1BehavioursWithResponse(ctx, &client.PostV1BehavioursParams{IdempotencyKey: uuid.NewString()},
		client.PostV1BehavioursJSONRequestBody{Records: []client.PointsBehaviourRecord{{
			RecordId: "trip-" + uuid.NewString(), Citizen: "C1", Kind: "metro", Quantity: "12", Unit: "km", OccurredAt: trip}}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "report", rep.StatusCode(), http.StatusCreated, rep.Body)
	if r := rep.JSON201.Results; len(r) != 1 || r[0].Status != client.PointsRecordResultStatusCredited || r[0].Points != "2532" {
		t.Fatalf("report results: %s", rep.Body)
	}

	sum, err := me.GetV1MeWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "me", sum.StatusCode(), http.StatusOK, sum.Body)
	if sum.JSON200.PendingPoints != "2532" || sum.JSON200.AvailablePoints != "0" {
		t.Fatalf("me: %s", sum.Body)
	}

	claim, err := me.PostV1MeClaimsWithResponse(ctx, &client.PostV1MeClaimsParams{IdempotencyKey: uuid.NewString()}, client.PostV1MeClaimsJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "claim", claim.StatusCode(), http.StatusCreated, claim.Body)
	if claim.JSON201.ClaimedPoints != "2532" {
		t.Fatalf("claim: %s", claim.Body)
	}

	limit := 10
	act, err := me.GetV1MeActivityWithResponse(ctx, &client.GetV1MeActivityParams{Limit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "activity", act.StatusCode(), http.StatusOK, act.Body)
	if len(act.JSON200.Items) != 2 {
		t.Fatalf("activity: %s", act.Body)
	}

	red, err := me.PostV1MeRedemptionsWithResponse(ctx, &client.PostV1MeRedemptionsParams{IdempotencyKey: uuid.NewString()},
		client.PostV1MeRedemptionsJSONRequestBody{Reward: "sticker"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "redeem", red.StatusCode(), http.StatusCreated, red.Body)
	if red.JSON201.Points != "1" {
		t.Fatalf("redemption: %s", red.Body)
	}
	// A problem decodes into the generated Problem of its listed status,
	// with the code enum.
	again, err := me.PostV1MeClaimsWithResponse(ctx, &client.PostV1MeClaimsParams{IdempotencyKey: uuid.NewString()}, client.PostV1MeClaimsJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	if p := again.ApplicationproblemJSON422; again.StatusCode() != http.StatusUnprocessableEntity || p == nil || p.Code != client.ProblemCodeNothingToClaim {
		t.Fatalf("second claim: %d %s", again.StatusCode(), again.Body)
	}
	e.verify(t)
}

// TestGeneratedClientEnterpriseJourney: holdings, a trade offered by the
// seller and accepted by the buyer, a retirement by the buyer — through
// the generated client.
func TestGeneratedClientEnterpriseJourney(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	prov := h.token(ledger.RoleProvince, "p1", "", "")
	h.registryIssue("metro-jn", "6330000000", "126600000")
	h.post("/v1/holders", h.token(ledger.RoleEnterprise, "e-1", "E1", ""), map[string]any{"holder": "E1"}).want(t, 201)
	h.post("/v1/deposits", prov, map[string]any{"org": "E1", "amount": "18000.00", "reference": "bank-1"}).want(t, 201)
	seller := h.apiClient(h.token(ledger.RoleOperator, "ops-1", "metro-jn", ""))
	buyer := h.apiClient(h.token(ledger.RoleEnterprise, "e-1", "E1", ""))

	hold, err := seller.GetV1HoldingsWithResponse(ctx, &client.GetV1HoldingsParams{})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "holdings", hold.StatusCode(), http.StatusOK, hold.Body)
	if hold.JSON200.Available != "6203" || len(hold.JSON200.Blocks) != 1 {
		t.Fatalf("seller holdings: %s", hold.Body)
	}

	timeout := int64(3600)
	offer, err := seller.PostV1TradesWithResponse(ctx, &client.PostV1TradesParams{IdempotencyKey: uuid.NewString()},
		client.PostV1TradesJSONRequestBody{Buyer: "E1", Units: "500", PricePerUnit: "36.00", TimeoutSeconds: &timeout})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "offer", offer.StatusCode(), http.StatusCreated, offer.Body)
	if offer.JSON201.Amount != "18000.00" || offer.JSON201.Status != client.RegistryTradeStatusOffered {
		t.Fatalf("offer: %s", offer.Body)
	}

	acc, err := buyer.PostV1TradesByIdAcceptanceWithResponse(ctx, offer.JSON201.Id.String(), &client.PostV1TradesByIdAcceptanceParams{IdempotencyKey: uuid.NewString()},
		client.PostV1TradesByIdAcceptanceJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "acceptance", acc.StatusCode(), http.StatusCreated, acc.Body)
	if acc.JSON201.Status != client.RegistryTradeStatusSettled {
		t.Fatalf("acceptance: %s", acc.Body)
	}

	vintage := int64(2025)
	cert, err := buyer.PostV1RetirementsWithResponse(ctx, &client.PostV1RetirementsParams{IdempotencyKey: uuid.NewString()},
		client.PostV1RetirementsJSONRequestBody{Units: "100", Vintage: &vintage, Purpose: client.RegistryRetireInputPurposeVoluntaryNeutrality, Beneficiary: "Jinan Iron and Steel Co."})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "retirement", cert.StatusCode(), http.StatusCreated, cert.Body)
	if cert.JSON201.Tonnes != "100" || len(cert.JSON201.Serials) != 1 {
		t.Fatalf("certificate: %s", cert.Body)
	}

	// The public certificate reads back through the client without a token.
	anon, err := client.NewClientWithResponses(h.srv.URL, client.WithHTTPClient(h.client))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := anon.GetV1RetirementsByIdWithResponse(ctx, cert.JSON201.Id.String())
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "public certificate", pub.StatusCode(), http.StatusOK, pub.Body)
	h.registryInvariants()
}
