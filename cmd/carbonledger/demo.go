package main

// The demo data `carbonledger seed` writes so that every console page has
// something to show on a fresh database: points credited and claimed, a
// certification batch issued, units bought, retired and offered, a closure
// source stockpiled, an allocation, applications waiting for the city and
// the province, and a correction waiting for its checker.
//
// Everything goes through the use cases' public functions, as the people
// of the printed tokens (plus a second province user, p-zhao, who made the
// correction, so that p-li's PROVINCE token is the checker). Every call has
// a fixed idempotency key and an input that does not depend on the day the
// seed runs again: dates are derived from the demo's anchor, the moment it
// first ran (the stored result of its first call), never from the clock of
// a later run. So a second run replays every call and changes nothing.

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/shandong-carbon/carbonledger/ledger"
	"github.com/shandong-carbon/carbonledger/ledger/points"
	"github.com/shandong-carbon/carbonledger/ledger/quota"
	"github.com/shandong-carbon/carbonledger/ledger/registry"
)

// The demo's people: the identities of the printed tokens, and p-zhao.
var (
	demoCitizen  = ledger.Actor{Sub: "C1", Role: ledger.RoleCitizen}
	demoOperator = ledger.Actor{Sub: "metro-ops", Role: ledger.RoleOperator, Org: "metro-jinan"}
	demoVerifier = ledger.Actor{Sub: "v-zhang", Role: ledger.RoleVerifier, Org: registry.SeedVerifier}
	demoE1       = ledger.Actor{Sub: "e1-admin", Role: ledger.RoleEnterprise, Org: registry.SeedEnterprise1}
	demoE2       = ledger.Actor{Sub: "e2-admin", Role: ledger.RoleEnterprise, Org: registry.SeedEnterprise2}
	demoCity     = ledger.Actor{Sub: "jinan-bureau", Role: ledger.RoleCity, City: "3701"}
	demoProvince = ledger.Actor{Sub: "p-li", Role: ledger.RoleProvince}
	demoMaker    = ledger.Actor{Sub: "p-zhao", Role: ledger.RoleProvince}
	demoAuditor  = ledger.Actor{Sub: "a-wang", Role: ledger.RoleAuditor}
)

// cst is China Standard Time, the programme's calendar (points days and
// pool periods are CST).
var cst = time.FixedZone("CST", 8*3600)

// Demo sizes. A certification needs at least one tonne in a pool, and a
// citizen earns at most 3,000 g a day (the programme's daily cap), so the
// pool is filled by demoRiders citizens riding 14.2 km each (2,996 g):
// 1,400 × 2,996 g + C1's 2,532 g = 4,196,932 g; the verifier rejects
// 29,960 g (ten trips), and 4 units are issued.
const (
	demoRiders        = 1400
	demoRideKm        = "14.2"
	demoRejectedGrams = "29960"
	demoKeyPrefix     = "demo-v1-"
)

func demoKey(name string) string { return demoKeyPrefix + name }

// demoRecords are the ids the seed prints and the tests use.
type demoRecords struct {
	Anchor      time.Time // when the demo first ran
	TripsAt     time.Time // the demo's trips: two CST days before the anchor, 07:00
	Methodology string    // the metro-km version the trips were credited under
	Pool        string
	Lot         uuid.UUID
	Batch       registry.Batch
	Sale        registry.Trade // operator → E1, settled
	Offer       registry.Trade // E1 → E2, open
	Certificate registry.Certificate
	Source      quota.Source
	Proposed    quota.Source // awaiting the province's recognition
	Allocated   quota.ApplicationDetail
	AtCity      quota.ApplicationDetail // awaiting the city's review
	AtProvince  quota.ApplicationDetail // awaiting the province's decision
	Correction  quota.Correction
}

// seedDemo writes the demo data (idempotent; see the file comment).
func seedDemo(ctx context.Context, l *ledger.Ledger) (demoRecords, error) {
	var d demoRecords
	if err := demoPoints(ctx, l, &d); err != nil {
		return d, fmt.Errorf("demo points: %w", err)
	}
	if err := demoRegistry(ctx, l, &d); err != nil {
		return d, fmt.Errorf("demo registry: %w", err)
	}
	if err := demoQuota(ctx, l, &d); err != nil {
		return d, fmt.Errorf("demo quota: %w", err)
	}
	return d, nil
}

// demoTripsAt is 07:00 CST two days before the anchor's CST day: inside the
// 7-day reporting window when the demo first runs, never in the future, and
// on another day than the example trip the seed prints (yesterday), so the
// example is not cut by C1's daily cap.
func demoTripsAt(anchor time.Time) time.Time {
	y, m, day := anchor.In(cst).Date()
	return time.Date(y, m, day-2, 7, 0, 0, 0, cst).UTC()
}

// demoPoints: the riders that fill metro-jinan's pool, and C1's metro trip
// and claim. The anchor is the registration of the first rider: its stored
// result says when the demo first ran.
func demoPoints(ctx context.Context, l *ledger.Ledger, d *demoRecords) error {
	first, _, err := points.RegisterCitizen(ctx, l, demoProvince, demoKey("anchor"), riderID(1))
	if err != nil {
		return err
	}
	d.Anchor = first.CreatedAt
	d.TripsAt = demoTripsAt(d.Anchor)
	riders := make([]string, demoRiders)
	rides := make([]points.BehaviourRecord, demoRiders)
	for i := range riders {
		riders[i] = riderID(i + 1)
		rides[i] = points.BehaviourRecord{RecordID: fmt.Sprintf("demo-ride-%04d", i+1), Citizen: riders[i], Kind: "metro", Unit: "km",
			Quantity: demoRideKm, OccurredAt: d.TripsAt.Add(time.Duration(i%120) * time.Minute)}
	}
	for lo, n := 0, 0; lo < len(riders); lo, n = lo+points.CitizensPerCallMax, n+1 {
		hi := min(lo+points.CitizensPerCallMax, len(riders))
		if err := points.EnsureCitizens(ctx, l, riders[lo:hi], demoOperator.Org); err != nil {
			return err
		}
		res, err := demoIngest(ctx, l, demoKey(fmt.Sprintf("rides-%d", n+1)), rides[lo:hi])
		if err != nil {
			return err
		}
		d.Methodology = res.Results[0].Methodology
	}
	d.Pool = registry.PoolAccount(demoOperator.Org, d.Methodology, points.Period(d.TripsAt))
	trip := points.BehaviourRecord{RecordID: "demo-c1-metro-1", Citizen: demoCitizen.Sub, Kind: "metro", Unit: "km", Quantity: "12",
		OccurredAt: d.TripsAt.Add(75 * time.Minute)}
	if _, err := demoIngest(ctx, l, demoKey("trip-c1"), []points.BehaviourRecord{trip}); err != nil {
		return err
	}
	claim, _, err := points.Claim(ctx, l, demoCitizen, demoKey("claim-c1"))
	if err != nil {
		return err
	}
	d.Lot = claim.Lots[0].ID
	return nil
}

func riderID(n int) string { return fmt.Sprintf("rider-%04d", n) }

// demoIngest reports a batch as metro-jinan and insists every record was
// credited: a record turned away (say, the demo's first run failed and is
// retried after the reporting window) would leave the pool short.
func demoIngest(ctx context.Context, l *ledger.Ledger, key string, recs []points.BehaviourRecord) (points.IngestResult, error) {
	res, _, err := points.Ingest(ctx, l, demoOperator, key, points.IngestInput{Records: recs})
	if err != nil {
		return res, err
	}
	for _, r := range res.Results {
		if r.Status != points.StatusCredited {
			return res, fmt.Errorf("record %s was %s (%s: %s); the demo's trips are dated from its first run (%s), so reset a database "+
				"whose first seed failed long ago (make clean-data)", r.RecordID, r.Status, r.Reason, r.Message, cstDay(recs[0].OccurredAt))
		}
	}
	return res, nil
}

func cstDay(t time.Time) string { return t.In(cst).Format("2006-01-02") }

// demoRegistry certifies the pool (operator → notice → province → verifier
// → province), then metro-jinan sells 3 units to E1, E1 retires 1 and
// offers 1 to E2.
func demoRegistry(ctx context.Context, l *ledger.Ledger, d *demoRecords) error {
	period := points.Period(d.TripsAt)
	batch, _, err := registry.RequestCertification(ctx, l, demoOperator, demoKey("cert-request"), registry.CertificationRequest{
		Methodology: d.Methodology, Period: period, Sector: "07", Project: "0001"})
	if err != nil {
		return err
	}
	id := batch.ID
	if err := demoNotice(ctx, l, id); err != nil {
		return err
	}
	if _, _, err := registry.SubmitCertification(ctx, l, demoOperator, demoKey("cert-submit"), id); err != nil {
		return err
	}
	if _, _, err := registry.AssignVerifier(ctx, l, demoProvince, demoKey("cert-assign"), id, registry.AssignInput{Verifier: demoVerifier.Org}); err != nil {
		return err
	}
	captured := decimal.RequireFromString(batch.CapturedGrams)
	approved := captured.Sub(decimal.RequireFromString(demoRejectedGrams))
	if _, _, err := registry.VerifyCertification(ctx, l, demoVerifier, demoKey("cert-verify"), id, registry.VerificationInput{
		ApprovedGrams: approved.String(), RejectedGrams: demoRejectedGrams, ReportRef: "VR-DEMO-0001"}); err != nil {
		return err
	}
	if d.Batch, _, err = registry.IssueCertification(ctx, l, demoProvince, demoKey("cert-issue"), id); err != nil {
		return err
	}
	if d.Sale, _, err = registry.OfferTrade(ctx, l, demoOperator, demoKey("sale-e1"), registry.OfferInput{Buyer: demoE1.Org,
		Selection: registry.Selection{Units: "3"}, PricePerUnit: "36.00", TimeoutSeconds: 3600}); err != nil {
		return err
	}
	if d.Sale, _, err = registry.AcceptTrade(ctx, l, demoE1, demoKey("sale-e1-accept"), d.Sale.ID); err != nil {
		return err
	}
	if d.Certificate, _, err = registry.Retire(ctx, l, demoE1, demoKey("retire-e1"), registry.RetireInput{
		Selection: registry.Selection{Units: "1", Vintage: d.Batch.Vintage}, Purpose: registry.PurposeEventNeutrality,
		Beneficiary: "Jinan Marathon (demo)", Note: "carbon neutrality of the race"}); err != nil {
		return err
	}
	// Open for the longest an offer may stay open; after that the engine's
	// job voids it, and running seed again does not offer it anew.
	d.Offer, _, err = registry.OfferTrade(ctx, l, demoE1, demoKey("offer-e2"), registry.OfferInput{Buyer: demoE2.Org,
		Selection: registry.Selection{Units: "1"}, PricePerUnit: "40.00", TimeoutSeconds: int64(ledger.PendingTimeoutMax / time.Second)})
	return err
}

// demoNotice publishes the batch's public notice. The registry policy's
// notice lasts days (7 by default), and the seed cannot wait for it on a
// real clock, nor date a notice back. So, only while the batch is still a
// draft, the province publishes, through the public policy API, a demo
// policy version without notice from a moment from now, and the previous
// values again a minute later; the notice is published inside that minute.
// Both versions are in the policy history with their reason, and every
// later batch gets the normal notice.
func demoNotice(ctx context.Context, l *ledger.Ledger, id uuid.UUID) error {
	b, err := registry.GetCertification(ctx, l, demoProvince, id)
	if err != nil {
		return err
	}
	if b.State == registry.StateDraft {
		if err := waiveNotice(ctx, l); err != nil {
			return err
		}
	}
	n, _, err := registry.PublishNotice(ctx, l, demoOperator, demoKey("cert-notice"), id)
	if err == nil && n.NoticeEndsAt != nil && l.Now().Before(*n.NoticeEndsAt) {
		return fmt.Errorf("certification %s: its notice runs until %s (the demo's waiver minute had passed); submit it then, "+
			"or reset the database and seed again", id, n.NoticeEndsAt.Format(time.RFC3339))
	}
	return err
}

// waiveNotice publishes the no-notice demo policy version and the
// restoring one, and waits until the first is in force.
func waiveNotice(ctx context.Context, l *ledger.Ledger) error {
	cur, err := registry.CurrentPolicy(ctx, l)
	if err != nil || cur.NoticeDays == 0 {
		return err
	}
	from := l.Now().Add(200 * time.Millisecond).Truncate(time.Millisecond)
	stamp := from.UTC().Format("20060102t150405.000")
	versions := []registry.PolicyInput{
		{ID: "demo-no-notice-" + stamp, ValidFrom: from, NoticeDays: 0,
			Source: "carbonledger seed: demo data only; the public notice is waived for one minute so that the demo batch is issued on the first run"},
		{ID: "demo-restored-" + stamp, ValidFrom: from.Add(time.Minute), NoticeDays: cur.NoticeDays,
			Source: "carbonledger seed: the values of " + cur.ID + " again, after the demo's one-minute notice waiver"},
	}
	for _, v := range versions {
		v.OffsetCapShare, v.TradeTimeoutDefaultSeconds = cur.OffsetCapShare, cur.TradeTimeoutDefaultSeconds
		if _, _, err := registry.PublishPolicy(ctx, l, demoProvince, v.ID, v); err != nil {
			return err
		}
	}
	for deadline := time.Now().Add(5 * time.Second); l.Now().Before(from); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the ledger clock did not reach %s", from.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// demoQuota: Jinan proposes a steel works' closure as a source, the
// province recognises and stockpiles it; E1's kiln is allocated from the
// reserves; E1's glass line waits for the city and E2's coke oven for the
// province; p-zhao proposes a correction that waits for its checker; a
// second closure waits for the province's recognition.
func demoQuota(ctx context.Context, l *ledger.Ledger, d *demoRecords) error {
	src, _, err := quota.ProposeSource(ctx, l, demoCity, demoKey("source"), quota.ProposeSourceInput{City: demoCity.City,
		Enterprise: "jn-steel-works", Route: "closure", Tonnes: "200000", FormedOn: "2023-06-30", EvidenceRef: "JN-EEB-2023-042",
		Reason: "blast furnaces 1 and 2 closed and demolished (demo)"})
	if err != nil {
		return err
	}
	if d.Source, _, err = quota.DecideSource(ctx, l, demoProvince, demoKey("source-approval"), src.ID,
		quota.DecisionInput{Approve: true, Reason: "closure evidence checked (demo)"}); err != nil {
		return err
	}
	if _, _, err = quota.Stockpile(ctx, l, demoProvince, demoKey("stockpile"), quota.StockpileInput{SourceID: src.ID,
		Reason: "收储 demo batch"}); err != nil {
		return err
	}
	if d.Allocated, err = demoApplication(ctx, l, demoE1, "app-kiln", quota.ApplyInput{Project: "E1-KILN-2", Sector: "cement",
		Emissions: "40000", OwnSources: "20000", OwnSourcesRef: "E1-KILN-1-retired", Requested: "40000", Reason: "new clinker kiln (demo)"}, true); err != nil {
		return err
	}
	if d.Allocated, _, err = quota.DecideApplication(ctx, l, demoProvince, demoKey("app-kiln-decision"), d.Allocated.ID, quota.DecideInput{
		Approve: true, Reason: "reallocation approved (demo)",
		Draws: []quota.DrawInput{{Reserve: quota.ReserveProvince, Tonnes: "20000"}, {Reserve: demoCity.City, Tonnes: "20000"}}}); err != nil {
		return err
	}
	if d.AtCity, err = demoApplication(ctx, l, demoE1, "app-glass", quota.ApplyInput{Project: "E1-GLASS-1", Sector: "flat_glass",
		Emissions: "12000", OwnSources: "0", Requested: "18000", Reason: "float glass line (demo)"}, false); err != nil {
		return err
	}
	if d.AtProvince, err = demoApplication(ctx, l, demoE2, "app-coke", quota.ApplyInput{Project: "E2-COKE-1", Sector: "coking",
		Emissions: "10000", OwnSources: "5000", OwnSourcesRef: "E2-COKE-3-retired", Requested: "10000", Reason: "coke oven battery 5 (demo)"}, true); err != nil {
		return err
	}
	d.Correction, _, err = quota.ProposeCorrection(ctx, l, demoMaker, demoKey("correction"), quota.ProposeCorrectionInput{
		SourceID: src.ID, Holder: demoCity.City, Delta: "-5000", Reason: "site survey: furnace 2 was rated 5,000 t lower (demo)"})
	if err != nil {
		return err
	}
	d.Proposed, _, err = quota.ProposeSource(ctx, l, demoCity, demoKey("source-2"), quota.ProposeSourceInput{City: demoCity.City,
		Enterprise: "jn-coking-plant", Route: "production_switch", Tonnes: "60000", FormedOn: "2024-03-31", EvidenceRef: "JN-EEB-2024-007",
		Reason: "coking plant switched to needle coke (demo)"})
	return err
}

// demoApplication submits an application in Jinan and, if reviewed, has
// the city approve it.
func demoApplication(ctx context.Context, l *ledger.Ledger, ent ledger.Actor, name string, in quota.ApplyInput, reviewed bool) (quota.ApplicationDetail, error) {
	in.City = demoCity.City
	app, _, err := quota.Apply(ctx, l, ent, demoKey(name), in)
	if err != nil || !reviewed {
		return app, err
	}
	app, _, err = quota.ReviewApplication(ctx, l, demoCity, demoKey(name+"-review"), app.ID,
		quota.DecisionInput{Approve: true, Reason: "project filed with the Jinan bureau (demo)"})
	return app, err
}
